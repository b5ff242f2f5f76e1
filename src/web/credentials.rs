//! The one throttled password check, used by sign-in and by every form that asks for the
//! current password.
//!
//! Order matters: an allowance is reserved for the client ([`crate::web::ip_limit`], in
//! memory), the account's turn is taken (`AccountGate`: one check at a time per account
//! and instance), the attempt is counted per account by [`data::count_attempt`] — all before
//! any hashing; then the credentials are read, the password is verified (against a dummy
//! hash for a name nobody has, so unknown accounts cost the same time), and a success clears
//! the throttle, gives the client's allowance back and upgrades an outdated hash.
//!
//! Taking turns per account is what lets a member who double-clicks "Sign in" (or ten tabs
//! that sign in at once) in: the attempts are counted before they are verified, so parallel
//! attempts would otherwise look like a burst of guesses and lock the account, where one
//! after the other each success clears the count for the next. Guesses gain nothing from it:
//! in turn, they get no more verifications than sent one by one.

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

/// Which limit refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The client's (`LOGIN_IP_LIMIT`): nothing says the client had anything to do with the
    /// account it named.
    Client,
    /// The account's (the throttle kept in MySQL).
    Account,
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
    Ok(check(state, client, account, password).await?.0)
}

/// [`check_password`], also saying which limit refused a throttled attempt.
async fn check(
    state: &AppState,
    client: IpAddr,
    account: Option<&str>,
    password: &str,
) -> Result<(PasswordCheck, Option<Refusal>), AppError> {
    let reservation = match state.ip_limit.reserve(client).await {
        Ok(reservation) => reservation,
        Err(wait) => return Ok((PasswordCheck::Throttled(wait), Some(Refusal::Client))),
    };
    let Some(account) = account else {
        state.hasher.verify(password.to_owned(), None).await?;
        return Ok((PasswordCheck::Rejected, None));
    };
    let _turn = state.account_gate.turn(account).await;
    if let Attempt::Locked(wait) = data::count_attempt(&state.pool, account).await? {
        // Refused before any verification: the client's allowance is not spent on it.
        reservation.succeeded();
        return Ok((PasswordCheck::Throttled(wait), Some(Refusal::Account)));
    }
    let credentials = data::member_credentials(&state.pool, account).await?;
    let (stored, member) = match credentials {
        Some(c) => (Some(c.password_hash), Some(c.member)),
        None => (None, None),
    };
    let verdict = state.hasher.verify(password.to_owned(), stored).await?;
    let member = match (verdict, member) {
        (Verdict::Rejected, _) | (_, None) => return Ok((PasswordCheck::Rejected, None)),
        (Verdict::AcceptedRehashed(hash), Some(member)) => {
            data::upgrade_hash(&state.pool, account, &hash).await?;
            Member {
                password_stamp: crate::domain::password_stamp(&hash),
                ..member
            }
        }
        (Verdict::Accepted, Some(member)) => member,
    };
    data::clear_attempts(&state.pool, account).await?;
    reservation.succeeded();
    Ok((PasswordCheck::Accepted(member), None))
}

/// [`check_password`] for a sign-in from `origin`, recorded on the account's activity page:
/// `signin`, `signin_failed` or `signin_throttled` (only for the account's own throttle: a
/// refusal by the client's limit says nothing about the account it named). Each is one
/// statement that writes only if the account exists, so a name nobody has costs the same and
/// the response never tells.
pub async fn check_sign_in(
    state: &AppState,
    client: IpAddr,
    account: Option<&str>,
    password: &str,
    origin: &ClientInfo,
) -> Result<PasswordCheck, AppError> {
    let (check, refusal) = check(state, client, account, password).await?;
    let Some(account) = account else {
        return Ok(check);
    };
    match &check {
        // With two-factor sign-in the sign-in is recorded when the second factor is given.
        PasswordCheck::Accepted(member) if member.two_factor.is_on() => {}
        PasswordCheck::Accepted(member) => {
            let verified = member.email == data::EmailState::Verified;
            data::record_sign_in(&state.pool, &state.outbox, &member.id, verified, origin).await?;
        }
        PasswordCheck::Rejected => {
            data::record_event(&state.pool, account, EventKind::SignInFailed, origin).await?;
        }
        PasswordCheck::Throttled(_) if refusal == Some(Refusal::Account) => {
            data::record_throttled_sign_in(&state.pool, account, origin).await?;
        }
        PasswordCheck::Throttled(_) => {}
    }
    Ok(check)
}
