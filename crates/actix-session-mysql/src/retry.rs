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
//!   live node; a second broken connection in a row is an outage, not a failover.
//!
//! After a broken connection nobody knows whether the statement committed, so only statements
//! that can safely run twice are repeated then: reads, and writes that set absolute values or
//! delete by key. An `INSERT` is repeated only after an error that proves it did not commit.
//! See the [clustering guide](crate::clustering) for the reasoning.
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

/// How long to wait before running again a statement whose run number `attempt` (from 1)
/// failed with `error`, or `None` if the error is final: a statement the server rejected, a
/// second broken connection, a broken connection under a [`Replay::NotTwice`] statement, or
/// the last allowed attempt.
///
/// The pause doubles with each attempt (2 ms, 4 ms, … up to 64 ms) and adds a random part
/// as large again, so that conflicting writers spread out.
pub fn again_after(error: &mysql_async::Error, replay: Replay, attempt: u32) -> Option<Duration> {
    if attempt >= MAX_ATTEMPTS {
        return None;
    }
    let again = match error {
        mysql_async::Error::Server(_) => not_committed(error),
        _ => replay == Replay::Idempotent && attempt == 1,
    };
    again.then(|| {
        let base = 2_u64.saturating_pow(attempt).min(MAX_PAUSE_MS);
        Duration::from_millis(base + rand::random_range(0..base))
    })
}

/// Run `work` on a connection from `pool`, and again on a fresh one after each failure that
/// [`again_after`] allows for `replay`, after its pause; otherwise return the error. `work`
/// may run a whole transaction: one rolled back at `COMMIT` runs again from the start. Retries
/// are logged at `debug` with `op`. Not bounded in time: wrap it in a timeout of your own.
///
/// `work` gets the connection by value and returns it to the pool by dropping it (a closure
/// borrowing it would make the future not `Send`).
pub async fn run<T, Fut>(
    pool: &Pool,
    op: &'static str,
    replay: Replay,
    work: impl Fn(Conn) -> Fut,
) -> Result<T, mysql_async::Error>
where
    Fut: Future<Output = Result<T, mysql_async::Error>>,
{
    let mut attempt = 1;
    loop {
        let conn = pool.get_conn().await?;
        let error = match work(conn).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let Some(pause) = again_after(&error, replay, attempt) else {
            return Err(error);
        };
        tracing::debug!(op, attempt, error = %error, "retrying on another connection");
        tokio::time::sleep(pause).await;
        attempt += 1;
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

    #[test]
    fn conflicts_are_retried_for_every_statement_until_the_last_attempt() {
        for replay in [Replay::Idempotent, Replay::NotTwice] {
            for code in NOT_COMMITTED {
                for attempt in 1..MAX_ATTEMPTS {
                    assert!(again_after(&server(code), replay, attempt).is_some());
                }
                assert!(again_after(&server(code), replay, MAX_ATTEMPTS).is_none());
            }
        }
    }

    #[test]
    fn pauses_grow_and_stay_bounded() {
        let pause = |attempt| {
            again_after(&server(1213), Replay::NotTwice, attempt).expect("a conflict is retried")
        };
        assert!((2..4).contains(&pause(1).as_millis()));
        assert!((8..16).contains(&pause(3).as_millis()));
        for attempt in 6..MAX_ATTEMPTS {
            assert!((64..128).contains(&pause(attempt).as_millis()));
        }
    }

    #[test]
    fn a_broken_connection_is_retried_once_and_only_when_safe() {
        assert!(again_after(&broken(), Replay::Idempotent, 1).is_some());
        assert!(again_after(&broken(), Replay::Idempotent, 2).is_none());
        assert!(again_after(&broken(), Replay::NotTwice, 1).is_none());
    }

    #[test]
    fn other_server_errors_are_final() {
        for code in [1062, 1146, 1064, 1049] {
            assert!(!not_committed(&server(code)));
            assert!(again_after(&server(code), Replay::Idempotent, 1).is_none());
        }
    }
}
