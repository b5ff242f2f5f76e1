#![doc = include_str!("../README.md")]

mod builder;
mod cleanup;
mod error;
mod id;
mod record;
mod sql;
mod store;
mod touch;

pub use builder::MySqlSessionStoreBuilder;
pub use cleanup::CleanupTask;
pub use error::{BuildError, StoreError};
pub use id::{InvalidHandle, SessionHandle};
pub use record::SessionRecord;
pub use store::MySqlSessionStore;
