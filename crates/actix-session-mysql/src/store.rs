//! [`MySqlSessionStore`]: the `SessionStore` implementation and the per-user operations an
//! application needs for "your devices" pages.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool, Row, Transaction};
use tokio::sync::oneshot;

use crate::batch::{self, LoadQueue, LoadedRow, Reply, BATCH_SIZES};
use crate::error::StoreError;
use crate::id::{SessionHandle, SessionId};
use crate::record::SessionRecord;
use crate::retry::{self, not_committed, Replay};
use crate::settings::Settings;
use crate::sql::{take, Queries, ER_DUP_FIELDNAME, USER_ID_MAX};
use crate::state;
use crate::touch::TouchCache;

/// How many fresh keys `save` tries when the database reports a duplicate.
const SAVE_ATTEMPTS: usize = 4;

/// How long a causal session read on Galera may wait for the cluster (see `load_state`).
const CAUSAL_WAIT: Duration = Duration::from_millis(500);

/// How many batches of one purge may lose a write conflict (to another instance purging the
/// same rows through another cluster node) before the purge gives up until its next run.
const MAX_PURGE_CONFLICTS: u32 = 100;

/// A session store for [actix-session](actix_session) that keeps sessions in a MySQL or
/// MariaDB table.
///
/// Build it with [`MySqlSessionStore::builder`] (from a [`Pool`]) or
/// [`MySqlSessionStore::builder_from_url`]. Cloning is cheap and shares everything, including
/// the pool; [`MySqlSessionStore::with_pool`] shares everything *but* the pool, which is how
/// each actix-web worker gets a pool on its own runtime.
///
/// # Implementation notes
/// - The row id is `SHA-256(key)`; the key itself is never written to the database or a log.
/// - Every statement computes time with `UTC_TIMESTAMP(6)` on the server, so the server's or
///   connection's `time_zone` does not matter and app clocks need not agree.
/// - `load` checks expiry in SQL: an expired row is dead before cleanup removes it.
/// - Loads asked for at the same moment on one pool share one `SELECT … WHERE id IN (…)` and
///   each get their own row (see [coalesce loads]); a lone load is a batch of one.
/// - `update_ttl` writes at most once per [touch interval] per session; see the crate docs.
/// - Every operation is bounded by the [operation timeout]: an unreachable database yields an
///   error value within that time, never a hang and never a panic.
///
/// # Limitations
/// As with every store behind actix-session's `SessionStore` trait, concurrent requests of one
/// session each write their whole state: the last write wins.
///
/// [touch interval]: crate::MySqlSessionStoreBuilder::touch_interval
/// [operation timeout]: crate::MySqlSessionStoreBuilder::operation_timeout
/// [coalesce loads]: crate::MySqlSessionStoreBuilder::coalesce_loads
#[derive(Clone)]
pub struct MySqlSessionStore {
    pool: Pool,
    /// Loads waiting for a statement: one queue per pool, as each worker has its own.
    loads: Arc<LoadQueue>,
    inner: Arc<Inner>,
}

/// What every clone of the store and every [`MySqlSessionStore::with_pool`] sibling shares.
struct Inner {
    settings: Settings,
    queries: Queries,
    touch: TouchCache,
    /// Whether the database is a Galera cluster, found out on the first load.
    galera: tokio::sync::OnceCell<bool>,
}

impl fmt::Debug for MySqlSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.inner.settings;
        f.debug_struct("MySqlSessionStore")
            .field("table", &s.table)
            .field("touch_interval", &s.touch_interval)
            .field("cleanup_interval", &s.cleanup_interval)
            .field("cleanup_batch_size", &s.cleanup_batch_size)
            .field("user_id_key", &s.user_id_key)
            .field("operation_timeout", &s.operation_timeout)
            .finish_non_exhaustive()
    }
}

impl MySqlSessionStore {
    /// `settings` must have been validated by the builder.
    pub(crate) fn new(pool: Pool, settings: Settings) -> Self {
        Self {
            pool,
            loads: Arc::default(),
            inner: Arc::new(Inner {
                queries: Queries::new(&settings.table),
                settings,
                touch: TouchCache::default(),
                galera: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// The same store (table, options, touch cache) on another pool — typically one created
    /// inside an actix-web worker, since `mysql_async` pools must not cross tokio runtimes.
    #[must_use]
    pub fn with_pool(&self, pool: Pool) -> Self {
        Self {
            pool,
            loads: Arc::default(),
            inner: Arc::clone(&self.inner),
        }
    }

    /// The pool this store uses.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.inner.settings.table
    }

    pub(crate) fn cleanup_interval(&self) -> Duration {
        self.inner.settings.cleanup_interval
    }

    /// Create the session table if it does not exist, and add the `ttl_seconds` column to a
    /// table created before it existed (per-session TTLs). [`MySqlSessionStoreBuilder::build`](crate::MySqlSessionStoreBuilder::build) does
    /// this unless told not to; call it yourself from a migration command if you turned it off.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        const OP: &str = "create_table";
        let queries = &self.inner.queries;
        let table = self.table_name();
        self.run(OP, Replay::Idempotent, |mut conn| async move {
            conn.query_drop(&queries.create_table).await?;
            let present: Option<u64> = conn.exec_first(&queries.has_ttl_column, (table,)).await?;
            if present == Some(0) {
                match conn.query_drop(&queries.add_ttl_column).await {
                    Err(mysql_async::Error::Server(e)) if e.code == ER_DUP_FIELDNAME => {}
                    done => done?,
                }
                tracing::info!(table, "added the ttl_seconds column (per-session TTLs)");
            }
            Ok(())
        })
        .await
    }

    /// Delete expired rows in batches of the configured size until none is left; returns how
    /// many were deleted. The [cleanup task](crate::CleanupTask) calls this periodically.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let batch = self.inner.settings.cleanup_batch_size;
        let mut total = 0;
        let mut conflicts = 0;
        loop {
            let deleted = self
                .delete_where(
                    "purge_expired",
                    &self.inner.queries.delete_expired,
                    (batch,),
                )
                .await;
            match deleted {
                Ok(deleted) => {
                    total += deleted;
                    if deleted < u64::from(batch) {
                        return Ok(total);
                    }
                }
                // Instances purging through different cluster nodes pick the same oldest rows
                // and keep colliding: whoever lost leaves them to the winner and goes on.
                Err(StoreError::Database { ref source, .. })
                    if not_committed(source) && conflicts < MAX_PURGE_CONFLICTS =>
                {
                    conflicts += 1;
                }
                Err(e) => return Err(e),
            }
            // Let other tasks (and other instances' batches) in between batches.
            tokio::task::yield_now().await;
        }
    }

    /// How many sessions are live (not expired), of every user and anonymous ones; for a
    /// gauge sampled now and then. A range scan of the `expires_at` index: its cost grows
    /// with the table, so do not call it per request.
    pub async fn count_live_sessions(&self) -> Result<u64, StoreError> {
        let sql = &self.inner.queries.count_live;
        let count: Option<u64> = self
            .run(
                "count_live_sessions",
                Replay::Idempotent,
                |mut conn| async move { conn.query_first(sql).await },
            )
            .await?;
        Ok(count.unwrap_or(0))
    }

    /// The live sessions of `user_id`, most recently seen first.
    pub async fn list_user_sessions(
        &self,
        user_id: &str,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = &self.inner.queries.list_user;
        let rows: Vec<Row> = self
            .run(
                "list_user_sessions",
                Replay::Idempotent,
                |mut conn| async move { conn.exec(sql, (user_id,)).await },
            )
            .await?;
        rows.into_iter().map(SessionRecord::from_row).collect()
    }

    /// Revoke one of `user_id`'s sessions. Returns `false` if no such session belongs to
    /// `user_id` — a handle of someone else's session changes nothing.
    pub async fn revoke_session(
        &self,
        user_id: &str,
        handle: &SessionHandle,
    ) -> Result<bool, StoreError> {
        let id = handle.0;
        let deleted = self
            .delete_where(
                "revoke_session",
                &self.inner.queries.revoke_one,
                (user_id, &id.as_bytes()[..]),
            )
            .await?;
        self.inner.touch.forget(&id);
        Ok(deleted > 0)
    }

    /// Revoke every session of `user_id` except the one named by `keep` ("sign out other
    /// devices"). Returns how many were revoked.
    pub async fn revoke_other_sessions(
        &self,
        user_id: &str,
        keep: &SessionKey,
    ) -> Result<u64, StoreError> {
        let keep = SessionId::of(keep);
        self.delete_where(
            "revoke_other_sessions",
            &self.inner.queries.revoke_others,
            (user_id, &keep.as_bytes()[..]),
        )
        .await
    }

    /// Revoke every session of `user_id`. Returns how many were revoked.
    pub async fn revoke_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        self.delete_where(
            "revoke_user_sessions",
            &self.inner.queries.revoke_all,
            (user_id,),
        )
        .await
    }

    /// Keep at most `keep` sessions of `user_id` — the live ones, those created within the
    /// last [touch interval] first, then the most recently seen — and delete the rest
    /// (expired rows of the user included). Returns how many were deleted.
    ///
    /// This is the building block of a cap on sessions per user: call it with the cap right
    /// after a sign-in's row is saved, and parallel sign-ins end with exactly the cap (the last
    /// to trim sees every row). "Recently seen" is as precise as the touch interval, since a
    /// row's `last_seen_at` moves at most once per interval; within one, creation is the
    /// sharper signal. So a session created a moment ago always outlives older ones, even one
    /// touched since: two sign-ins at once never end each other in favour of an older device.
    ///
    /// [touch interval]: crate::MySqlSessionStoreBuilder::touch_interval
    pub async fn trim_user_sessions(&self, user_id: &str, keep: u64) -> Result<u64, StoreError> {
        // At most a day whatever the interval, so the server's date arithmetic stays in range.
        let recent = self
            .inner
            .settings
            .touch_interval
            .min(Duration::from_secs(86_400))
            .as_micros();
        let recent = u64::try_from(recent).unwrap_or(86_400_000_000);
        self.delete_where(
            "trim_user_sessions",
            &self.inner.queries.trim_user,
            (user_id, recent, keep),
        )
        .await
    }

    /// [`revoke_session`](Self::revoke_session) inside the caller's transaction, so the
    /// revocation commits or rolls back with the caller's own statements (e.g. an audit row).
    /// The caller bounds the transaction's time.
    pub async fn revoke_session_in(
        &self,
        tx: &mut Transaction<'_>,
        user_id: &str,
        handle: &SessionHandle,
    ) -> Result<bool, StoreError> {
        let id = handle.0;
        tx.exec_drop(
            &self.inner.queries.revoke_one,
            (user_id, &id.as_bytes()[..]),
        )
        .await
        .map_err(StoreError::db("revoke_session_in"))?;
        self.inner.touch.forget(&id);
        Ok(tx.affected_rows() > 0)
    }

    /// Revoke every session of `user_id` but `keep`, if given, inside the caller's
    /// transaction: e.g. a password change, whose new hash must not commit without the old
    /// sessions gone, nor the other way round. Returns how many were revoked. The caller bounds
    /// the transaction's time.
    pub async fn revoke_user_sessions_in(
        &self,
        tx: &mut Transaction<'_>,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        const OP: &str = "revoke_user_sessions_in";
        let done = match keep {
            Some(keep) => {
                let keep = SessionId::of(keep);
                tx.exec_drop(
                    &self.inner.queries.revoke_others,
                    (user_id, &keep.as_bytes()[..]),
                )
                .await
            }
            None => {
                tx.exec_drop(&self.inner.queries.revoke_all, (user_id,))
                    .await
            }
        };
        done.map_err(StoreError::db(OP))?;
        Ok(tx.affected_rows())
    }

    /// Run a `DELETE`; returns how many rows it deleted.
    async fn delete_where<P>(
        &self,
        op: &'static str,
        sql: &str,
        params: P,
    ) -> Result<u64, StoreError>
    where
        P: Into<mysql_async::Params> + Send,
    {
        // Deleting by key (or whatever has expired) twice deletes nothing more.
        let params = &params.into();
        self.run(op, Replay::Idempotent, |mut conn| async move {
            conn.exec_drop(sql, params.clone()).await?;
            Ok(conn.affected_rows())
        })
        .await
    }

    /// Run `statement` on a pooled connection, again after a failure that
    /// [`retry::Attempts::again_after`] allows for `replay` (a certification conflict, a broken
    /// connection). Waiting for connections and every attempt share one [operation timeout],
    /// so a database that does not answer costs a bounded wait, not a hung request; every
    /// error names `op`.
    ///
    /// [operation timeout]: crate::MySqlSessionStoreBuilder::operation_timeout
    ///
    /// `statement` gets the connection by value (and returns it to the pool by dropping it):
    /// a closure borrowing it would make the futures of a spawned cleanup task not `Send`.
    async fn run<T, Fut>(
        &self,
        op: &'static str,
        replay: Replay,
        statement: impl Fn(Conn) -> Fut,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, mysql_async::Error>>,
    {
        let after = self.inner.settings.operation_timeout;
        match tokio::time::timeout(after, retry::run(&self.pool, op, replay, statement)).await {
            Ok(done) => done.map_err(StoreError::db(op)),
            Err(_) => Err(StoreError::Timeout { op, after }),
        }
    }

    /// Whether session reads wait for the cluster ("causal reads"): on a Galera cluster,
    /// unless turned off. Found out once, on the first read.
    async fn causal(&self) -> Result<bool, StoreError> {
        if !self.inner.settings.causal_reads {
            return Ok(false);
        }
        self.inner
            .galera
            .get_or_try_init(|| async {
                // `SHOW VARIABLES` works on MySQL (no row) and MariaDB (`OFF` without wsrep).
                let row: Option<(String, String)> = self
                    .run("detect_galera", Replay::Idempotent, |mut conn| async move {
                        conn.query_first("SHOW VARIABLES LIKE 'wsrep_on'").await
                    })
                    .await?;
                let galera = row.is_some_and(|(_, on)| on.eq_ignore_ascii_case("ON"));
                if galera {
                    tracing::info!("Galera cluster detected: session reads wait for the cluster");
                }
                Ok(galera)
            })
            .await
            .copied()
    }

    /// The user id lifted out of the state into the indexed `user_id` column.
    fn user_id_of(&self, state: &HashMap<String, String>) -> Result<Option<String>, StoreError> {
        let Some(raw) = state.get(&self.inner.settings.user_id_key) else {
            return Ok(None);
        };
        // actix-session keeps each value JSON-encoded; the column holds the plain id.
        let plain = serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.clone());
        if plain.len() > USER_ID_MAX {
            return Err(StoreError::UserIdTooLong { max: USER_ID_MAX });
        }
        Ok(Some(plain))
    }

    /// The session's own TTL in `state` (the builder's `ttl_key`), in whole seconds within the
    /// bounds of [`ttl_seconds`]; `None` when absent or not a number.
    fn own_ttl_of(&self, state: &HashMap<String, String>) -> Option<i64> {
        let raw = state.get(&self.inner.settings.ttl_key)?;
        match serde_json::from_str::<i64>(raw) {
            Ok(secs) => Some(secs.clamp(1, MAX_TTL_SECONDS)),
            Err(_) => {
                tracing::debug!("the session's TTL key does not hold whole seconds: ignored");
                None
            }
        }
    }

    async fn load_state(&self, key: &SessionKey) -> Result<Option<Vec<u8>>, StoreError> {
        let id = SessionId::of(key);
        let row = if self.inner.settings.coalesce_loads {
            let (reply, answer) = oneshot::channel();
            if self.loads.push(id, reply) {
                let store = self.clone();
                tokio::spawn(async move { store.send_queued_loads().await });
            }
            // No answer means the task was dropped with its runtime: the pool is going away.
            answer.await.unwrap_or_else(|_| {
                Err(StoreError::db("load")(mysql_async::Error::Driver(
                    mysql_async::DriverError::PoolDisconnected,
                )))
            })?
        } else {
            self.load_rows(&[id]).await?.remove(&id)
        };
        let Some(LoadedRow { data, age_us, ttl }) = row else {
            return Ok(None);
        };
        let age = Duration::from_micros(age_us.max(0).unsigned_abs());
        self.inner
            .touch
            .loaded(id, age, ttl, self.inner.settings.touch_interval);
        // Invalid UTF-8 is corrupt state, like invalid JSON: `state::decode` refuses both.
        Ok(Some(data))
    }

    /// Send the loads queued on this worker (see [`crate::batch`]) until none is left.
    /// Spawned by the first load queued while no sender runs, it runs after the requests
    /// already woken in that pass, which queue theirs meanwhile; loads queued while its
    /// statement is in flight go out as its next batch.
    async fn send_queued_loads(self) {
        /// Unless the queue ran dry, the sender was dropped or panicked: fail what waits.
        struct Turn<'a>(&'a LoadQueue, bool);
        impl Drop for Turn<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.abandon();
                }
            }
        }
        let mut turn = Turn(&self.loads, false);
        while let Some(mut batches) = self.loads.next() {
            let first = batches.pop();
            // Past the first, each batch on a connection (and a task) of its own.
            let others: Vec<_> = batches
                .into_iter()
                .map(|batch| {
                    let store = self.clone();
                    tokio::spawn(async move { store.answer(batch).await })
                })
                .collect();
            if let Some(first) = first {
                self.answer(first).await;
            }
            for other in others {
                // A batch's task answers its own loads, also when it fails.
                other.await.ok();
            }
            // Let the requests woken in this pass (and those the answers woke) queue theirs.
            tokio::task::yield_now().await;
        }
        turn.1 = true;
    }

    async fn answer(&self, batch: Vec<(SessionId, Reply)>) {
        let ids: Vec<SessionId> = batch.iter().map(|(id, _)| *id).collect();
        match self.load_rows(&ids).await {
            // Two requests of one session may share a batch: each gets the row.
            Ok(rows) => batch.into_iter().for_each(|(id, reply)| {
                reply.send(Ok(rows.get(&id).cloned())).ok();
            }),
            Err(error) => batch.into_iter().for_each(|(_, reply)| {
                reply.send(Err(error.replicate())).ok();
            }),
        }
    }

    /// The live rows among `ids` (at most [`batch::BATCH_MAX`]).
    ///
    /// On Galera another node may have committed one of these sessions a moment ago (a
    /// sign-in, a revocation) without this node having applied it yet: the read waits until it
    /// has. While a dead node is being evicted the cluster commits nothing and that wait stalls
    /// for seconds. Then live rows read locally are used (what could change them now has to
    /// wait for the cluster too); a missing one may be a sign-in this node has not received
    /// yet, so for those the read waits for the cluster after all.
    async fn load_rows(
        &self,
        ids: &[SessionId],
    ) -> Result<HashMap<SessionId, LoadedRow>, StoreError> {
        if !self.causal().await? {
            return self.select_rows(&self.inner.queries.load, ids).await;
        }
        let causal = &self.inner.queries.load_causal;
        if let Ok(rows) = tokio::time::timeout(CAUSAL_WAIT, self.select_rows(causal, ids)).await {
            return rows;
        }
        let mut rows = self.select_rows(&self.inner.queries.load, ids).await?;
        let missing: Vec<SessionId> = ids
            .iter()
            .filter(|id| !rows.contains_key(id))
            .copied()
            .collect();
        if !missing.is_empty() {
            rows.extend(self.select_rows(causal, &missing).await?);
        }
        Ok(rows)
    }

    /// One `SELECT` of the live rows among `ids`, with the statement of `variant` that fits.
    async fn select_rows(
        &self,
        variant: &[String; BATCH_SIZES.len()],
        ids: &[SessionId],
    ) -> Result<HashMap<SessionId, LoadedRow>, StoreError> {
        const OP: &str = "load";
        let (class, params) = batch::padded(ids);
        let (sql, params) = (&variant[class], &mysql_async::Params::Positional(params));
        let rows: Vec<Row> = self
            .run(OP, Replay::Idempotent, |mut conn| async move {
                conn.exec(sql, params.clone()).await
            })
            .await?;
        rows.into_iter()
            .map(|mut row| {
                let id: Vec<u8> = take(&mut row, 0, OP, "id")?;
                let id = SessionId::from_slice(&id).ok_or(StoreError::Decode {
                    op: OP,
                    column: "id",
                })?;
                let data = take(&mut row, 1, OP, "data")?;
                let age_us = take(&mut row, 2, OP, "last_seen_at")?;
                let ttl = take::<Option<i64>>(&mut row, 3, OP, "ttl_seconds")?;
                Ok((id, LoadedRow { data, age_us, ttl }))
            })
            .collect()
    }

    async fn insert(
        &self,
        state: &HashMap<String, String>,
        ttl: i64,
    ) -> Result<SessionKey, StoreError> {
        let user_id = self.user_id_of(state)?;
        let own_ttl = self.own_ttl_of(state);
        let ttl = own_ttl.unwrap_or(ttl);
        let data = state::encode(state, self.inner.settings.compact_state)
            .map_err(StoreError::Serialize)?;
        let sql = &self.inner.queries.insert;
        let (user_id, data) = (&user_id, &data);
        for attempt in 1..=SAVE_ATTEMPTS {
            let key = (self.inner.settings.key_generator)();
            let id = SessionId::of(&key);
            let inserted = self
                // Not repeated after a broken connection: it may have committed.
                .run("save", Replay::NotTwice, |mut conn| async move {
                    conn.exec_drop(sql, (&id.as_bytes()[..], user_id, data, ttl, own_ttl))
                        .await
                })
                .await;
            match inserted {
                Ok(()) => return Ok(key),
                Err(StoreError::Database {
                    source: mysql_async::Error::Server(ref e),
                    ..
                }) if e.code == ER_DUP_ENTRY => {
                    tracing::warn!(attempt, session = %id.short(), "session key collision, drawing a new key");
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::KeySpaceExhausted {
            attempts: SAVE_ATTEMPTS,
        })
    }

    async fn update_row(
        &self,
        key: &SessionKey,
        state: &HashMap<String, String>,
        ttl: i64,
    ) -> Result<(), StoreError> {
        let id = SessionId::of(key);
        let user_id = self.user_id_of(state)?;
        let own_ttl = self.own_ttl_of(state);
        let ttl = own_ttl.unwrap_or(ttl);
        let data = state::encode(state, self.inner.settings.compact_state)
            .map_err(StoreError::Serialize)?;
        let sql = &self.inner.queries.update;
        let (user_id, data) = (&user_id, &data);
        let (matched, counts_matched) = self
            // Setting the same state twice is setting it once; a row deleted in between stays
            // deleted (the statement matches only a live row).
            .run("update", Replay::Idempotent, |mut conn| async move {
                conn.exec_drop(sql, (user_id, data, own_ttl, ttl, &id.as_bytes()[..]))
                    .await?;
                Ok((conn.affected_rows(), conn.opts().client_found_rows()))
            })
            .await?;
        self.inner.touch.touched(id, own_ttl);
        // Without CLIENT_FOUND_ROWS the count is of *changed* rows, and 0 could mean "same
        // values"; only a matched-rows count proves the row is gone. (The statement always
        // moves `last_seen_at`, so this is about honesty, not about correctness.)
        if counts_matched && matched == 0 {
            tracing::debug!(session = %id.short(), "update of a dead session: not resurrected");
        }
        Ok(())
    }

    /// Push the expiry of `key`'s session forward by its own TTL, or by `ttl` (actix-session's)
    /// when it has none: the statement picks, so a TTL of its own is kept whichever instance
    /// touches it.
    async fn touch(&self, key: &SessionKey, ttl: i64) -> Result<(), StoreError> {
        let id = SessionId::of(key);
        let own_ttl = self.inner.touch.ttl_of(&id);
        let interval =
            touch_interval_for(self.inner.settings.touch_interval, own_ttl.unwrap_or(ttl));
        if self.inner.touch.is_fresh(&id, interval) {
            return Ok(());
        }
        let interval_us = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
        let sql = &self.inner.queries.touch;
        // Pushing the expiry forward twice is pushing it forward once.
        self.run("update_ttl", Replay::Idempotent, |mut conn| async move {
            conn.exec_drop(sql, (ttl, &id.as_bytes()[..], interval_us))
                .await
        })
        .await?;
        self.inner.touch.touched(id, own_ttl);
        Ok(())
    }

    async fn delete_row(&self, key: &SessionKey) -> Result<(), StoreError> {
        let id = SessionId::of(key);
        self.inner.touch.forget(&id);
        self.delete_where("delete", &self.inner.queries.delete, (&id.as_bytes()[..],))
            .await
            .map(drop)
    }
}

/// MySQL's and MariaDB's "Duplicate entry for key" error.
const ER_DUP_ENTRY: u16 = 1062;

/// The longest TTL stored: `DATETIME` ends at 9999-12-31, and past it `UTC_TIMESTAMP(6) +
/// INTERVAL ttl SECOND` is `NULL`, which would make every save fail.
const MAX_TTL_SECONDS: i64 = 100 * 366 * 24 * 60 * 60;

/// Whole seconds of a TTL, at least one (a zero or negative TTL would create dead rows) and at
/// most a century.
fn ttl_seconds(ttl: &time::Duration) -> i64 {
    ttl.whole_seconds().clamp(1, MAX_TTL_SECONDS)
}

/// The touch interval used for a session of `ttl_secs`: the configured one, but never more
/// than half the TTL. Otherwise a session whose TTL is shorter than the interval would expire
/// while in use, its touches all skipped.
fn touch_interval_for(configured: Duration, ttl_secs: i64) -> Duration {
    let half_ttl = Duration::from_millis(ttl_secs.unsigned_abs().saturating_mul(500));
    configured.min(half_ttl)
}

impl SessionStore for MySqlSessionStore {
    async fn load(
        &self,
        session_key: &SessionKey,
    ) -> Result<Option<HashMap<String, String>>, LoadError> {
        let Some(data) = self
            .load_state(session_key)
            .await
            .map_err(|e| LoadError::Other(e.into()))?
        else {
            return Ok(None);
        };
        state::decode(&data)
            .map(Some)
            .map_err(|e| LoadError::Deserialization(e.into()))
    }

    async fn save(
        &self,
        session_state: HashMap<String, String>,
        ttl: &time::Duration,
    ) -> Result<SessionKey, SaveError> {
        self.insert(&session_state, ttl_seconds(ttl))
            .await
            .map_err(|e| match e {
                StoreError::Serialize(_) => SaveError::Serialization(e.into()),
                e => SaveError::Other(e.into()),
            })
    }

    /// Writes the new state if the session is still alive and returns the same key.
    ///
    /// If the row is gone — signed out, revoked, expired — nothing is written: the state is
    /// **not** saved under a fresh key, as some stores do, because that would resurrect a
    /// session that was deliberately ended (a revoked device would be signed back in by its
    /// next request). The unchanged key is returned, so the client keeps a cookie that names
    /// nothing and its next request is anonymous.
    async fn update(
        &self,
        session_key: SessionKey,
        session_state: HashMap<String, String>,
        ttl: &time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        self.update_row(&session_key, &session_state, ttl_seconds(ttl))
            .await
            .map_err(|e| match e {
                StoreError::Serialize(_) => UpdateError::Serialization(e.into()),
                e => UpdateError::Other(e.into()),
            })?;
        Ok(session_key)
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &time::Duration,
    ) -> anyhow::Result<()> {
        Ok(self.touch(session_key, ttl_seconds(ttl)).await?)
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        Ok(self.delete_row(session_key).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_clamped_to_what_a_datetime_can_hold() {
        assert_eq!(ttl_seconds(&time::Duration::ZERO), 1);
        assert_eq!(ttl_seconds(&time::Duration::seconds(-5)), 1);
        assert_eq!(ttl_seconds(&time::Duration::minutes(30)), 1800);
        assert_eq!(ttl_seconds(&time::Duration::MAX), MAX_TTL_SECONDS);
    }

    #[test]
    fn touch_interval_is_at_most_half_the_ttl() {
        let minute = Duration::from_secs(60);
        assert_eq!(touch_interval_for(minute, 1800), minute);
        assert_eq!(touch_interval_for(minute, 120), minute);
        assert_eq!(touch_interval_for(minute, 30), Duration::from_secs(15));
        assert_eq!(touch_interval_for(minute, 1), Duration::from_millis(500));
    }
}
