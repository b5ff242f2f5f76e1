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
