#![doc = include_str!("../README.md")]

mod cleanup;
mod error;
mod id;
mod sql;
mod store;
mod touch;

pub use cleanup::CleanupTask;
pub use error::{BuildError, StoreError};
pub use id::{InvalidHandle, SessionHandle};
pub use store::{MySqlSessionStore, MySqlSessionStoreBuilder, SessionRecord};
