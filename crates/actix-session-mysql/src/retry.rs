//! When a failed statement may run again: the policy the store follows for its own statements,
//! public so that an application's statements on the same database can follow it too.
//!
//! Two failures are worth another try, because on a cluster they are routine and say nothing
//! about the data:
//! - a transaction the server rolled back: a deadlock or, on Galera, a certification conflict
//!   with a write to the same row through another node (both error 1213), a lock wait
//!   timeout (1205), a node that is not ready for queries yet (1047), MySQL Group
//!   Replication's conflict rollback (3101), or InnoDB failing to take a table's AUTO-INC lock
//!   (1467, a deadlock in disguise). These are retried several times, each after a longer,
//!   randomised pause: writers that keep colliding on one row through different nodes must
//!   drift apart, not collide again in step.
//! - a connection that broke under the statement (its database node died, or a proxy cut it):
//!   retried once, since the next pooled connection is checked before use and so reaches a
//!   live node; a second broken connection in one operation is an outage, not a failover.
//!
//! After a broken connection nobody knows whether the statement committed, so only statements
//! that can safely run twice are repeated then: reads, and writes that set absolute values or
//! delete by key. An `INSERT` is repeated only after an error that proves it did not commit.
//! An idempotent write that ran twice reports what its last run did (a `DELETE` whose first
//! run committed deletes nothing the second time). See the [clustering guide](crate::clustering)
//! for the reasoning.
//!
//! # Example
//!
//! One statement under this policy, bounded by a timeout of your own:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use actix_session_mysql::retry::{self, Replay};
//! use mysql_async::prelude::Queryable;
//!
//! # async fn example(pool: mysql_async::Pool) -> Result<(), Box<dyn std::error::Error>> {
//! let reset = retry::run(&pool, "reset counter", Replay::Idempotent, |mut conn| async move {
//!     conn.exec_drop("UPDATE counters SET n = 0 WHERE id = ?", (7,)).await
//! });
//! tokio::time::timeout(Duration::from_secs(3), reset).await??;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::time::Duration;

use mysql_async::{Conn, Pool};

/// Server errors after which the statement is known not to have taken effect: 1213 (deadlock,
/// or a Galera certification conflict; the transaction was rolled back), 1205 (lock wait
/// timeout; in autocommit mode the statement was rolled back), 1047 (a Galera node that is not
/// ready refused the statement before running it), 3101 (MySQL Group Replication rolled the
/// transaction back at commit: a conflict with another member), 1467 (InnoDB could not take a
/// table's AUTO-INC lock: a deadlock or lock wait timeout under another name, handled by InnoDB
/// the same way; concurrent `INSERT … SELECT`s into one table meet it).
const NOT_COMMITTED: [u16; 5] = [1213, 1205, 1047, 3101, 1467];

/// The most times one statement runs while it keeps being rolled back. Measured on a Galera
/// cluster with 50 writers on one row through two nodes: about half conflict once, a third of
/// those twice, a few three times. Eight runs make giving up a matter of a stuck cluster, not
/// of bad luck; an operation's timeout still bounds them all together.
const MAX_ATTEMPTS: u32 = 8;

/// The longest pause between two runs, before its random part.
const MAX_PAUSE_MS: u64 = 64;

/// Whether a statement may run twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Running it again changes nothing the first run did not: a read, an `UPDATE` setting
    /// absolute values, a `DELETE` by key. Retried once after a broken connection too.
    Idempotent,
    /// Running it twice would do it twice (an `INSERT`, an `UPDATE … SET n = n + 1`): retried
    /// only after an error that proves it did not commit.
    NotTwice,
}

/// Whether `error` is one of the transient server errors that prove nothing was committed:
/// the statement (or the whole transaction) may run again, and a caller that gives up should
/// report the database as busy or unavailable, not the statement as wrong.
pub fn not_committed(error: &mysql_async::Error) -> bool {
    matches!(error, mysql_async::Error::Server(e) if NOT_COMMITTED.contains(&e.code))
}

/// Server errors that refuse the client for want of capacity or access, whatever the
/// statement: the server is there but will not serve us now. A caller should answer "busy,
/// try again" (503), not "bug" (500); an operator has something to fix, or to wait out.
///
/// | code | name | meaning |
/// | --- | --- | --- |
/// | 1040 | `ER_CON_COUNT_ERROR` | too many connections |
/// | 1044 | `ER_DBACCESS_DENIED_ERROR` | access to the database denied |
/// | 1045 | `ER_ACCESS_DENIED_ERROR` | access denied (user or password) |
/// | 1053 | `ER_SERVER_SHUTDOWN` | the server is shutting down |
/// | 1129 | `ER_HOST_IS_BLOCKED` | the host is blocked after connection errors |
/// | 1130 | `ER_HOST_NOT_PRIVILEGED` | the host may not connect |
/// | 1203 | `ER_TOO_MANY_USER_CONNECTIONS` | the user has too many connections |
/// | 1226 | `ER_USER_LIMIT_REACHED` | the user is over a resource limit (`MAX_USER_CONNECTIONS`, …) |
/// | 1698 | `ER_ACCESS_DENIED_NO_PASSWORD_ERROR` | access denied (e.g. a unix-socket-only user over TCP) |
/// | 1927 | `ER_CONNECTION_KILLED` | the connection was killed |
/// | 3118, 4151 | `ER_ACCOUNT_HAS_BEEN_LOCKED` (MySQL, MariaDB) | the account is locked |
/// | 1290 | `ER_OPTION_PREVENTS_STATEMENT` | e.g. `--read-only` on a node taken out of service |
/// | 1047, 1180 | `ER_UNKNOWN_COM_ERROR` (Galera: node not ready), `ER_ERROR_DURING_COMMIT` | a Galera node not (yet) part of the primary component |
pub const REFUSED: &[u16] = &[
    1040, 1044, 1045, 1047, 1053, 1129, 1130, 1180, 1203, 1226, 1290, 1698, 1927, 3118, 4151,
];

/// Whether `error` is a server's refusal to serve this client now ([`REFUSED`]): an outage
/// as far as the caller can tell, not a wrong statement.
pub fn refused(error: &mysql_async::Error) -> bool {
    matches!(error, mysql_async::Error::Server(e) if REFUSED.contains(&e.code))
}

/// Whether `error` says the database is unavailable rather than that it rejected the
/// statement: no answer (I/O, a closed connection, a driver failure), a refusal
/// ([`refused`]), or a conflict that rolled everything back ([`not_committed`]).
pub fn unavailable(error: &mysql_async::Error) -> bool {
    !matches!(error, mysql_async::Error::Server(_)) || refused(error) || not_committed(error)
}

/// Whether `error` says the connection broke under the statement (its node died, a proxy cut
/// it), as opposed to an answer from the server or a mistake in the call.
fn broken_connection(error: &mysql_async::Error) -> bool {
    matches!(
        error,
        mysql_async::Error::Io(_)
            | mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed)
    )
}

/// The failures of one operation so far, deciding whether and when it runs again.
///
/// Feed each failure to [`again_after`](Attempts::again_after); [`run`] does this for you.
#[derive(Debug, Default)]
pub struct Attempts {
    /// Runs that failed.
    failed: u32,
    /// Whether one of them failed on a broken connection.
    broken: bool,
}

impl Attempts {
    /// No run yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A run of a statement that may replay as `replay` failed with `error`: how long to wait
    /// before running it again, or `None` if the error is final — a statement the server
    /// rejected, a broken connection under a [`Replay::NotTwice`] statement, a second broken
    /// connection (that is an outage, not a failover), anything else the driver reports, or
    /// the last allowed run.
    ///
    /// The pause doubles with each failure (2 ms, 4 ms, … up to 64 ms) and adds a random part
    /// as large again, so that conflicting writers spread out.
    pub fn again_after(&mut self, error: &mysql_async::Error, replay: Replay) -> Option<Duration> {
        self.failed += 1;
        if self.failed >= MAX_ATTEMPTS {
            return None;
        }
        let again = if not_committed(error) {
            true
        } else if broken_connection(error) {
            let first = !self.broken;
            self.broken = true;
            first && replay == Replay::Idempotent
        } else {
            false
        };
        again.then(|| {
            let base = 2_u64.saturating_pow(self.failed).min(MAX_PAUSE_MS);
            Duration::from_millis(base + rand::random_range(0..base))
        })
    }

    /// How many runs have failed.
    pub fn failed(&self) -> u32 {
        self.failed
    }
}

/// An error that [`run`] can judge: the driver's error it carries, if any.
///
/// Implemented for `mysql_async::Error`; implement it for an error of your own to run work
/// that fails with it (a transaction whose statements wrap their errors, say).
pub trait Retryable: From<mysql_async::Error> + fmt::Display {
    /// The driver's error inside, if any; without one the error is final.
    fn driver_error(&self) -> Option<&mysql_async::Error>;
}

impl Retryable for mysql_async::Error {
    fn driver_error(&self) -> Option<&mysql_async::Error> {
        Some(self)
    }
}

/// Run `work` on a connection from `pool`, and again on a fresh one after each failure that
/// [`Attempts::again_after`] allows for `replay`, after its pause; otherwise return the error.
/// `work` may run a whole transaction: one rolled back at `COMMIT` runs again from the start.
/// Retries are logged at `debug` with `op`. Not bounded in time: wrap it in a timeout of your
/// own.
///
/// `work` gets the connection by value and returns it to the pool by dropping it (a closure
/// borrowing it would make the future not `Send`).
pub async fn run<T, E, Fut>(
    pool: &Pool,
    op: &'static str,
    replay: Replay,
    work: impl Fn(Conn) -> Fut,
) -> Result<T, E>
where
    E: Retryable,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempts = Attempts::new();
    loop {
        let conn = pool.get_conn().await?;
        let error = match work(conn).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let pause = error
            .driver_error()
            .and_then(|driver| attempts.again_after(driver, replay));
        let Some(pause) = pause else {
            return Err(error);
        };
        tracing::debug!(op, failed = attempts.failed(), error = %error, "retrying on another connection");
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: String::new(),
            state: String::new(),
        })
    }

    fn broken() -> mysql_async::Error {
        mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )))
    }

    /// The pauses `attempts` grants for `errors`, one after the other, until one is refused.
    fn pauses(replay: Replay, errors: &[mysql_async::Error]) -> Vec<Duration> {
        let mut attempts = Attempts::new();
        errors
            .iter()
            .map_while(|e| attempts.again_after(e, replay))
            .collect()
    }

    #[test]
    fn conflicts_are_retried_for_every_statement_until_the_last_attempt() {
        for replay in [Replay::Idempotent, Replay::NotTwice] {
            for code in NOT_COMMITTED {
                let errors: Vec<_> = (0..20).map(|_| server(code)).collect();
                assert_eq!(pauses(replay, &errors).len(), MAX_ATTEMPTS as usize - 1);
            }
        }
    }

    #[test]
    fn pauses_grow_and_stay_bounded() {
        let errors: Vec<_> = (0..20).map(|_| server(1213)).collect();
        let pauses: Vec<u128> = pauses(Replay::NotTwice, &errors)
            .iter()
            .map(Duration::as_millis)
            .collect();
        assert!((2..4).contains(&pauses[0]), "{pauses:?}");
        assert!((8..16).contains(&pauses[2]), "{pauses:?}");
        for pause in &pauses[5..] {
            assert!((64..128).contains(pause), "{pauses:?}");
        }
    }

    #[test]
    fn a_broken_connection_is_retried_once_and_only_when_safe() {
        assert_eq!(pauses(Replay::Idempotent, &[broken(), broken()]).len(), 1);
        assert_eq!(pauses(Replay::NotTwice, &[broken()]).len(), 0);
        // A conflict first does not use up the one retry after a broken connection: a node
        // that dies right after a conflict is the usual failover.
        assert_eq!(
            pauses(Replay::Idempotent, &[server(1213), broken(), broken()]).len(),
            2
        );
    }

    #[test]
    fn other_errors_are_final() {
        for code in [1062, 1146, 1064, 1049] {
            assert!(!not_committed(&server(code)));
            assert!(pauses(Replay::Idempotent, &[server(code)]).is_empty());
        }
        let mistake = mysql_async::Error::Driver(mysql_async::DriverError::PoolDisconnected);
        assert!(pauses(Replay::Idempotent, &[mistake]).is_empty());
    }
}
