//! [`AppState`]: what every handler of a worker shares.

use std::time::Duration;

use actix_session_mysql::MySqlSessionStore;
use actix_web::cookie::Key;
use mysql_async::Pool;

use crate::breaches::BreachedPasswords;
use crate::data::Outbox;
use crate::domain::{Hasher, NewPassword, PasswordPolicy, TotpKeys};
use crate::telemetry::Metrics;
use crate::web::gate::AccountGate;
use crate::web::ip_limit::SignInIpLimit;
use crate::web::session::Lifetime;

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
    /// The breached-password list new passwords are looked up in (`PWNED_PASSWORDS_URL`).
    pub breaches: Option<BreachedPasswords>,
    /// `MAX_SESSIONS_PER_MEMBER`.
    pub max_sessions: u32,
    /// The app's metrics (sign-in outcomes are counted by the handler).
    pub metrics: Metrics,
    /// `SESSION_ABSOLUTE_TIMEOUT`.
    pub absolute_timeout: Duration,
    /// `REMEMBER_FOR`; `None` when "keep me signed in" is off.
    pub remember_for: Option<Duration>,
    /// Seals and opens two-factor secrets.
    pub totp_keys: TotpKeys,
    /// Whether the TOTP key is random for this run (then enrolment is refused).
    pub totp_key_ephemeral: bool,
    /// Whether cookies are `Secure` (production).
    pub secure_cookies: bool,
    /// Where mail is queued (and whether e-mail features are on).
    pub outbox: Outbox,
    /// Reset requests being looked up after their answer, shared by all workers: a flood of
    /// requests waits for no one and piles up nothing beyond [`RESET_LOOKUPS`].
    pub reset_lookups: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Reset requests looked up at once, per instance; beyond it a request gets its page and no
/// mail (as over any other limit).
pub const RESET_LOOKUPS: usize = 64;

impl AppState {
    /// The lifetime of a session signed in now, with "keep me signed in" ticked or not (ticked
    /// counts only while the option is on).
    pub fn lifetime(&self, remember: bool) -> Lifetime {
        match self.remember_for {
            Some(ttl) if remember => Lifetime::Remembered(ttl),
            _ => Lifetime::Browser(self.absolute_timeout),
        }
    }

    /// Whether `password` may become the password of the account `username`, whose display
    /// name is `display_name` (registration, password change and reset alike): hard enough to
    /// guess (`PASSWORD_MIN_SCORE`) and, when `PWNED_PASSWORDS_URL` is set, not in the list
    /// of breached passwords. `Err` is what the member reads. The estimator runs first: a
    /// password it refuses is never looked up.
    pub async fn vet_new_password(
        &self,
        password: &NewPassword,
        username: &str,
        display_name: &str,
    ) -> Result<(), String> {
        self.password_policy
            .check(password, username, display_name)?;
        if let Some(breaches) = &self.breaches {
            breaches.check(password).await.map_err(str::to_owned)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
