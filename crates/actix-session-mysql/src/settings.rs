//! The store's validated options, as the builder hands them over.

use std::time::Duration;

use actix_session::storage::SessionKey;

/// The validated options, as the builder hands them over.
pub(crate) struct Settings {
    pub(crate) table: String,
    pub(crate) touch_interval: Duration,
    pub(crate) cleanup_interval: Duration,
    pub(crate) cleanup_batch_size: u32,
    pub(crate) user_id_key: String,
    pub(crate) ttl_key: String,
    pub(crate) operation_timeout: Duration,
    pub(crate) key_generator: fn() -> SessionKey,
    pub(crate) causal_reads: bool,
    pub(crate) coalesce_loads: bool,
    pub(crate) compact_state: bool,
}
