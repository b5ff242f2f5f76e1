//! Sign-in throttling per account name, kept in MySQL so every app instance shares it.
//!
//! Every attempt is counted *before* its password is verified, by one upsert that also decides
//! whether the attempt may go on: N guesses sent at once get no more verifications than N sent
//! one after the other. The first [`FREE_ATTEMPTS`] attempts are free; the one that reaches it
//! locks the name for two seconds, and each attempt allowed after a lock locks it for twice as
//! long as the one before, up to [`MAX_LOCK_SECS`]. Attempts while locked are refused and not
//! counted. A success clears the name, and so does a quiet hour ([`QUIET_SECS`]).
//!
//! The account name is counted whether or not a member has it, so the throttle says nothing
//! about which accounts exist.

use std::time::Duration;

use mysql_async::Pool;

use super::db::{self, DbError};

/// The attempt that brings the first lock (two seconds; each further attempt doubles it).
pub const FREE_ATTEMPTS: u32 = 5;
/// The longest lock, in seconds.
pub const MAX_LOCK_SECS: u32 = 300;
/// After this long without an attempt, the count starts again.
pub const QUIET_SECS: u32 = 3600;

/// What the throttle decided about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted; the password may be verified.
    Allowed,
    /// Refused (not counted): the name is locked for this long.
    Locked(Duration),
}

/// Count an attempt on `account` and decide whether it may proceed, in one statement.
///
/// The decision travels back in the OK packet's insert id through `LAST_INSERT_ID(expr)`
/// (documented on MySQL and MariaDB for exactly this: a value computed by a write, read by the
/// same connection without a race): the attempt's number when it is allowed, 0 when the name
/// is locked. Assignments run left to right and each later one sees the values set before it,
/// so `failures` and `last_failure_at` read the old lock, and `locked_until` reads the new
/// count. `failures` counts attempts (successes are cleared right after), and
/// `last_failure_at` is the last counted attempt.
pub async fn count_attempt(pool: &Pool, account: &str) -> Result<Attempt, DbError> {
    const OP: &str = "count sign-in attempt";
    let number = db::exec_insert_id(
        pool,
        OP,
        "INSERT INTO login_throttle (account, failures, locked_until, last_failure_at)
             VALUES (?, LAST_INSERT_ID(1), NULL, UTC_TIMESTAMP(6))
             ON DUPLICATE KEY UPDATE
               failures = IF(locked_until > UTC_TIMESTAMP(6),
                   failures + LAST_INSERT_ID(0),
                   LAST_INSERT_ID(IF(last_failure_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND,
                       1, failures + 1))),
               last_failure_at = IF(locked_until > UTC_TIMESTAMP(6),
                   last_failure_at, UTC_TIMESTAMP(6)),
               locked_until = IF(locked_until > UTC_TIMESTAMP(6),
                   locked_until,
                   IF(failures >= ?,
                       UTC_TIMESTAMP(6) + INTERVAL LEAST(POW(2, failures + 1 - ?), ?) SECOND,
                       NULL))",
        (
            account,
            QUIET_SECS,
            FREE_ATTEMPTS,
            FREE_ATTEMPTS,
            MAX_LOCK_SECS,
        ),
    )
    .await?;
    if number > 0 {
        return Ok(Attempt::Allowed);
    }
    Ok(Attempt::Locked(locked_for(pool, account).await?))
}

/// How much longer `account` stays locked (for `Retry-After`; at least one second, since the
/// caller has just been refused).
async fn locked_for(pool: &Pool, account: &str) -> Result<Duration, DbError> {
    const OP: &str = "read sign-in lock";
    let row = db::first_row(
        pool,
        OP,
        "SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), locked_until)
         FROM login_throttle WHERE account = ?",
        (account,),
    )
    .await?;
    let micros = match row {
        Some(mut row) => db::take::<Option<i64>>(&mut row, 0, OP)?.unwrap_or(0),
        None => 0,
    };
    Ok(Duration::from_micros(micros.max(1_000_000).unsigned_abs()))
}

/// Forget the attempts on `account` after a successful sign-in.
pub async fn clear_attempts(pool: &Pool, account: &str) -> Result<(), DbError> {
    const OP: &str = "clear throttle";
    db::exec(
        pool,
        OP,
        "DELETE FROM login_throttle WHERE account = ?",
        (account,),
    )
    .await
    .map(drop)
}

/// Delete the rows of account names that have been quiet for `QUIET_SECS` and are not
/// locked: they would start from zero anyway. Keeps the table from growing with every name an
/// attacker tries. Returns how many rows were deleted.
pub async fn purge_stale_attempts(pool: &Pool) -> Result<u64, DbError> {
    const OP: &str = "purge stale throttle rows";
    db::exec(
        pool,
        OP,
        "DELETE FROM login_throttle
         WHERE last_failure_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND
           AND (locked_until IS NULL OR locked_until < UTC_TIMESTAMP(6))",
        (QUIET_SECS,),
    )
    .await
}
