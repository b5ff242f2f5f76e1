//! The mail outbox: every SQL statement about the `mail_outbox` table.
//!
//! A mail is first a row, written by [`Outbox::queue_in`] in the transaction of what causes
//! it: a mail is never sent for a change that rolled back, and never lost for one that
//! committed. Senders (one per instance, `crate::mail`) take rows with [`claim_mail`]: one
//! `UPDATE … ORDER BY … LIMIT` that stamps the rows with the sender's claim and moves their
//! next attempt past the time their delivery may take. Two senders never hold one row: on one
//! server the row locks order them, and on Galera the later of two conflicting claims fails
//! certification, is rolled back whole and retried, and finds the rows taken. A sender that
//! dies holding rows only delays them: they are due again when the lease ends.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Transaction};
use time::PrimitiveDateTime;
use tokio::sync::Notify;

use super::db::{self, DbError};
use crate::domain::{Letter, MailSeal};

/// Failed mails are kept this long for `member-portal mail status`, then purged.
const FAILED_KEPT_DAYS: u32 = 7;
/// Rows deleted per statement by the purge: short locks.
const PURGE_BATCH: u32 = 1000;

/// Where the app queues mail, and what it needs to write one: the seal, the origin links start
/// with, and how long links work. Cheap to clone; one per instance, shared by its workers.
#[derive(Clone)]
pub struct Outbox {
    seal: MailSeal,
    origin: String,
    on: bool,
    wake: Arc<Notify>,
    /// `RESET_LINK_TTL`.
    pub reset_ttl: Duration,
    /// `VERIFY_LINK_TTL`.
    pub verify_ttl: Duration,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("origin", &self.origin)
            .field("on", &self.on)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// An outbox sealing with `seal`, links starting with `origin`; `on` false turns every
    /// e-mail feature off (nothing is queued).
    pub fn new(
        seal: MailSeal,
        origin: String,
        on: bool,
        reset_ttl: Duration,
        verify_ttl: Duration,
    ) -> Self {
        Self {
            seal,
            origin,
            on,
            wake: Arc::new(Notify::new()),
            reset_ttl,
            verify_ttl,
        }
    }

    /// Whether e-mail features are on.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// The origin every link starts with (`PUBLIC_ORIGIN`, or the listen address).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The seal letters wait under.
    pub fn seal(&self) -> &MailSeal {
        &self.seal
    }

    /// Tell this instance's sender that mail is waiting (call after the commit).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// What [`wake`](Self::wake) signals: the sender waits on it.
    pub fn wake_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Queue `letter` to `to` inside `tx`, due at once. Nothing when e-mail is off.
    pub(super) async fn queue_in(
        &self,
        tx: &mut Transaction<'_>,
        to: &str,
        letter: &Letter,
    ) -> Result<(), mysql_async::Error> {
        self.queue_at_in(tx, to, letter, 0).await
    }

    /// Queue `letter` to `to` inside `tx`, due in `delay_micros`. Nothing when e-mail is off.
    pub(super) async fn queue_at_in(
        &self,
        tx: &mut Transaction<'_>,
        to: &str,
        letter: &Letter,
        delay_micros: i64,
    ) -> Result<(), mysql_async::Error> {
        if !self.on {
            return Ok(());
        }
        let (subject, body) = letter.compose(&self.origin);
        let sealed = self.seal.seal(to, &subject, &body);
        tx.exec_drop(
            "INSERT INTO mail_outbox
                 (recipient, kind, sealed, state, attempts, created_at, next_attempt_at)
             VALUES (?, ?, ?, 'waiting', 0, UTC_TIMESTAMP(6),
                     UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND)",
            (to, letter.kind(), sealed, delay_micros.max(0)),
        )
        .await
    }

    /// Queue `letter` to `member`'s verified address inside `tx`, if it has one. Returns
    /// whether it was queued.
    pub(super) async fn notify_member_in(
        &self,
        tx: &mut Transaction<'_>,
        member: &str,
        letter: &Letter,
    ) -> Result<bool, mysql_async::Error> {
        if !self.on {
            return Ok(false);
        }
        let address: Option<Option<String>> = tx
            .exec_first("SELECT email FROM member WHERE id = ?", (member,))
            .await?;
        match address.flatten() {
            Some(to) => {
                self.queue_in(tx, &to, letter).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// A mail a sender has claimed.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    /// The row.
    pub id: u64,
    /// To whom.
    pub recipient: String,
    /// The letter's kind (`Letter::kind`).
    pub kind: String,
    /// Subject and body, sealed.
    pub sealed: Vec<u8>,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// Seconds since it was queued.
    pub age_secs: i64,
}

/// Claim up to `batch` due mails for `claim` (a sender's random claim id), each for `lease`:
/// another sender may take a row again only once the lease is over. Returns the claimed rows,
/// oldest first.
pub async fn claim_mail(
    pool: &Pool,
    claim: [u8; 16],
    batch: u32,
    lease: Duration,
) -> Result<Vec<QueuedMail>, DbError> {
    const OP: &str = "claim mail";
    let lease_secs = lease.as_secs();
    let claimed = db::exec(
        pool,
        OP,
        "UPDATE mail_outbox
         SET claim = ?, attempts = attempts + 1,
             next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND
         WHERE state = 'waiting' AND next_attempt_at <= UTC_TIMESTAMP(6)
         ORDER BY next_attempt_at, id
         LIMIT ?",
        (&claim[..], lease_secs, batch),
    )
    .await?;
    if claimed == 0 {
        return Ok(Vec::new());
    }
    let claim = &claim[..];
    db::run(
        pool,
        OP,
        actix_session_mysql::retry::Replay::Idempotent,
        |mut conn| async move {
            conn.exec_map(
                "SELECT id, recipient, kind, sealed, attempts,
                    TIMESTAMPDIFF(SECOND, created_at, UTC_TIMESTAMP(6))
             FROM mail_outbox WHERE claim = ? AND state = 'waiting' ORDER BY id",
                (claim,),
                |(id, recipient, kind, sealed, attempts, age_secs)| QueuedMail {
                    id,
                    recipient,
                    kind,
                    sealed,
                    attempts,
                    age_secs,
                },
            )
            .await
        },
    )
    .await
}

/// Mail `id`, claimed by `claim`, was delivered: its row goes.
pub async fn mail_sent(pool: &Pool, id: u64, claim: [u8; 16]) -> Result<(), DbError> {
    db::exec(
        pool,
        "mail sent",
        "DELETE FROM mail_outbox WHERE id = ? AND claim = ?",
        (id, &claim[..]),
    )
    .await
    .map(drop)
}

/// Mail `id` could not be delivered this time: it is due again in `delay`.
pub async fn mail_retry(
    pool: &Pool,
    id: u64,
    claim: [u8; 16],
    delay: Duration,
    error: &str,
) -> Result<(), DbError> {
    db::exec(
        pool,
        "mail retry",
        "UPDATE mail_outbox
         SET claim = NULL, last_error = ?,
             next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND
         WHERE id = ? AND claim = ?",
        (
            bounded_error(error),
            u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
            id,
            &claim[..],
        ),
    )
    .await
    .map(drop)
}

/// Mail `id` will never be delivered (refused for good, or undeliverable for too long).
pub async fn mail_failed(
    pool: &Pool,
    id: u64,
    claim: [u8; 16],
    error: &str,
) -> Result<(), DbError> {
    db::exec(
        pool,
        "mail failed",
        "UPDATE mail_outbox SET state = 'failed', claim = NULL, last_error = ?
         WHERE id = ? AND claim = ?",
        (bounded_error(error), id, &claim[..]),
    )
    .await
    .map(drop)
}

/// What the outbox holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStatus {
    /// Mails not yet delivered (being sent, or waiting for their next attempt).
    pub waiting: u64,
    /// Mails given up on, kept a week.
    pub failed: u64,
    /// When the oldest waiting mail was queued (UTC).
    pub oldest_waiting: Option<PrimitiveDateTime>,
    /// The last error of the most recent failure, if any.
    pub last_error: Option<String>,
}

/// Count the outbox's rows.
pub async fn mail_status(pool: &Pool) -> Result<OutboxStatus, DbError> {
    const OP: &str = "mail status";
    let row = db::first_row(
        pool,
        OP,
        "SELECT
             (SELECT COUNT(*) FROM mail_outbox WHERE state = 'waiting'),
             (SELECT COUNT(*) FROM mail_outbox WHERE state = 'failed'),
             (SELECT MIN(created_at) FROM mail_outbox WHERE state = 'waiting'),
             (SELECT last_error FROM mail_outbox WHERE state = 'failed'
              ORDER BY id DESC LIMIT 1)",
        (),
    )
    .await?;
    let Some(mut row) = row else {
        return Ok(OutboxStatus::default());
    };
    Ok(OutboxStatus {
        waiting: db::take(&mut row, 0, OP)?,
        failed: db::take(&mut row, 1, OP)?,
        oldest_waiting: db::take(&mut row, 2, OP)?,
        last_error: db::take(&mut row, 3, OP)?,
    })
}

/// Delete failed mails older than a week, in small batches. Returns how many went.
pub async fn purge_failed_mail(pool: &Pool) -> Result<u64, DbError> {
    let mut total = 0;
    loop {
        let deleted = db::exec(
            pool,
            "purge failed mail",
            "DELETE FROM mail_outbox
             WHERE state = 'failed' AND created_at < UTC_TIMESTAMP(6) - INTERVAL ? DAY
             LIMIT ?",
            (FAILED_KEPT_DAYS, PURGE_BATCH),
        )
        .await?;
        total += deleted;
        if deleted < u64::from(PURGE_BATCH) {
            return Ok(total);
        }
    }
}

/// An SMTP error as stored: one line, at most the column's 255 characters.
fn bounded_error(error: &str) -> String {
    error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(255)
        .collect()
}
