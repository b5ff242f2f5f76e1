//! The one throttled password check, used by sign-in and by the change-password form.
//!
//! Order matters: the attempt is counted (and possibly refused) per client IP, in memory
//! ([`crate::web::ip_limit`]), then per account by [`data::count_attempt`], before any hashing; then
//! the credentials are read, the password is verified (against a dummy hash for a name nobody
//! has, so unknown accounts cost the same time), and a success clears the throttle and
//! upgrades an outdated hash.

use std::net::IpAddr;
use std::time::Duration;

use crate::data::{self, Attempt, EventKind, Member};
use crate::domain::ClientInfo;
use crate::domain::Verdict;
use crate::web::errors::AppError;
use crate::web::state::AppState;

/// What a password check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password is right; this is the member (with the stamp of the hash now stored).
    Accepted(Member),
    /// Wrong password, or no such member (the caller cannot tell, and must not say).
    Rejected,
    /// Too many recent attempts on this account or from this client IP: not verified. Try
    /// again after this long.
    Throttled(Duration),
}

/// Check `password` from `client` for `account`, a canonical username (see [`crate::domain::Username`]), or
/// `None` for a name that cannot exist: that is verified against the dummy hash and rejected,
/// so it costs what a real account costs and never reaches one.
pub async fn check_password(
    state: &AppState,
    client: IpAddr,
    account: Option<&str>,
    password: &str,
) -> Result<PasswordCheck, AppError> {
    if let Err(wait) = state.ip_limit.attempt(client) {
        return Ok(PasswordCheck::Throttled(wait));
    }
    let Some(account) = account else {
        state.hasher.verify(password.to_owned(), None).await?;
        return Ok(PasswordCheck::Rejected);
    };
    if let Attempt::Locked(wait) = data::count_attempt(&state.pool, account).await? {
        return Ok(PasswordCheck::Throttled(wait));
    }
    let credentials = data::member_credentials(&state.pool, account).await?;
    let (stored, member) = match credentials {
        Some(c) => (Some(c.password_hash), Some(c.member)),
        None => (None, None),
    };
    let verdict = state.hasher.verify(password.to_owned(), stored).await?;
    let member = match (verdict, member) {
        (Verdict::Rejected, _) | (_, None) => return Ok(PasswordCheck::Rejected),
        (Verdict::AcceptedRehashed(hash), Some(member)) => {
            data::upgrade_hash(&state.pool, account, &hash).await?;
            Member {
                password_stamp: data::password_stamp(&hash),
                ..member
            }
        }
        (Verdict::Accepted, Some(member)) => member,
    };
    data::clear_attempts(&state.pool, account).await?;
    Ok(PasswordCheck::Accepted(member))
}

/// [`check_password`] for a sign-in from `origin`, recorded on the account's activity page:
/// `signin`, `signin_failed` or `signin_throttled`. Each is one statement that writes only if
/// the account exists, so a name nobody has costs the same and the response never tells.
pub async fn check_sign_in(
    state: &AppState,
    client: IpAddr,
    account: Option<&str>,
    password: &str,
    origin: &ClientInfo,
) -> Result<PasswordCheck, AppError> {
    let check = check_password(state, client, account, password).await?;
    let Some(account) = account else {
        return Ok(check);
    };
    match &check {
        // With two-factor sign-in the sign-in is recorded when the second factor is given.
        PasswordCheck::Accepted(member) if member.two_factor.is_on() => {}
        PasswordCheck::Accepted(member) => {
            data::record_event(&state.pool, &member.id, EventKind::SignIn, origin).await?;
        }
        PasswordCheck::Rejected => {
            data::record_event(&state.pool, account, EventKind::SignInFailed, origin).await?;
        }
        PasswordCheck::Throttled(_) => {
            data::record_throttled_sign_in(&state.pool, account, origin).await?
        }
    }
    Ok(check)
}
