//! [`AppState`]: what every handler of a worker shares.

use std::time::Duration;

use actix_session_mysql::MySqlSessionStore;
use actix_web::cookie::Key;
use mysql_async::Pool;

use crate::domain::{Hasher, PasswordPolicy};
use crate::telemetry::Metrics;
use crate::web::credentials::AccountGate;
use crate::web::ip_limit::SignInIpLimit;

/// What handlers share. One per worker: `pool` and `store` belong to the worker's runtime
/// (`mysql_async` pools must not cross tokio runtimes).
pub struct AppState {
    /// The worker's pool.
    pub pool: Pool,
    /// The session store on the worker's pool (for per-user session operations).
    pub store: MySqlSessionStore,
    /// Password hashing, shared by all workers.
    pub hasher: Hasher,
    /// The session key (to read this request's session id from its cookie).
    pub key: Key,
    /// How old a session's member snapshot may get before the member row is read again (the
    /// touch interval: a changed password or profile reaches every device within it).
    pub member_recheck: Duration,
    /// Sign-in attempts per client IP, shared by all workers.
    pub ip_limit: SignInIpLimit,
    /// One password check at a time per account, shared by all workers.
    pub account_gate: AccountGate,
    /// How hard new passwords must be to guess (`PASSWORD_MIN_SCORE`).
    pub password_policy: PasswordPolicy,
    /// `MAX_SESSIONS_PER_MEMBER`.
    pub max_sessions: u32,
    /// The app's metrics (sign-in outcomes are counted by the handler).
    pub metrics: Metrics,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
