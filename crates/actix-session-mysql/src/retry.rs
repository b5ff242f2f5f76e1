//! When a failed statement may run again. See `docs/clustering.md` for the reasoning.
//!
//! Two failures are worth a second try, because on a cluster they are routine and say nothing
//! about the session:
//! - a connection that broke under the statement (its database node died, or a proxy cut it):
//!   the next pooled connection is checked before use, so it reaches a live node;
//! - a transaction the server rolled back: a deadlock or, on Galera, a certification conflict
//!   with a write to the same row through another node (both error 1213), a lock wait
//!   timeout (1205), a node that is not ready for queries yet (1047), or MySQL Group
//!   Replication's conflict rollback (3101).
//!
//! After a broken connection nobody knows whether the statement committed, so only statements
//! that can safely run twice are repeated then: reads, and writes that set absolute values or
//! delete by key. An `INSERT` is repeated only after an error that proves it did not commit.

use std::time::Duration;

/// Server errors after which the statement is known not to have taken effect: 1213 (deadlock,
/// or a Galera certification conflict; the transaction was rolled back), 1205 (lock wait
/// timeout; in autocommit mode the statement was rolled back), 1047 (a Galera node that is not
/// ready refused the statement before running it), 3101 (MySQL Group Replication rolled the
/// transaction back at commit: a conflict with another member).
const NOT_COMMITTED: [u16; 4] = [1213, 1205, 1047, 3101];

/// The most times one operation runs (the operation timeout bounds them all together).
const MAX_ATTEMPTS: u32 = 4;

/// Whether a statement may run twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Running it again changes nothing the first run did not: a read, an `UPDATE` setting
    /// absolute values, a `DELETE`. Retried once after a broken connection too.
    Idempotent,
    /// Running it twice would do it twice (an `INSERT`): retried only after an error that
    /// proves it did not commit.
    NotTwice,
}

/// Whether `error` is one of the transient server errors that prove nothing was committed.
pub(crate) fn not_committed(error: &mysql_async::Error) -> bool {
    matches!(error, mysql_async::Error::Server(e) if NOT_COMMITTED.contains(&e.code))
}

/// How long to wait before attempt `attempt + 1`, or `None` if `error` ends the operation.
pub(crate) fn again_after(
    error: &mysql_async::Error,
    replay: Replay,
    attempt: u32,
) -> Option<Duration> {
    if attempt >= MAX_ATTEMPTS {
        return None;
    }
    let again = match error {
        mysql_async::Error::Server(_) => not_committed(error),
        // A second broken connection in a row is an outage, not a failover.
        _ => replay == Replay::Idempotent && attempt == 1,
    };
    // Writers conflicting through different nodes back off by different amounts.
    again.then(|| Duration::from_millis(2_u64.pow(attempt) + rand::random_range(0..5)))
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
    fn conflicts_are_retried_for_every_statement() {
        for replay in [Replay::Idempotent, Replay::NotTwice] {
            for code in NOT_COMMITTED {
                assert!(again_after(&server(code), replay, 1).is_some());
                assert!(again_after(&server(code), replay, MAX_ATTEMPTS).is_none());
            }
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
        for code in [1062, 1146, 1064] {
            assert!(again_after(&server(code), Replay::Idempotent, 1).is_none());
        }
    }
}
