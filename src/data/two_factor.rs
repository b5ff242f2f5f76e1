//! Two-factor sign-in: every SQL statement about the `two_factor` and `recovery_codes` tables
//! (sql/V5__two_factor.sql).
//!
//! What is stored is sealed or hashed by [`crate::domain`] before it gets here; this module
//! never sees a secret or a recovery code in the clear.
//!
//! - A code is accepted by raising the member's `last_step` in one statement (`… WHERE
//!   last_step < ?`, one row affected): two requests with the same code, through two instances
//!   or two cluster nodes, cannot both raise it.
//! - A recovery code is used by deleting its row (one row affected): it works once.
//! - Wrong codes count in the sign-in throttle ([`super::throttle`]) under a name of their own
//!   per account, `NAME#code`: a right password clears the password's count, and must not
//!   clear the code guesses of someone who knows it.
//!
//! The e-mail notices (two-factor sign-in on or off, a recovery code used) are queued in the
//! transaction of the event they tell of.

use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Transaction};

use super::db::{self, DbError};
use super::events::{self, EventKind};
use super::outbox::Outbox;
use super::throttle::{self, Attempt};
use crate::domain::{ClientInfo, Letter};

/// Whether a member signs in with a second factor, as pages show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TwoFactor {
    /// Password only.
    #[default]
    Off,
    /// A code (or a recovery code) after the password.
    On {
        /// Recovery codes not yet used.
        recovery_codes: u32,
    },
}

impl TwoFactor {
    /// Whether it is on.
    pub fn is_on(self) -> bool {
        matches!(self, Self::On { .. })
    }
}

/// A member's sealed secret and the step of the last code accepted.
#[derive(Clone)]
pub struct TwoFactorSecret {
    /// The secret, sealed ([`crate::domain::TotpKeys::seal`]).
    pub sealed: Vec<u8>,
    /// The 30-second step of the last code accepted (0: none yet).
    pub last_step: u64,
}

impl std::fmt::Debug for TwoFactorSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactorSecret")
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// The throttle's name for code guesses on `member` (`#` is in no username).
fn code_account(member: &str) -> String {
    format!("{member}#code")
}

/// Count a code attempt on `member` and decide whether it may be checked (one upsert, before
/// the check, as for passwords).
pub async fn count_code_attempt(pool: &Pool, member: &str) -> Result<Attempt, DbError> {
    throttle::count_attempt(pool, &code_account(member)).await
}

/// Forget the code attempts on `member` after a right code.
pub async fn clear_code_attempts(pool: &Pool, member: &str) -> Result<(), DbError> {
    throttle::clear_attempts(pool, &code_account(member)).await
}

/// `member`'s sealed secret, if two-factor sign-in is on.
pub async fn two_factor_secret(
    pool: &Pool,
    member: &str,
) -> Result<Option<TwoFactorSecret>, DbError> {
    const OP: &str = "read two-factor secret";
    let row = db::first_row(
        pool,
        OP,
        "SELECT secret, last_step FROM two_factor WHERE member_id = ?",
        (member,),
    )
    .await?;
    row.map(|mut row| {
        Ok(TwoFactorSecret {
            sealed: db::take(&mut row, 0, OP)?,
            last_step: db::take(&mut row, 1, OP)?,
        })
    })
    .transpose()
}

/// Turn two-factor sign-in on for `member` with `sealed` (confirmed by the code of `step`,
/// which is thereby used) and the recovery codes `hashes`, and record it (`two_factor_enabled`),
/// in one transaction. Returns `false`, changing nothing, if it is on already or there is no
/// member `member`.
pub async fn enable_two_factor(
    pool: &Pool,
    outbox: &Outbox,
    member: &str,
    sealed: &[u8],
    step: u64,
    hashes: &[[u8; 32]],
    origin: &ClientInfo,
) -> Result<bool, DbError> {
    const OP: &str = "enable two-factor sign-in";
    db::transaction(pool, OP, async |tx| {
        tx.exec_drop(
            "INSERT INTO two_factor (member_id, secret, last_step, enabled_at)
             SELECT m.id, ?, ?, UTC_TIMESTAMP(6) FROM member m
             WHERE m.id = ? AND NOT EXISTS (SELECT 1 FROM two_factor t WHERE t.member_id = m.id)",
            (sealed, step, member),
        )
        .await
        .map_err(DbError::from_driver(OP))?;
        if tx.affected_rows() == 0 {
            return Ok(false);
        }
        insert_codes(tx, member, hashes)
            .await
            .map_err(DbError::from_driver(OP))?;
        events::record_event_in(tx, member, EventKind::TwoFactorEnabled, origin)
            .await
            .map_err(DbError::from_driver(OP))?;
        let notice = Letter::TwoFactor {
            username: member.to_owned(),
            on: true,
        };
        outbox
            .notify_member_in(tx, member, &notice)
            .await
            .map_err(DbError::from_driver(OP))?;
        Ok(true)
    })
    .await
    .inspect(|_| outbox.wake())
}

/// Turn two-factor sign-in off for `member` (the secret and every recovery code go) and record
/// it (`two_factor_disabled`, from `origin`: the member, or the command line), in one
/// transaction. Returns `false`, recording nothing, if it was not on.
pub async fn disable_two_factor(
    pool: &Pool,
    outbox: &Outbox,
    member: &str,
    origin: &ClientInfo,
) -> Result<bool, DbError> {
    const OP: &str = "disable two-factor sign-in";
    db::transaction(pool, OP, async |tx| {
        tx.exec_drop("DELETE FROM two_factor WHERE member_id = ?", (member,))
            .await
            .map_err(DbError::from_driver(OP))?;
        if tx.affected_rows() == 0 {
            return Ok(false);
        }
        events::record_event_in(tx, member, EventKind::TwoFactorDisabled, origin)
            .await
            .map_err(DbError::from_driver(OP))?;
        let notice = Letter::TwoFactor {
            username: member.to_owned(),
            on: false,
        };
        outbox
            .notify_member_in(tx, member, &notice)
            .await
            .map_err(DbError::from_driver(OP))?;
        Ok(true)
    })
    .await
    .inspect(|_| outbox.wake())
}

/// Replace `member`'s recovery codes with `hashes` (the old ones die), in one transaction.
/// Returns `false`, changing nothing, if two-factor sign-in is not on.
pub async fn replace_recovery_codes(
    pool: &Pool,
    member: &str,
    hashes: &[[u8; 32]],
) -> Result<bool, DbError> {
    const OP: &str = "replace recovery codes";
    db::transaction(pool, OP, async |tx| {
        let on: Option<u8> = tx
            .exec_first(
                "SELECT 1 FROM two_factor WHERE member_id = ? FOR UPDATE",
                (member,),
            )
            .await
            .map_err(DbError::from_driver(OP))?;
        if on.is_none() {
            return Ok(false);
        }
        tx.exec_drop("DELETE FROM recovery_codes WHERE member_id = ?", (member,))
            .await
            .map_err(DbError::from_driver(OP))?;
        insert_codes(tx, member, hashes)
            .await
            .map_err(DbError::from_driver(OP))?;
        Ok(true)
    })
    .await
}

async fn insert_codes(
    tx: &mut Transaction<'_>,
    member: &str,
    hashes: &[[u8; 32]],
) -> Result<(), mysql_async::Error> {
    tx.exec_batch(
        "INSERT INTO recovery_codes (member_id, code_hash) VALUES (?, ?)",
        hashes.iter().map(|hash| (member, &hash[..])),
    )
    .await
}

/// Accept the code of `step` for `member`'s sign-in: raise `last_step` to it, and record the
/// sign-in (`signin`), in one transaction. `reseal`, when given, replaces the stored secret
/// (sealed again under the current key, after a key rotation). Returns `false`, changing
/// nothing, if a code of this step or a later one was accepted already (a replay, maybe
/// through another instance) or two-factor sign-in is off.
pub async fn use_code_step(
    pool: &Pool,
    outbox: &Outbox,
    member: &str,
    step: u64,
    reseal: Option<&[u8]>,
    origin: &ClientInfo,
) -> Result<bool, DbError> {
    const OP: &str = "use a two-factor code";
    db::transaction(pool, OP, async |tx| {
        tx.exec_drop(
            "UPDATE two_factor SET last_step = ?, secret = COALESCE(?, secret)
             WHERE member_id = ? AND last_step < ?",
            (step, reseal, member, step),
        )
        .await
        .map_err(DbError::from_driver(OP))?;
        if tx.affected_rows() != 1 {
            return Ok(false);
        }
        events::record_sign_in_in(tx, outbox, member, origin)
            .await
            .map_err(DbError::from_driver(OP))?;
        Ok(true)
    })
    .await
    .inspect(|_| outbox.wake())
}

/// Use the recovery code of `hash` for `member`'s sign-in: delete it, and record
/// `recovery_code_used` and the sign-in, in one transaction. Returns `false`, changing
/// nothing, if `member` has no such unused code.
pub async fn use_recovery_code(
    pool: &Pool,
    outbox: &Outbox,
    member: &str,
    hash: &[u8; 32],
    origin: &ClientInfo,
) -> Result<bool, DbError> {
    const OP: &str = "use a recovery code";
    db::transaction(pool, OP, async |tx| {
        tx.exec_drop(
            "DELETE FROM recovery_codes WHERE member_id = ? AND code_hash = ?",
            (member, &hash[..]),
        )
        .await
        .map_err(DbError::from_driver(OP))?;
        if tx.affected_rows() != 1 {
            return Ok(false);
        }
        events::record_event_in(tx, member, EventKind::RecoveryCodeUsed, origin)
            .await
            .map_err(DbError::from_driver(OP))?;
        let left: Option<i64> = tx
            .exec_first(
                "SELECT COUNT(*) FROM recovery_codes WHERE member_id = ?",
                (member,),
            )
            .await
            .map_err(DbError::from_driver(OP))?;
        let notice = Letter::RecoveryCodeUsed {
            username: member.to_owned(),
            left: u32::try_from(left.unwrap_or(0)).unwrap_or(0),
        };
        outbox
            .notify_member_in(tx, member, &notice)
            .await
            .map_err(DbError::from_driver(OP))?;
        events::record_sign_in_in(tx, outbox, member, origin)
            .await
            .map_err(DbError::from_driver(OP))?;
        Ok(true)
    })
    .await
    .inspect(|_| outbox.wake())
}
