#![doc = include_str!("../README.md")]

mod batch;
mod builder;
mod cleanup;
mod error;
mod id;
mod record;
pub mod retry;
mod settings;
mod sql;
mod state;
mod store;
mod touch;

#[doc = include_str!("../docs/clustering.md")]
pub mod clustering {}

pub use builder::MySqlSessionStoreBuilder;
pub use cleanup::CleanupTask;
pub use error::{BuildError, StoreError};
pub use id::{InvalidHandle, SessionHandle};
pub use record::SessionRecord;
pub use store::MySqlSessionStore;

/// The state key a session's own TTL is read from, in whole seconds, unless the builder names
/// another ([`ttl_key`](MySqlSessionStoreBuilder::ttl_key)). See
/// [per-session TTLs](crate#per-session-ttls).
pub const TTL_KEY: &str = "actix_session_mysql.ttl";
