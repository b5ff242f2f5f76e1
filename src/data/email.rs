//! Members' e-mail addresses and the links mailed to them: every SQL statement about the
//! address columns of `member` and the `email_tokens` table.
//!
//! A link's token is stored only as its SHA-256 ([`LinkToken`]). A link is consumed by one
//! conditional `UPDATE` (`used_at`), so it works once even when two requests race, on any
//! instance or cluster node. What a link leads to is checked against the member row in the
//! same transaction: a verification link only while its address is still the pending one, a
//! reset link only while the password stamp it was made with is still the member's.

use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Transaction};

use super::db::{self, DbError};
use super::events::{self, EventKind};
use super::outbox::Outbox;
use crate::domain::{
    address_key, in_words, password_stamp, ClientInfo, EmailAddress, Letter, LinkToken,
};

/// How often a member may be mailed a link of one kind.
const LINK_MAIL_EVERY_SECS: u32 = 60;
/// Reset mails per member an hour.
const RESET_MAILS_PER_HOUR: i64 = 5;
/// The most members a reset request for one pending (unverified) address mails.
const PENDING_MATCHES_MAX: u32 = 10;
/// Used and expired links are kept this long past their expiry (the hourly limit counts them).
const USED_LINKS_KEPT_SECS: u32 = 3600;
/// Rows deleted per statement by the purge.
const PURGE_BATCH: u32 = 1000;

const PURPOSE_VERIFY: &str = "verify";
const PURPOSE_RESET: &str = "reset";

/// Whether a member has an address, as its pages show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmailState {
    /// None on file.
    #[default]
    None,
    /// One waiting for its link to be followed, and no verified one.
    Pending,
    /// A verified one.
    Verified,
}

impl EmailState {
    /// From the two columns' presence.
    pub fn of(verified: bool, pending: bool) -> Self {
        match (verified, pending) {
            (true, _) => Self::Verified,
            (false, true) => Self::Pending,
            (false, false) => Self::None,
        }
    }
}

/// A member's addresses, for `/account/email`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    /// The verified address.
    pub verified: Option<String>,
    /// One waiting for its link.
    pub pending: Option<String>,
}

/// `member`'s addresses.
pub async fn member_addresses(pool: &Pool, member: &str) -> Result<Addresses, DbError> {
    const OP: &str = "read addresses";
    let row = db::first_row(
        pool,
        OP,
        "SELECT email, pending_email FROM member WHERE id = ?",
        (member,),
    )
    .await?;
    let Some(mut row) = row else {
        return Ok(Addresses::default());
    };
    Ok(Addresses {
        verified: db::take(&mut row, 0, OP)?,
        pending: db::take(&mut row, 1, OP)?,
    })
}

/// What asking for an address did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRequest {
    /// The address is pending; a mail is queued (a link, or, if another member has it
    /// verified, a mail saying so).
    Queued,
    /// It is the member's verified address already: nothing to do.
    AlreadyYours,
}

/// Make `address` `member`'s pending address and queue its verification mail, in one
/// transaction. The mail is due at once, or a minute after the previous one (at most one
/// verification mail a minute).
pub async fn request_address(
    pool: &Pool,
    outbox: &Outbox,
    member: &str,
    address: &EmailAddress,
) -> Result<AddressRequest, DbError> {
    const OP: &str = "request address";
    let outcome = db::transaction(pool, OP, async |tx| {
        let current: Option<Option<Vec<u8>>> = tx
            .exec_first(
                "SELECT email_key FROM member WHERE id = ? FOR UPDATE",
                (member,),
            )
            .await
            .map_err(DbError::from_driver(OP))?;
        let key = address.key();
        if current.flatten().as_deref() == Some(key.as_bytes()) {
            // Withdraws a pending change too: the member chose the address they have.
            tx.exec_drop(
                "UPDATE member SET pending_email = NULL, pending_email_key = NULL WHERE id = ?",
                (member,),
            )
            .await
            .map_err(DbError::from_driver(OP))?;
            return Ok(AddressRequest::AlreadyYours);
        }
        set_pending_in(tx, outbox, member, address)
            .await
            .map_err(DbError::from_driver(OP))?;
        Ok(AddressRequest::Queued)
    })
    .await?;
    outbox.wake();
    Ok(outcome)
}

/// Inside `tx`: `address` becomes `member`'s pending address, and its mail is queued: a link,
/// or, when another member has the address verified, a mail saying so (the page says the same
/// either way). At most one such mail a minute: a second change within the minute is mailed
/// when the minute is over.
pub(super) async fn set_pending_in(
    tx: &mut Transaction<'_>,
    outbox: &Outbox,
    member: &str,
    address: &EmailAddress,
) -> Result<(), mysql_async::Error> {
    tx.exec_drop(
        "UPDATE member SET pending_email = ?, pending_email_key = ? WHERE id = ?",
        (address.as_str(), address.key(), member),
    )
    .await?;
    let delay_micros = take_verify_turn_in(tx, member, true).await?.unwrap_or(0);
    let letter = address_letter_in(tx, outbox, member, address.as_str()).await?;
    outbox
        .queue_at_in(tx, address.as_str(), &letter, delay_micros)
        .await
}

/// Inside `tx`: this member's turn for a verification mail. With `wait`, the turn is the end
/// of the current minute if a mail went out in it (returns the delay, in microseconds);
/// without, `None` if a mail went out in the last minute.
async fn take_verify_turn_in(
    tx: &mut Transaction<'_>,
    member: &str,
    wait: bool,
) -> Result<Option<i64>, mysql_async::Error> {
    if !wait {
        tx.exec_drop(
            "UPDATE member SET verify_mail_at = UTC_TIMESTAMP(6)
             WHERE id = ? AND (verify_mail_at IS NULL
                 OR verify_mail_at <= UTC_TIMESTAMP(6) - INTERVAL ? SECOND)",
            (member, LINK_MAIL_EVERY_SECS),
        )
        .await?;
        return Ok((tx.affected_rows() > 0).then_some(0));
    }
    tx.exec_drop(
        "UPDATE member SET verify_mail_at = GREATEST(UTC_TIMESTAMP(6),
             COALESCE(verify_mail_at + INTERVAL ? SECOND, UTC_TIMESTAMP(6)))
         WHERE id = ?",
        (LINK_MAIL_EVERY_SECS, member),
    )
    .await?;
    let delay: Option<Option<i64>> = tx
        .exec_first(
            "SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), verify_mail_at)
             FROM member WHERE id = ?",
            (member,),
        )
        .await?;
    Ok(Some(delay.flatten().unwrap_or(0).max(0)))
}

/// Inside `tx`: the mail for `member`'s pending `address`: a new verification link, or, when
/// another member has the address verified, the mail saying so (no link).
async fn address_letter_in(
    tx: &mut Transaction<'_>,
    outbox: &Outbox,
    member: &str,
    address: &str,
) -> Result<Letter, mysql_async::Error> {
    let taken: Option<u8> = tx
        .exec_first(
            "SELECT 1 FROM member WHERE email_key = ? AND id <> ?",
            (address_key(address), member),
        )
        .await?;
    if taken.is_some() {
        return Ok(Letter::AddressInUse);
    }
    verification_letter_in(tx, outbox, member, address).await
}

/// Inside `tx`: a new verification link of `member` for `address`, as a letter.
async fn verification_letter_in(
    tx: &mut Transaction<'_>,
    outbox: &Outbox,
    member: &str,
    address: &str,
) -> Result<Letter, mysql_async::Error> {
    let token = LinkToken::generate();
    insert_token_in(
        tx,
        &token,
        member,
        PURPOSE_VERIFY,
        address,
        0,
        outbox.verify_ttl,
    )
    .await?;
    Ok(Letter::VerifyAddress {
        username: member.to_owned(),
        link: format!("{}/verify-email/{}", outbox.origin(), token.as_str()),
        valid_for: in_words(outbox.verify_ttl),
    })
}

async fn insert_token_in(
    tx: &mut Transaction<'_>,
    token: &LinkToken,
    member: &str,
    purpose: &str,
    address: &str,
    stamp: i64,
    ttl: std::time::Duration,
) -> Result<(), mysql_async::Error> {
    tx.exec_drop(
        "INSERT INTO email_tokens
             (token_hash, member_id, purpose, address, stamp, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? SECOND)",
        (
            &token.hash()[..],
            member,
            purpose,
            address,
            stamp,
            ttl.as_secs(),
        ),
    )
    .await
}

/// What a request for the pending address's link again did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Queued.
    Queued,
    /// One went out less than a minute ago.
    TooSoon,
    /// There is no pending address.
    NothingPending,
}

/// Queue the pending address's mail again (at most one a minute).
pub async fn resend_verification(
    pool: &Pool,
    outbox: &Outbox,
    member: &str,
) -> Result<Resend, DbError> {
    const OP: &str = "resend verification";
    let outcome = db::transaction(pool, OP, async |tx| {
        let pending: Option<Option<String>> = tx
            .exec_first(
                "SELECT pending_email FROM member WHERE id = ? FOR UPDATE",
                (member,),
            )
            .await
            .map_err(DbError::from_driver(OP))?;
        let Some(pending) = pending.flatten() else {
            return Ok(Resend::NothingPending);
        };
        let turn = take_verify_turn_in(tx, member, false)
            .await
            .map_err(DbError::from_driver(OP))?;
        if turn.is_none() {
            return Ok(Resend::TooSoon);
        }
        let letter = address_letter_in(tx, outbox, member, &pending)
            .await
            .map_err(DbError::from_driver(OP))?;
        outbox
            .queue_in(tx, &pending, &letter)
            .await
            .map_err(DbError::from_driver(OP))?;
        Ok(Resend::Queued)
    })
    .await?;
    outbox.wake();
    Ok(outcome)
}

/// Withdraw `member`'s pending address (its links die with it). Returns whether there was one.
pub async fn withdraw_pending_address(pool: &Pool, member: &str) -> Result<bool, DbError> {
    let changed = db::exec(
        pool,
        "withdraw pending address",
        "UPDATE member SET pending_email = NULL, pending_email_key = NULL
         WHERE id = ? AND pending_email IS NOT NULL",
        (member,),
    )
    .await?;
    Ok(changed > 0)
}

/// Who a live link belongs to, read without consuming it (the page a link opens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOwner {
    /// The member.
    pub member: String,
    /// The member's display name (a new password must not be it).
    pub name: String,
}

/// A live link's row: unused and unexpired, with what its owner's row says now.
struct LiveLink {
    owner: LinkOwner,
    address: String,
    stamp: i64,
    password_hash: String,
    pending_key: Option<Vec<u8>>,
}

/// Live link `hash` of `purpose`, read without consuming it.
async fn live_link(
    pool: &Pool,
    hash: &[u8; 32],
    purpose: &str,
) -> Result<Option<LiveLink>, DbError> {
    const OP: &str = "read a link";
    let row = db::first_row(
        pool,
        OP,
        "SELECT m.id, a.name, t.address, t.stamp, m.password_hash, m.pending_email_key
         FROM email_tokens t
         JOIN member m ON m.id = t.member_id JOIN author a ON a.id = m.author_id
         WHERE t.token_hash = ? AND t.purpose = ? AND t.used_at IS NULL
           AND t.expires_at > UTC_TIMESTAMP(6)",
        (&hash[..], purpose),
    )
    .await?;
    row.map(|mut row| {
        Ok(LiveLink {
            owner: LinkOwner {
                member: db::take(&mut row, 0, OP)?,
                name: db::take(&mut row, 1, OP)?,
            },
            address: db::take(&mut row, 2, OP)?,
            stamp: db::take(&mut row, 3, OP)?,
            password_hash: db::take(&mut row, 4, OP)?,
            pending_key: db::take(&mut row, 5, OP)?,
        })
    })
    .transpose()
}

/// The owner of live verification link `hash`: unused, unexpired, for the current pending
/// address.
pub async fn verification_link(pool: &Pool, hash: &[u8; 32]) -> Result<Option<LinkOwner>, DbError> {
    Ok(live_link(pool, hash, PURPOSE_VERIFY)
        .await?
        .filter(|link| link.pending_key.as_deref() == Some(address_key(&link.address).as_bytes()))
        .map(|link| link.owner))
}

/// The owner of live reset link `hash`: unused, unexpired, and the member's password unchanged
/// since it was made.
pub async fn reset_link(pool: &Pool, hash: &[u8; 32]) -> Result<Option<LinkOwner>, DbError> {
    Ok(live_link(pool, hash, PURPOSE_RESET)
        .await?
        .filter(|link| password_stamp(&link.password_hash) == link.stamp)
        .map(|link| link.owner))
}

/// What following a verification link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The address is `member`'s verified address now.
    Verified {
        /// Whose.
        member: String,
    },
    /// Used, expired, unknown, or for an address no longer pending.
    Dead,
    /// Another member verified the address first.
    TakenMeanwhile,
}

/// Consume verification link `hash` and verify its address, in one transaction: the address
/// becomes the member's (`email_verified`), and a previous verified address gets a notice
/// (`email_changed`).
pub async fn verify_address(
    pool: &Pool,
    outbox: &Outbox,
    hash: &[u8; 32],
    origin: &ClientInfo,
) -> Result<Verification, DbError> {
    const OP: &str = "verify address";
    let outcome = db::transaction(pool, OP, async |tx| {
        let Some((member, address)) = consume_in(tx, hash, PURPOSE_VERIFY)
            .await
            .map_err(DbError::from_driver(OP))?
        else {
            return Ok(Verification::Dead);
        };
        let row: Option<(Option<String>, Option<Vec<u8>>)> = tx
            .exec_first(
                "SELECT email, pending_email_key FROM member WHERE id = ? FOR UPDATE",
                (&member,),
            )
            .await
            .map_err(DbError::from_driver(OP))?;
        let Some((old, pending_key)) = row else {
            return Ok(Verification::Dead);
        };
        if pending_key.as_deref() != Some(address_key(&address).as_bytes()) {
            return Ok(Verification::Dead);
        }
        match promote_pending_in(tx, &member).await {
            Ok(()) => {}
            Err(e) if is_duplicate(&e) => return Ok(Verification::TakenMeanwhile),
            Err(e) => return Err(DbError::from_driver(OP)(e)),
        }
        events::record_event_in(tx, &member, EventKind::EmailVerified, origin)
            .await
            .map_err(DbError::from_driver(OP))?;
        if let Some(old) = old.filter(|old| address_key(old) != address_key(&address)) {
            events::record_event_in(tx, &member, EventKind::EmailChanged, origin)
                .await
                .map_err(DbError::from_driver(OP))?;
            let notice = Letter::AddressChanged {
                username: member.clone(),
                new_address: address.clone(),
            };
            outbox
                .queue_in(tx, &old, &notice)
                .await
                .map_err(DbError::from_driver(OP))?;
        }
        Ok(Verification::Verified { member })
    })
    .await?;
    outbox.wake();
    Ok(outcome)
}

/// Inside `tx`: the pending address becomes the verified one.
async fn promote_pending_in(
    tx: &mut Transaction<'_>,
    member: &str,
) -> Result<(), mysql_async::Error> {
    tx.exec_drop(
        "UPDATE member SET email = pending_email, email_key = pending_email_key,
             pending_email = NULL, pending_email_key = NULL
         WHERE id = ? AND pending_email IS NOT NULL",
        (member,),
    )
    .await
}

/// Inside `tx`: consume live link `hash` of `purpose` (one conditional UPDATE: it works once)
/// and return its member and address.
async fn consume_in(
    tx: &mut Transaction<'_>,
    hash: &[u8; 32],
    purpose: &str,
) -> Result<Option<(String, String)>, mysql_async::Error> {
    tx.exec_drop(
        "UPDATE email_tokens SET used_at = UTC_TIMESTAMP(6)
         WHERE token_hash = ? AND purpose = ? AND used_at IS NULL
           AND expires_at > UTC_TIMESTAMP(6)",
        (&hash[..], purpose),
    )
    .await?;
    if tx.affected_rows() == 0 {
        return Ok(None);
    }
    tx.exec_first(
        "SELECT member_id, address FROM email_tokens WHERE token_hash = ?",
        (&hash[..],),
    )
    .await
}

/// Queue reset links for `address` (typed on `/forgot-password`), in one transaction: to the
/// member whose verified address it is, or, when nobody has it verified, to the members who
/// have it pending. Each member gets at most one a minute and five an hour; each mailed member
/// gets a `password_reset_requested` event. Returns how many mails were queued (the page never
/// tells).
pub async fn request_reset(
    pool: &Pool,
    outbox: &Outbox,
    address: &EmailAddress,
    origin: &ClientInfo,
) -> Result<u32, DbError> {
    const OP: &str = "request password reset";
    if !outbox.is_on() {
        return Ok(0);
    }
    let queued = db::transaction(pool, OP, async |tx| {
        let key = address.key();
        let mut targets: Vec<(String, String, String)> = tx
            .exec(
                "SELECT id, email, password_hash FROM member WHERE email_key = ? FOR UPDATE",
                (&key,),
            )
            .await
            .map_err(DbError::from_driver(OP))?;
        if targets.is_empty() {
            targets = tx
                .exec(
                    "SELECT id, pending_email, password_hash FROM member
                     WHERE pending_email_key = ? ORDER BY id LIMIT ? FOR UPDATE",
                    (&key, PENDING_MATCHES_MAX),
                )
                .await
                .map_err(DbError::from_driver(OP))?;
        }
        let mut queued = 0;
        for (member, to, hash) in targets {
            if queue_reset_in(tx, outbox, &member, &to, &hash, origin)
                .await
                .map_err(DbError::from_driver(OP))?
            {
                queued += 1;
            }
        }
        Ok(queued)
    })
    .await?;
    if queued > 0 {
        outbox.wake();
    }
    Ok(queued)
}

/// Inside `tx`: a reset link of `member` to `to`, unless the member had one this minute or
/// five this hour. Returns whether one was queued.
async fn queue_reset_in(
    tx: &mut Transaction<'_>,
    outbox: &Outbox,
    member: &str,
    to: &str,
    password_hash: &str,
    origin: &ClientInfo,
) -> Result<bool, mysql_async::Error> {
    let this_hour: Option<i64> = tx
        .exec_first(
            "SELECT COUNT(*) FROM email_tokens
             WHERE member_id = ? AND purpose = ? AND created_at > UTC_TIMESTAMP(6) - INTERVAL 1 HOUR",
            (member, PURPOSE_RESET),
        )
        .await?;
    if this_hour.unwrap_or(0) >= RESET_MAILS_PER_HOUR {
        return Ok(false);
    }
    tx.exec_drop(
        "UPDATE member SET reset_mail_at = UTC_TIMESTAMP(6)
         WHERE id = ? AND (reset_mail_at IS NULL
             OR reset_mail_at <= UTC_TIMESTAMP(6) - INTERVAL ? SECOND)",
        (member, LINK_MAIL_EVERY_SECS),
    )
    .await?;
    if tx.affected_rows() == 0 {
        return Ok(false);
    }
    let token = LinkToken::generate();
    insert_token_in(
        tx,
        &token,
        member,
        PURPOSE_RESET,
        to,
        password_stamp(password_hash),
        outbox.reset_ttl,
    )
    .await?;
    let letter = Letter::ResetPassword {
        username: member.to_owned(),
        link: format!("{}/reset-password/{}", outbox.origin(), token.as_str()),
        valid_for: in_words(outbox.reset_ttl),
    };
    outbox.queue_in(tx, to, &letter).await?;
    events::record_event_in(tx, member, EventKind::PasswordResetRequested, origin).await?;
    Ok(true)
}

/// Consume reset link `hash` and set the member's password to `new_hash`, in one transaction:
/// every session of the member is deleted, every outstanding link dies, a reset through a
/// pending address verifies it, the event (`password_reset`) and the notice are written.
/// Returns the member, or `None` for a dead link (used, expired, unknown, or made before the
/// password last changed).
pub async fn reset_password(
    pool: &Pool,
    store: &actix_session_mysql::MySqlSessionStore,
    outbox: &Outbox,
    hash: &[u8; 32],
    new_hash: &str,
    origin: &ClientInfo,
) -> Result<Option<String>, DbError> {
    const OP: &str = "reset password";
    let member = db::transaction(pool, OP, async |tx| {
        let Some((member, address)) = consume_in(tx, hash, PURPOSE_RESET)
            .await
            .map_err(DbError::from_driver(OP))?
        else {
            return Ok(None);
        };
        let row: Option<(String, i64, Option<Vec<u8>>)> = tx
            .exec_first(
                "SELECT m.password_hash, t.stamp, m.pending_email_key
                 FROM member m JOIN email_tokens t ON t.member_id = m.id
                 WHERE m.id = ? AND t.token_hash = ? FOR UPDATE",
                (&member, &hash[..]),
            )
            .await
            .map_err(DbError::from_driver(OP))?;
        let Some((current, stamp, pending_key)) = row else {
            return Ok(None);
        };
        if password_stamp(&current) != stamp {
            return Ok(None);
        }
        tx.exec_drop(
            "UPDATE member SET password_hash = ?, password_changed_at = UTC_TIMESTAMP(6)
             WHERE id = ?",
            (new_hash, &member),
        )
        .await
        .map_err(DbError::from_driver(OP))?;
        store
            .revoke_user_sessions_in(tx, &member, None)
            .await
            .map_err(DbError::from_store(OP))?;
        tx.exec_drop(
            "UPDATE email_tokens SET used_at = UTC_TIMESTAMP(6)
             WHERE member_id = ? AND used_at IS NULL",
            (&member,),
        )
        .await
        .map_err(DbError::from_driver(OP))?;
        // The link reached this address: that proves it is the member's, unless another
        // member has verified it meanwhile (then it simply stays pending).
        if pending_key.as_deref() == Some(address_key(&address).as_bytes()) {
            match promote_pending_in(tx, &member).await {
                Ok(()) => events::record_event_in(tx, &member, EventKind::EmailVerified, origin)
                    .await
                    .map_err(DbError::from_driver(OP))?,
                Err(e) if is_duplicate(&e) => {}
                Err(e) => return Err(DbError::from_driver(OP)(e)),
            }
        }
        events::record_event_in(tx, &member, EventKind::PasswordReset, origin)
            .await
            .map_err(DbError::from_driver(OP))?;
        let notice = Letter::PasswordChanged {
            username: member.clone(),
            by_reset: true,
        };
        outbox
            .notify_member_in(tx, &member, &notice)
            .await
            .map_err(DbError::from_driver(OP))?;
        Ok(Some(member))
    })
    .await?;
    outbox.wake();
    Ok(member)
}

/// Delete links that expired more than an hour ago, in small batches. Returns how many went.
pub async fn purge_old_links(pool: &Pool) -> Result<u64, DbError> {
    let mut total = 0;
    loop {
        let deleted = db::exec(
            pool,
            "purge old links",
            "DELETE FROM email_tokens
             WHERE expires_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND LIMIT ?",
            (USED_LINKS_KEPT_SECS, PURGE_BATCH),
        )
        .await?;
        total += deleted;
        if deleted < u64::from(PURGE_BATCH) {
            return Ok(total);
        }
    }
}

fn is_duplicate(error: &mysql_async::Error) -> bool {
    matches!(error, mysql_async::Error::Server(e) if e.code == ER_DUP_ENTRY)
}

/// MySQL's and MariaDB's "Duplicate entry for key".
const ER_DUP_ENTRY: u16 = 1062;
