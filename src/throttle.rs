//! Sign-in throttling per account name, kept in MySQL so every app instance shares it.
//!
//! The account name is counted whether or not a member has it, so the throttle says nothing
//! about which accounts exist. The first few failures are free; after that each failure locks
//! the name for twice as long as the one before, up to [`MAX_LOCK_SECS`]. A success clears it,
//! and so does a quiet hour ([`QUIET_SECS`]) before the next failure.

use std::time::Duration;

use mysql_async::Pool;

use crate::db::{self, DbError};

/// The failure that brings the first lock (two seconds; each further failure doubles it).
pub const FREE_FAILURES: u32 = 5;
/// The longest lock, in seconds.
pub const MAX_LOCK_SECS: u32 = 300;
/// After this long without a failure, the count starts again.
pub const QUIET_SECS: u32 = 3600;

/// The throttle's state for one account name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// No recent failures.
    Clear,
    /// Some failures, but sign-in is allowed.
    Open,
    /// Sign-in refused for this long.
    Locked(Duration),
}

/// Look up `account`.
pub async fn check(pool: &Pool, account: &str) -> Result<Throttle, DbError> {
    const OP: &str = "check throttle";
    let row = db::first_row(
        pool,
        OP,
        "SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), locked_until)
         FROM login_throttle WHERE account = ?",
        (account,),
    )
    .await?;
    let Some(mut row) = row else {
        return Ok(Throttle::Clear);
    };
    Ok(match db::take::<Option<i64>>(&mut row, 0, OP)? {
        Some(us) if us > 0 => Throttle::Locked(Duration::from_micros(us.unsigned_abs())),
        _ => Throttle::Open,
    })
}

/// Count a failure for `account`.
pub async fn record_failure(pool: &Pool, account: &str) -> Result<(), DbError> {
    const OP: &str = "record failed sign-in";
    // Assignments run left to right on MySQL and MariaDB alike, and each later one sees the
    // values set before it: so `locked_until` and `failures` read the old `failures` and the
    // old `last_failure_at`, which is assigned last.
    db::exec(
        pool,
        OP,
        "INSERT INTO login_throttle (account, failures, locked_until, last_failure_at)
             VALUES (?, 1, NULL, UTC_TIMESTAMP(6))
             ON DUPLICATE KEY UPDATE
               locked_until = IF(last_failure_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND
                                   OR failures + 1 < ?,
                   NULL,
                   UTC_TIMESTAMP(6) + INTERVAL LEAST(POW(2, failures + 2 - ?), ?) SECOND),
               failures = IF(last_failure_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND,
                   1, failures + 1),
               last_failure_at = UTC_TIMESTAMP(6)",
        (
            account,
            QUIET_SECS,
            FREE_FAILURES,
            FREE_FAILURES,
            MAX_LOCK_SECS,
            QUIET_SECS,
        ),
    )
    .await
    .map(drop)
}

/// Forget the failures of `account` after a successful sign-in.
pub async fn clear(pool: &Pool, account: &str) -> Result<(), DbError> {
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

/// Delete the rows of account names that have been quiet for [`QUIET_SECS`] and are not
/// locked: they would start from zero anyway. Keeps the table from growing with every name an
/// attacker tries. Returns how many rows were deleted.
pub async fn purge_stale(pool: &Pool) -> Result<u64, DbError> {
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

/// Run [`purge_stale`] every `every` on the current runtime until the handle is dropped or
/// aborted; failures are logged and retried at the next tick.
pub fn spawn_purge(pool: Pool, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match purge_stale(&pool).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "stale sign-in throttle rows deleted"),
                Err(error) => tracing::warn!(error = ?error, "sign-in throttle purge failed"),
            }
        }
    })
}
