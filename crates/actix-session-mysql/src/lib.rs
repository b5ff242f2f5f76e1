#![doc = include_str!("../README.md")]

mod cleanup;
mod error;
mod id;
mod retry;
mod sql;
mod store;
mod touch;

#[doc = include_str!("../docs/clustering.md")]
pub mod clustering {}

pub use cleanup::CleanupTask;
pub use error::{BuildError, StoreError};
pub use id::{InvalidHandle, SessionHandle};
pub use store::{MySqlSessionStore, MySqlSessionStoreBuilder, SessionRecord};
