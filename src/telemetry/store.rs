//! [`TimedStore`]: the session store the session middleware uses, each operation timed.

use std::collections::HashMap;
use std::time::Instant;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_session_mysql::MySqlSessionStore;

use super::{Metrics, StoreOp};

/// The session store the session middleware uses: the MySQL store, each operation timed.
#[derive(Clone)]
pub struct TimedStore {
    store: MySqlSessionStore,
    metrics: Metrics,
}

impl std::fmt::Debug for TimedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TimedStore").field(&self.store).finish()
    }
}

impl TimedStore {
    /// `store`, timed into `metrics`.
    pub fn new(store: MySqlSessionStore, metrics: Metrics) -> Self {
        Self { store, metrics }
    }

    async fn timed<T>(&self, op: StoreOp, work: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let outcome = work.await;
        self.metrics.store_op(op, started.elapsed());
        outcome
    }
}

impl SessionStore for TimedStore {
    async fn load(
        &self,
        session_key: &SessionKey,
    ) -> Result<Option<HashMap<String, String>>, LoadError> {
        self.timed(StoreOp::Load, self.store.load(session_key))
            .await
    }

    async fn save(
        &self,
        session_state: HashMap<String, String>,
        ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, SaveError> {
        self.timed(StoreOp::Save, self.store.save(session_state, ttl))
            .await
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: HashMap<String, String>,
        ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        self.timed(
            StoreOp::Update,
            self.store.update(session_key, session_state, ttl),
        )
        .await
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &actix_web::cookie::time::Duration,
    ) -> anyhow::Result<()> {
        self.timed(StoreOp::Touch, self.store.update_ttl(session_key, ttl))
            .await
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        self.timed(StoreOp::Delete, self.store.delete(session_key))
            .await
    }
}
