//! Members and their authors: every SQL statement about them lives here.

use actix_session::storage::SessionKey;
use actix_session_mysql::{MySqlSessionStore, SessionHandle};
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Transaction};

use super::db::{self, DbError};
use super::email::{self, EmailState};
use super::events::{self, EventKind};
use super::outbox::Outbox;
use super::two_factor::TwoFactor;
use crate::domain::{password_stamp, ClientInfo, EmailAddress, Letter};
use crate::domain::{DisplayName, ProfileText, Username};

/// What a signed-in page shows of a member, and the stamp that ties a session to the
/// member's password. Travels in the session (see `crate::web::session`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The username.
    pub id: String,
    /// The author's display name.
    pub name: String,
    /// The author's profile text, if any.
    pub profile: Option<String>,
    /// [`password_stamp`] of the member's password hash.
    pub password_stamp: i64,
    /// Whether the member signs in with a second factor, and how many recovery codes are left.
    pub two_factor: TwoFactor,
    /// Whether the member has an address (the home page suggests adding one).
    pub email: EmailState,
}

/// What sign-in needs.
#[derive(Debug)]
pub struct Credentials {
    /// The PHC string.
    pub password_hash: String,
    /// The member behind it.
    pub member: Member,
}

/// Registration failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The username is taken.
    #[error("username taken")]
    Taken,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The member `id` with the password hash and whether two-factor sign-in is on, in one
/// statement: a sign-in without two-factor costs what it cost before it existed.
pub async fn member_credentials(pool: &Pool, id: &str) -> Result<Option<Credentials>, DbError> {
    const OP: &str = "find member";
    let row = db::first_row(
        pool,
        OP,
        "SELECT m.id, a.name, a.profile, m.password_hash, t.member_id IS NOT NULL,
                (SELECT COUNT(*) FROM recovery_codes r WHERE r.member_id = m.id),
                m.email IS NOT NULL, m.pending_email IS NOT NULL
         FROM member m JOIN author a ON a.id = m.author_id
         LEFT JOIN two_factor t ON t.member_id = m.id
         WHERE m.id = ?",
        (id,),
    )
    .await?;
    row.map(|mut row| {
        let password_hash: String = db::take(&mut row, 3, OP)?;
        let on: i64 = db::take(&mut row, 4, OP)?;
        let recovery_codes: i64 = db::take(&mut row, 5, OP)?;
        let verified: i64 = db::take(&mut row, 6, OP)?;
        let pending: i64 = db::take(&mut row, 7, OP)?;
        Ok(Credentials {
            member: Member {
                id: db::take(&mut row, 0, OP)?,
                name: db::take(&mut row, 1, OP)?,
                profile: db::take(&mut row, 2, OP)?,
                password_stamp: password_stamp(&password_hash),
                two_factor: if on == 0 {
                    TwoFactor::Off
                } else {
                    TwoFactor::On {
                        recovery_codes: u32::try_from(recovery_codes).unwrap_or(0),
                    }
                },
                email: EmailState::of(verified != 0, pending != 0),
            },
            password_hash,
        })
    })
    .transpose()
}

/// The member `id`, if it still exists.
pub async fn find_member(pool: &Pool, id: &str) -> Result<Option<Member>, DbError> {
    Ok(member_credentials(pool, id).await?.map(|c| c.member))
}

/// Create an author and its member in one transaction. `signed_in` is where the new member
/// signs in from at once (registration): that `signin` event commits with the account, so the
/// activity page starts with it. The command line passes `None`: nobody signs in there. An
/// `email` becomes the member's pending address, its verification mail queued in the same
/// transaction.
pub async fn create_member(
    pool: &Pool,
    outbox: &Outbox,
    username: &Username,
    name: &DisplayName,
    password_hash: &str,
    email: Option<&EmailAddress>,
    signed_in: Option<&ClientInfo>,
) -> Result<Member, CreateError> {
    const OP: &str = "create member";
    let created = db::transaction(pool, OP, async |tx| {
        tx.exec_drop("INSERT INTO author (name) VALUES (?)", (name.as_str(),))
            .await
            .map_err(DbError::from_driver(OP))?;
        let author_id = tx.last_insert_id();
        tx.exec_drop(
            "INSERT INTO member (id, password_hash, author_id, created_at, password_changed_at)
             VALUES (?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
            (username.as_str(), password_hash, author_id),
        )
        .await
        .map_err(DbError::from_driver(OP))?;
        if let Some(origin) = signed_in {
            events::record_event_in(tx, username.as_str(), EventKind::SignIn, origin)
                .await
                .map_err(DbError::from_driver(OP))?;
        }
        if let Some(address) = email.filter(|_| outbox.is_on()) {
            email::set_pending_in(tx, outbox, username.as_str(), address)
                .await
                .map_err(DbError::from_driver(OP))?;
        }
        Ok(())
    })
    .await;
    if created.is_ok() && email.is_some() {
        outbox.wake();
    }
    match created {
        Ok(()) => Ok(Member {
            id: username.as_str().to_owned(),
            name: name.as_str().to_owned(),
            profile: None,
            password_stamp: password_stamp(password_hash),
            two_factor: TwoFactor::Off,
            email: if email.is_some() && outbox.is_on() {
                EmailState::Pending
            } else {
                EmailState::None
            },
        }),
        Err(e) if e.server_code() == Some(ER_DUP_ENTRY) => Err(CreateError::Taken),
        Err(e) => Err(e.into()),
    }
}

/// Store a rehashed (same) password: sessions stay valid.
pub async fn upgrade_hash(pool: &Pool, username: &str, hash: &str) -> Result<(), DbError> {
    const OP: &str = "upgrade password hash";
    db::exec(
        pool,
        OP,
        "UPDATE member SET password_hash = ? WHERE id = ?",
        (hash, username),
    )
    .await
    .map(drop)
}

/// What a password change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordChanged {
    /// The new credential stamp.
    pub stamp: i64,
    /// How many sessions were deleted.
    pub sessions_revoked: u64,
}

/// Store a new password for `username`, delete every session of the member but `keep` (all
/// of them when `None`) and record it (`password_changed`, from `origin`), in one transaction:
/// the new hash never commits while an old session lives on, nor the other way round. Every
/// way of changing a password goes through here (the password form, `user set-password`).
/// Returns `None` if there is no member `username`.
pub async fn change_password(
    pool: &Pool,
    store: &MySqlSessionStore,
    outbox: &Outbox,
    username: &str,
    hash: &str,
    keep: Option<&SessionKey>,
    origin: &ClientInfo,
) -> Result<Option<PasswordChanged>, DbError> {
    const OP: &str = "change password";
    db::transaction(pool, OP, async |tx| {
        tx.exec_drop(
            "UPDATE member SET password_hash = ?, password_changed_at = UTC_TIMESTAMP(6)
             WHERE id = ?",
            (hash, username),
        )
        .await
        .map_err(DbError::from_driver(OP))?;
        if tx.affected_rows() == 0 {
            return Ok(None);
        }
        let sessions_revoked = store
            .revoke_user_sessions_in(tx, username, keep)
            .await
            .map_err(DbError::from_store(OP))?;
        events::record_event_in(tx, username, EventKind::PasswordChanged, origin)
            .await
            .map_err(DbError::from_driver(OP))?;
        let notice = Letter::PasswordChanged {
            username: username.to_owned(),
            by_reset: false,
        };
        outbox
            .notify_member_in(tx, username, &notice)
            .await
            .map_err(DbError::from_driver(OP))?;
        Ok(Some(PasswordChanged {
            stamp: password_stamp(hash),
            sessions_revoked,
        }))
    })
    .await
    .inspect(|_| outbox.wake())
}

/// Store a new display name and profile and record it (`profile_changed`, from `origin`) in
/// one transaction. Returns `false` if there is no member `username`.
pub async fn update_profile(
    pool: &Pool,
    username: &str,
    name: &DisplayName,
    profile: &ProfileText,
    origin: &ClientInfo,
) -> Result<bool, DbError> {
    const OP: &str = "update profile";
    db::transaction(pool, OP, async |tx| {
        // Matched rows, not changed ones (the pool sets CLIENT_FOUND_ROWS): saving the same
        // values still finds the member.
        tx.exec_drop(
            "UPDATE author a JOIN member m ON m.author_id = a.id
             SET a.name = ?, a.profile = ? WHERE m.id = ?",
            (name.as_str(), profile.as_deref(), username),
        )
        .await
        .map_err(DbError::from_driver(OP))?;
        if tx.affected_rows() == 0 {
            return Ok(false);
        }
        events::record_event_in(tx, username, EventKind::ProfileChanged, origin)
            .await
            .map_err(DbError::from_driver(OP))?;
        Ok(true)
    })
    .await
}

/// Sign out one of `username`'s sessions (by its handle) and record it (`session_revoked`)
/// in one transaction. Returns `false`, recording nothing, if the handle is not one of the
/// member's sessions.
pub async fn revoke_session(
    pool: &Pool,
    store: &MySqlSessionStore,
    username: &str,
    handle: &SessionHandle,
    origin: &ClientInfo,
) -> Result<bool, DbError> {
    const OP: &str = "revoke session";
    db::transaction(pool, OP, async |tx| {
        let revoked = store
            .revoke_session_in(tx, username, handle)
            .await
            .map_err(DbError::from_store(OP))?;
        if revoked {
            events::record_event_in(tx, username, EventKind::SessionRevoked, origin)
                .await
                .map_err(DbError::from_driver(OP))?;
        }
        Ok(revoked)
    })
    .await
}

/// Sign out every session of `username` but `keep` and record it (`session_revoked`, if any
/// was) in one transaction. Returns how many were signed out.
pub async fn revoke_other_sessions(
    pool: &Pool,
    store: &MySqlSessionStore,
    username: &str,
    keep: &SessionKey,
    origin: &ClientInfo,
) -> Result<u64, DbError> {
    const OP: &str = "revoke other sessions";
    db::transaction(pool, OP, async |tx| {
        revoke_and_record(tx, store, username, Some(keep), origin, OP).await
    })
    .await
}

/// Sign out every session of `username` and record it (`session_revoked`, if any was), in one
/// transaction. Returns how many were signed out, or `None` if there is no member `username`.
pub async fn revoke_all_sessions(
    pool: &Pool,
    store: &MySqlSessionStore,
    username: &str,
    origin: &ClientInfo,
) -> Result<Option<u64>, DbError> {
    const OP: &str = "revoke all sessions";
    db::transaction(pool, OP, async |tx| {
        let exists: Option<u8> = tx
            .exec_first("SELECT 1 FROM member WHERE id = ?", (username,))
            .await
            .map_err(DbError::from_driver(OP))?;
        if exists.is_none() {
            return Ok(None);
        }
        let revoked = revoke_and_record(tx, store, username, None, origin, OP).await?;
        Ok(Some(revoked))
    })
    .await
}

/// Inside `tx`: sign out every session of `username` but `keep`, and record it
/// (`session_revoked`) if any was. Returns how many were signed out.
async fn revoke_and_record(
    tx: &mut Transaction<'_>,
    store: &MySqlSessionStore,
    username: &str,
    keep: Option<&SessionKey>,
    origin: &ClientInfo,
    op: &'static str,
) -> Result<u64, DbError> {
    let revoked = store
        .revoke_user_sessions_in(tx, username, keep)
        .await
        .map_err(DbError::from_store(op))?;
    if revoked > 0 {
        events::record_event_in(tx, username, EventKind::SessionRevoked, origin)
            .await
            .map_err(DbError::from_driver(op))?;
    }
    Ok(revoked)
}

/// What deleting a member removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    /// Sessions signed out.
    pub sessions: u64,
    /// Security events deleted with the member.
    pub events: u64,
}

/// Delete the member `username`, its author, its sessions, its security events, its links and
/// its two-factor secret and recovery codes, with a notice to its verified address, (through their foreign keys), in one transaction:
/// every device is signed out at once. Returns `None` if there is no member `username`.
pub async fn delete_member(
    pool: &Pool,
    store: &MySqlSessionStore,
    outbox: &Outbox,
    username: &str,
) -> Result<Option<Deleted>, DbError> {
    const OP: &str = "delete member";
    db::transaction(pool, OP, async |tx| {
        let author: Option<u64> = tx
            .exec_first(
                "SELECT author_id FROM member WHERE id = ? FOR UPDATE",
                (username,),
            )
            .await
            .map_err(DbError::from_driver(OP))?;
        let Some(author) = author else {
            return Ok(None);
        };
        // Queued before the member's address goes with the member.
        let notice = Letter::AccountDeleted {
            username: username.to_owned(),
        };
        outbox
            .notify_member_in(tx, username, &notice)
            .await
            .map_err(DbError::from_driver(OP))?;
        let sessions = store
            .revoke_user_sessions_in(tx, username, None)
            .await
            .map_err(DbError::from_store(OP))?;
        // Counted for the report only; the foreign key deletes them with the member.
        let events: Option<u64> = tx
            .exec_first(
                "SELECT COUNT(*) FROM security_events WHERE member_id = ?",
                (username,),
            )
            .await
            .map_err(DbError::from_driver(OP))?;
        tx.exec_drop("DELETE FROM member WHERE id = ?", (username,))
            .await
            .map_err(DbError::from_driver(OP))?;
        tx.exec_drop("DELETE FROM author WHERE id = ?", (author,))
            .await
            .map_err(DbError::from_driver(OP))?;
        Ok(Some(Deleted {
            sessions,
            events: events.unwrap_or(0),
        }))
    })
    .await
    .inspect(|_| outbox.wake())
}

/// MySQL's and MariaDB's "Duplicate entry for key".
const ER_DUP_ENTRY: u16 = 1062;
