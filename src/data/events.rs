//! Security events: what happened to a member's account, for the activity page. Every SQL
//! statement about the `security_events` table lives here.
//!
//! An event is written in the same transaction as what it records wherever there is one
//! ([`record_in`]): a password change, a profile change, a revoked session. Sign-in events are
//! written by one statement that inserts only if the account exists ([`record`]), so a name
//! nobody has leaves no row and costs the same statement: the response never tells.

use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Row, Transaction};
use time::PrimitiveDateTime;

use super::db::{self, DbError};
use super::outbox::Outbox;
use crate::domain::{ClientInfo, Letter};

/// How long events are kept.
pub const EVENT_RETENTION_DAYS: u32 = 90;
/// Events per page of the activity page.
pub const EVENT_PAGE_SIZE: usize = 50;
/// Throttled sign-ins on one account are recorded at most once per this many seconds: each
/// refused guess costs the attacker nothing, so one row per guess would let anyone fill the
/// table and bury the member's own events.
pub const THROTTLED_EVERY_SECS: u32 = 60;
/// Rows deleted per statement by the purge: short locks.
const PURGE_BATCH: u32 = 1000;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A successful sign-in.
    SignIn,
    /// A sign-in with a wrong password.
    SignInFailed,
    /// A sign-in refused by the throttle (not verified).
    SignInThrottled,
    /// A sign-out.
    SignOut,
    /// The password was changed (other sessions ended).
    PasswordChanged,
    /// The display name or profile was changed.
    ProfileChanged,
    /// A session was signed out from another device.
    SessionRevoked,
    /// Two-factor sign-in was turned on.
    TwoFactorEnabled,
    /// Two-factor sign-in was turned off (by the member, or on the command line).
    TwoFactorDisabled,
    /// A wrong code at the second step of a sign-in (the password was right).
    TwoFactorFailed,
    /// A recovery code was used to sign in (it is gone now).
    RecoveryCodeUsed,
    /// The verified address changed (recorded when the new one is verified).
    EmailChanged,
    /// An address was verified.
    EmailVerified,
    /// A reset link was mailed.
    PasswordResetRequested,
    /// The password was reset through a mailed link.
    PasswordReset,
}

impl EventKind {
    const ALL: [Self; 15] = [
        Self::SignIn,
        Self::SignInFailed,
        Self::SignInThrottled,
        Self::SignOut,
        Self::PasswordChanged,
        Self::ProfileChanged,
        Self::SessionRevoked,
        Self::TwoFactorEnabled,
        Self::TwoFactorDisabled,
        Self::TwoFactorFailed,
        Self::RecoveryCodeUsed,
        Self::EmailChanged,
        Self::EmailVerified,
        Self::PasswordResetRequested,
        Self::PasswordReset,
    ];

    /// The stored name (also the page's `data-event` attribute).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "signin",
            Self::SignInFailed => "signin_failed",
            Self::SignInThrottled => "signin_throttled",
            Self::SignOut => "signout",
            Self::PasswordChanged => "password_changed",
            Self::ProfileChanged => "profile_changed",
            Self::SessionRevoked => "session_revoked",
            Self::TwoFactorEnabled => "two_factor_enabled",
            Self::TwoFactorDisabled => "two_factor_disabled",
            Self::TwoFactorFailed => "two_factor_failed",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::EmailChanged => "email_changed",
            Self::EmailVerified => "email_verified",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
        }
    }

    /// What the member reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::SignIn => "Signed in",
            Self::SignInFailed => "Failed sign-in (wrong password)",
            Self::SignInThrottled => "Sign-in refused: too many attempts",
            Self::SignOut => "Signed out",
            Self::PasswordChanged => "Password changed",
            Self::ProfileChanged => "Profile changed",
            Self::SessionRevoked => "A device was signed out",
            Self::TwoFactorEnabled => "Two-factor sign-in turned on",
            Self::TwoFactorDisabled => "Two-factor sign-in turned off",
            Self::TwoFactorFailed => "Failed sign-in (wrong authenticator code)",
            Self::RecoveryCodeUsed => "Signed in with a recovery code",
            Self::EmailChanged => "E-mail address changed",
            Self::EmailVerified => "E-mail address confirmed",
            Self::PasswordResetRequested => "Password reset link sent",
            Self::PasswordReset => "Password reset through a mailed link",
        }
    }

    fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == stored)
    }
}

/// One event, as the activity page shows it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The row id (the cursor of the next page).
    pub id: u64,
    /// What happened: the stored name of an [`EventKind`] (see [`Event::label`]).
    pub kind: String,
    /// When, in UTC.
    pub at: PrimitiveDateTime,
    /// From where.
    pub origin: ClientInfo,
}

impl Event {
    /// What the member reads; a kind this version does not know (written by a newer one)
    /// still reads as something that happened on the account.
    pub fn label(&self) -> &'static str {
        EventKind::parse(&self.kind).map_or("Account activity", EventKind::label)
    }
}

/// One page of a member's events, newest first.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// At most [`EVENT_PAGE_SIZE`] events.
    pub events: Vec<Event>,
    /// The cursor of the next (older) page, if there is one.
    pub next: Option<u64>,
    /// Whether this is the newest page.
    pub newest: bool,
}

const INSERT: &str = "INSERT INTO security_events (member_id, kind, occurred_at, ip, user_agent)
     SELECT m.id, ?, UTC_TIMESTAMP(6), ?, ? FROM member m WHERE m.id = ?";

/// Record `kind` for `member_id`, if that member exists (otherwise nothing is written, by the
/// same one statement).
pub async fn record_event(
    pool: &Pool,
    member_id: &str,
    kind: EventKind,
    origin: &ClientInfo,
) -> Result<(), DbError> {
    const OP: &str = "record security event";
    db::exec(
        pool,
        OP,
        INSERT,
        (kind.as_str(), &origin.ip, &origin.user_agent, member_id),
    )
    .await
    .map(drop)
}

/// Record `kind` for `member_id` inside the caller's transaction: the event commits or rolls
/// back with what it records.
pub async fn record_event_in(
    tx: &mut Transaction<'_>,
    member_id: &str,
    kind: EventKind,
    origin: &ClientInfo,
) -> Result<(), mysql_async::Error> {
    tx.exec_drop(
        INSERT,
        (kind.as_str(), &origin.ip, &origin.user_agent, member_id),
    )
    .await
}

/// How many of a member's recent sign-ins are compared with a new one.
const DEVICES_COMPARED: u32 = 500;

/// Record a successful sign-in of `member` from `origin` (`signin`), and, when the member has
/// a verified address and no sign-in of the last [`EVENT_RETENTION_DAYS`] came from the same
/// browser and system, queue a notice, in one transaction. The member row is locked first:
/// two sign-ins from one new device at once queue one notice. A member without a verified
/// address (`verified_address`, as the sign-in just read it) costs the one insert it cost
/// before there was mail.
pub async fn record_sign_in(
    pool: &Pool,
    outbox: &Outbox,
    member: &str,
    verified_address: bool,
    origin: &ClientInfo,
) -> Result<(), DbError> {
    const OP: &str = "record sign-in";
    if !(verified_address && outbox.is_on()) {
        return record_event(pool, member, EventKind::SignIn, origin).await;
    }
    let noticed = db::transaction(pool, OP, async |tx| {
        record_sign_in_in(tx, outbox, member, origin)
            .await
            .map_err(DbError::from_driver(OP))
    })
    .await?;
    if noticed {
        outbox.wake();
    }
    Ok(())
}

/// [`record_sign_in`] inside the caller's transaction. Returns whether a notice was queued.
pub async fn record_sign_in_in(
    tx: &mut Transaction<'_>,
    outbox: &Outbox,
    member: &str,
    origin: &ClientInfo,
) -> Result<bool, mysql_async::Error> {
    let mut noticed = false;
    if outbox.is_on() {
        let address: Option<Option<String>> = tx
            .exec_first(
                "SELECT email FROM member WHERE id = ? FOR UPDATE",
                (member,),
            )
            .await?;
        if let Some(to) = address.flatten() {
            let seen: Vec<String> = tx
                .exec(
                    "SELECT DISTINCT user_agent FROM security_events
                     WHERE member_id = ? AND kind = ?
                       AND occurred_at > UTC_TIMESTAMP(6) - INTERVAL ? DAY
                     LIMIT ?",
                    (
                        member,
                        EventKind::SignIn.as_str(),
                        EVENT_RETENTION_DAYS,
                        DEVICES_COMPARED,
                    ),
                )
                .await?;
            let device = origin.device_family();
            let known = seen
                .iter()
                .any(|ua| ClientInfo::new(String::new(), ua).device_family() == device);
            if !known {
                let (browser, system) = origin.browser_and_os();
                let notice = Letter::NewSignIn {
                    username: member.to_owned(),
                    browser,
                    system,
                    ip: if origin.ip.is_empty() {
                        "an unknown address".to_owned()
                    } else {
                        origin.ip.clone()
                    },
                };
                outbox.queue_in(tx, &to, &notice).await?;
                noticed = true;
            }
        }
    }
    record_event_in(tx, member, EventKind::SignIn, origin).await?;
    Ok(noticed)
}

/// Record a throttled sign-in on `member_id`, unless one was recorded in the last
/// `THROTTLED_EVERY_SECS` (and only if the member exists), in one statement.
pub async fn record_throttled_sign_in(
    pool: &Pool,
    member_id: &str,
    origin: &ClientInfo,
) -> Result<(), DbError> {
    const OP: &str = "record throttled sign-in";
    let kind = EventKind::SignInThrottled.as_str();
    db::exec(
        pool,
        OP,
        "INSERT INTO security_events (member_id, kind, occurred_at, ip, user_agent)
         SELECT m.id, ?, UTC_TIMESTAMP(6), ?, ? FROM member m
         WHERE m.id = ? AND NOT EXISTS (
             SELECT 1 FROM security_events e
             WHERE e.member_id = m.id AND e.kind = ?
               AND e.occurred_at > UTC_TIMESTAMP(6) - INTERVAL ? SECOND)",
        (
            kind,
            &origin.ip,
            &origin.user_agent,
            member_id,
            kind,
            THROTTLED_EVERY_SECS,
        ),
    )
    .await
    .map(drop)
}

/// The page of `member_id`'s events that follows the event `before` (the newest page when
/// `None`). A cursor that leads nowhere — not one of this member's events, or purged since —
/// gives the newest page.
pub async fn event_page(
    pool: &Pool,
    member_id: &str,
    before: Option<u64>,
) -> Result<EventPage, DbError> {
    let page = page_after(pool, member_id, before).await?;
    if before.is_some() && page.events.is_empty() {
        // A page link is only offered when an older event exists, so this is a stale or
        // foreign cursor, not the end of the list.
        return page_after(pool, member_id, None).await;
    }
    Ok(page)
}

async fn page_after(
    pool: &Pool,
    member_id: &str,
    before: Option<u64>,
) -> Result<EventPage, DbError> {
    const OP: &str = "list security events";
    // One more than a page tells whether there is a next one.
    let limit = EVENT_PAGE_SIZE + 1;
    let rows: Vec<Row> = db::bounded(OP, async {
        let mut conn = pool.get_conn().await.map_err(DbError::from_driver(OP))?;
        let rows = match before {
            None => {
                conn.exec(
                    "SELECT id, kind, occurred_at, ip, user_agent FROM security_events
                     WHERE member_id = ?
                     ORDER BY occurred_at DESC, id DESC LIMIT ?",
                    (member_id, limit),
                )
                .await
            }
            // The cursor row is read by primary key in the same statement; newest-first
            // order is (occurred_at, id) descending, so "older" compares both.
            Some(cursor) => {
                conn.exec(
                    "SELECT e.id, e.kind, e.occurred_at, e.ip, e.user_agent
                     FROM security_events c
                     JOIN security_events e ON e.member_id = c.member_id
                     WHERE c.id = ? AND c.member_id = ?
                       AND (e.occurred_at < c.occurred_at
                            OR (e.occurred_at = c.occurred_at AND e.id < c.id))
                     ORDER BY e.occurred_at DESC, e.id DESC LIMIT ?",
                    (cursor, member_id, limit),
                )
                .await
            }
        };
        rows.map_err(DbError::from_driver(OP))
    })
    .await?;
    let mut events = rows
        .into_iter()
        .map(|mut row| {
            Ok(Event {
                id: db::take(&mut row, 0, OP)?,
                kind: db::take(&mut row, 1, OP)?,
                at: db::take(&mut row, 2, OP)?,
                origin: ClientInfo {
                    ip: db::take(&mut row, 3, OP)?,
                    user_agent: db::take(&mut row, 4, OP)?,
                },
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    let next = (events.len() > EVENT_PAGE_SIZE).then(|| {
        events.truncate(EVENT_PAGE_SIZE);
        events.last().map(|e| e.id)
    });
    Ok(EventPage {
        events,
        next: next.flatten(),
        newest: before.is_none(),
    })
}

/// Delete events older than [`EVENT_RETENTION_DAYS`], in batches on the `occurred_at` index until
/// none is left. Several app instances running it at once just share the work. Returns how
/// many rows were deleted.
pub async fn purge_old_events(pool: &Pool) -> Result<u64, DbError> {
    const OP: &str = "purge old security events";
    let mut total = 0;
    loop {
        let deleted = db::exec(
            pool,
            OP,
            "DELETE FROM security_events
             WHERE occurred_at < UTC_TIMESTAMP(6) - INTERVAL ? DAY
             ORDER BY occurred_at LIMIT ?",
            (EVENT_RETENTION_DAYS, PURGE_BATCH),
        )
        .await?;
        total += deleted;
        if deleted < u64::from(PURGE_BATCH) {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn kinds_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            // The `kind` column is VARCHAR(32) (V6).
            assert!(kind.as_str().len() <= 32, "{}", kind.as_str());
        }
        assert_eq!(EventKind::parse("nonsense"), None);
    }
}
