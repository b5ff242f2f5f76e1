//! [`MySqlSessionStoreBuilder`]: the store's options, their defaults and their validation.

use std::fmt;
use std::time::Duration;

use actix_session::storage::SessionKey;
use mysql_async::{OptsBuilder, Pool};

use crate::error::BuildError;
use crate::id::generate_key;
use crate::settings::Settings;
use crate::sql::valid_table_name;
use crate::store::MySqlSessionStore;

/// Where the store's pool comes from.
pub(crate) enum Source {
    Pool(Pool),
    Url(String),
}

/// Configures and builds a [`MySqlSessionStore`]. Every option has a sensible default.
///
/// Start with [`MySqlSessionStore::builder`] or [`MySqlSessionStore::builder_from_url`].
#[must_use]
pub struct MySqlSessionStoreBuilder {
    source: Source,
    create_table: bool,
    settings: Settings,
}

impl fmt::Debug for MySqlSessionStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: it is never printed.
        f.debug_struct("MySqlSessionStoreBuilder")
            .field("table", &self.settings.table)
            .field("create_table", &self.create_table)
            .finish_non_exhaustive()
    }
}

impl MySqlSessionStoreBuilder {
    pub(crate) fn new(source: Source) -> Self {
        Self {
            source,
            create_table: true,
            settings: Settings {
                table: "sessions".to_owned(),
                touch_interval: Duration::from_secs(60),
                cleanup_interval: Duration::from_secs(15 * 60),
                cleanup_batch_size: 1_000,
                user_id_key: "actix_identity.user_id".to_owned(),
                ttl_key: crate::TTL_KEY.to_owned(),
                operation_timeout: Duration::from_secs(3),
                key_generator: generate_key,
                causal_reads: true,
                coalesce_loads: true,
                compact_state: false,
            },
        }
    }

    /// The table's name (default `sessions`): 1–64 ASCII letters, digits or underscores, not
    /// starting with a digit. Anything else is refused by [`build`](Self::build).
    pub fn table_name(mut self, name: impl Into<String>) -> Self {
        self.settings.table = name.into();
        self
    }

    /// Create the table on [`build`](Self::build) if it is missing (default `true`).
    pub fn create_table_if_missing(mut self, create: bool) -> Self {
        self.create_table = create;
        self
    }

    /// Write a session's new expiry at most this often (default 60 s). Sliding expiry then
    /// costs one write per session per interval, not one per request; the idle timeout is
    /// honoured to within this interval. For a session whose TTL is less than twice the
    /// interval, half the TTL is used instead, so a session in use never expires.
    pub fn touch_interval(mut self, interval: Duration) -> Self {
        self.settings.touch_interval = interval;
        self
    }

    /// How often the [cleanup task](crate::CleanupTask) deletes expired rows (default 15 min).
    pub fn cleanup_interval(mut self, interval: Duration) -> Self {
        self.settings.cleanup_interval = interval;
        self
    }

    /// How many expired rows one cleanup statement deletes (default 1000).
    pub fn cleanup_batch_size(mut self, size: u32) -> Self {
        self.settings.cleanup_batch_size = size;
        self
    }

    /// The state key whose value is the user id (default `actix_identity.user_id`, where
    /// actix-identity keeps it).
    pub fn user_id_key(mut self, key: impl Into<String>) -> Self {
        self.settings.user_id_key = key.into();
        self
    }

    /// The state key whose value, a whole number of seconds, is a session's own TTL (default
    /// [`TTL_KEY`](crate::TTL_KEY)). A session whose state has it lives that long after each
    /// write and touch, whatever TTL actix-session passes; one without it gets actix-session's.
    /// See [per-session TTLs](crate#per-session-ttls).
    pub fn ttl_key(mut self, key: impl Into<String>) -> Self {
        self.settings.ttl_key = key.into();
        self
    }

    /// The longest any one operation may take, waiting for a pooled connection included
    /// (default 3 s). Past it the operation fails with [`StoreError::Timeout`].
    ///
    /// [`StoreError::Timeout`]: crate::StoreError::Timeout
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.settings.operation_timeout = timeout;
        self
    }

    /// On a Galera cluster, make session reads wait until the node has applied every write
    /// the cluster committed before (`wsrep_sync_wait`), so that a session signed in, changed
    /// or revoked through one node is seen as such through every other at once (default
    /// `true`). Detected on the first read; elsewhere this changes nothing. See the
    /// [clustering guide](crate::clustering) for what it costs.
    pub fn causal_reads(mut self, on: bool) -> Self {
        self.settings.causal_reads = on;
        self
    }

    /// Let the loads one worker is asked for at the same moment share one statement (default
    /// `true`). Under load that saves round trips, server threads' wake-ups and statements;
    /// each request still reads only its own row, as fresh as its own statement would have
    /// read it. A lone request costs one extra pass through the scheduler. See
    /// [`MySqlSessionStore`](crate::MySqlSessionStore#implementation-notes).
    pub fn coalesce_loads(mut self, on: bool) -> Self {
        self.settings.coalesce_loads = on;
        self
    }

    /// Write session rows in the compact state format (format 2: each value embedded as the
    /// JSON it is, read in one pass without undoing escapes) instead of the first format
    /// (default `false`). Both formats are always **read**; only this switch decides what is
    /// written. A build without format-2 support reads a format-2 row as corrupt state (a new,
    /// empty session: every member signed out), so turn it on only once every instance that
    /// shares the table runs a version that reads it, and not in a release you may have to
    /// roll back past. See `docs/performance.md` in the repository for what it saves.
    pub fn compact_state(mut self, on: bool) -> Self {
        self.settings.compact_state = on;
        self
    }

    /// Replace the key generator. Only for tests that need to force a key collision.
    #[doc(hidden)]
    pub fn key_generator_for_tests(mut self, generator: fn() -> SessionKey) -> Self {
        self.settings.key_generator = generator;
        self
    }

    /// Validate the options, open the pool (for a URL) and, unless turned off, create the
    /// table if it is missing (and add the `ttl_seconds` column to a table created before it
    /// existed).
    pub async fn build(self) -> Result<MySqlSessionStore, BuildError> {
        let settings = self.settings;
        if !valid_table_name(&settings.table) {
            return Err(BuildError::InvalidTableName(settings.table));
        }
        if settings.touch_interval.is_zero() {
            // Zero would mean a write per request, which is what the store exists to avoid.
            return Err(BuildError::Zero("touch_interval"));
        }
        if settings.cleanup_interval.is_zero() {
            return Err(BuildError::Zero("cleanup_interval"));
        }
        if settings.cleanup_batch_size == 0 {
            return Err(BuildError::Zero("cleanup_batch_size"));
        }
        if settings.operation_timeout.is_zero() {
            return Err(BuildError::Zero("operation_timeout"));
        }
        let pool = match self.source {
            Source::Pool(pool) => pool,
            Source::Url(url) => {
                let opts = mysql_async::Opts::from_url(&url).map_err(BuildError::InvalidUrl)?;
                // Matched-rows counts whatever the URL says (see `MySqlSessionStore::update`).
                Pool::new(OptsBuilder::from_opts(opts).client_found_rows(true))
            }
        };
        let store = MySqlSessionStore::new(pool, settings);
        if self.create_table {
            store
                .create_table()
                .await
                .map_err(BuildError::CreateTable)?;
        }
        Ok(store)
    }
}

impl MySqlSessionStore {
    /// Start building a store on an existing pool.
    ///
    /// The pool must belong to the tokio runtime the store is used on: give each actix-web
    /// worker its own (see [`MySqlSessionStore::with_pool`]).
    pub fn builder(pool: Pool) -> MySqlSessionStoreBuilder {
        MySqlSessionStoreBuilder::new(Source::Pool(pool))
    }

    /// Start building a store that opens its own pool from a `mysql://` URL.
    pub fn builder_from_url(url: impl Into<String>) -> MySqlSessionStoreBuilder {
        MySqlSessionStoreBuilder::new(Source::Url(url.into()))
    }
}
