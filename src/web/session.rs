//! [`TypedSession`]: every key the app keeps in a session, behind one type.
//!
//! A signed-in session holds, besides actix-identity's user id and login time:
//! - `csrf`: the session-bound CSRF token (see [`super::csrf`]), new with every session id;
//! - `member`: a snapshot of what pages show of the member (display name, profile), the
//!   member's password stamp, and when the snapshot was last checked against the member row.
//!   A signed-in page view then costs one database round trip (the session row); the member
//!   row is re-read at most once per touch interval, which also ends a session whose password
//!   changed or whose member is gone (see [`super::guard`]);
//! - `ua`, `ip`: the device it was opened from, for the devices page;
//! - `until`: its absolute deadline (Unix seconds): sign-in + `SESSION_ABSOLUTE_TIMEOUT`, or
//!   + `REMEMBER_FOR` for a remembered one, checked by the guard (see [`Lifetime`]);
//! - [`TTL_KEY`] (the store's): the row's own TTL in seconds, for a remembered session
//!   (`REMEMBER_FOR`) and a half signed-in one (5 minutes); the cookie's `Max-Age` follows it
//!   ([`session_cookie_max_age`]);
//! - `flash`: a one-time message for the next page;
//! - `totp_setup`: a two-factor secret waiting to be confirmed, sealed with the TOTP key (the
//!   session row never holds it in the clear).
//!
//! A *half signed-in* session (the password was right, the second factor is still to come)
//! holds only `pending` (who, where to go next, whether to remember, since when) and its TTL:
//! no identity, so every signed-in page treats it as anonymous.
//!
//! No other module names a session key: a new field is added here, with its accessor.

use std::future::{ready, Ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_identity::Identity;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_session::storage::{SessionKey, SessionStore};
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_session_mysql::{SessionRecord, TTL_KEY};
use actix_web::body::MessageBody;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, CookieJar, Key, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::client::client_info;
use super::errors::AppError;
use crate::data::{EmailState, Member, TwoFactor};
use crate::domain::{random_token, ClientInfo};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sid";

const CSRF: &str = "csrf";
const MEMBER: &str = "member";
const USER_AGENT: &str = "ua";
const IP: &str = "ip";
const FLASH: &str = "flash";
const UNTIL: &str = "until";
const PENDING: &str = "pending";
const TOTP_SETUP: &str = "totp_setup";

/// How long a half signed-in session waits for its second factor.
pub const SECOND_FACTOR_WINDOW: Duration = Duration::from_secs(5 * 60);

/// How long a session lasts: the absolute deadline it gets at sign-in, and whether it is
/// remembered ("keep me signed in": a row TTL and a cookie `Max-Age` of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// A browser-session cookie, the store's idle timeout, this absolute timeout.
    Browser(Duration),
    /// Idle and absolute timeout both this long; the cookie lasts as long.
    Remembered(Duration),
}

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// The member whose password was right.
    #[serde(rename = "m")]
    pub member: String,
    /// Where to go once signed in (already a safe local path).
    pub next: String,
    /// Whether "keep me signed in" was ticked.
    pub remember: bool,
    /// When the password was checked (Unix seconds).
    at: u64,
}
/// The session middleware over `store`, with the one cookie policy of the app: `sid`,
/// `HttpOnly`, `SameSite=Lax`, `Path=/`, no `Domain`, `Secure` when `secure` (production),
/// contents encrypted with `key` (`Private`: `current_session_key` relies on it), a
/// browser-session cookie, and the store's TTL `idle` sliding with every request (the store
/// writes it at most once per touch interval).
pub fn session_middleware<S: SessionStore>(
    store: S,
    key: Key,
    secure: bool,
    idle: Duration,
) -> SessionMiddleware<S> {
    SessionMiddleware::builder(store, key)
        .cookie_name(SESSION_COOKIE.to_owned())
        .cookie_path("/".to_owned())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(secure)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(
            BrowserSession::default()
                .state_ttl(cookie_duration(idle))
                .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
        )
        .build()
}

fn cookie_duration(d: Duration) -> CookieDuration {
    CookieDuration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A sign-in in this request: once its session row is saved, the member keeps at most the
/// cap of sessions (see `crate::web::cap`).
#[derive(Debug, Clone)]
pub(crate) struct SignedIn(pub(crate) String);

/// This request's session, read and written through typed accessors.
#[derive(Clone)]
pub struct TypedSession(Session);

impl std::fmt::Debug for TypedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state holds the CSRF token: never printed.
        f.write_str("TypedSession")
    }
}

impl FromRequest for TypedSession {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

impl TypedSession {
    /// The session of `req` (as loaded by the session middleware).
    pub fn of(req: &HttpRequest) -> Self {
        Self(req.get_session())
    }

    /// The session-bound CSRF token; `None` for an anonymous visitor.
    pub fn csrf_token(&self) -> Option<String> {
        self.0.get(CSRF).ok().flatten()
    }

    /// The member snapshot, if this session has one for `user_id`.
    pub fn member(&self, user_id: &str, now: SystemTime) -> Option<MemberSnapshot> {
        let stored: StoredMember = self.0.get(MEMBER).ok().flatten()?;
        let checked = UNIX_EPOCH + Duration::from_secs(stored.checked);
        Some(MemberSnapshot {
            age: now.duration_since(checked).unwrap_or_default(),
            member: Member {
                id: user_id.to_owned(),
                name: stored.name,
                profile: stored.profile,
                password_stamp: stored.stamp,
                two_factor: match stored.two_factor {
                    None => TwoFactor::Off,
                    Some(recovery_codes) => TwoFactor::On { recovery_codes },
                },
                email: match stored.email {
                    1 => EmailState::Pending,
                    2 => EmailState::Verified,
                    _ => EmailState::None,
                },
            },
        })
    }

    /// Store `member` as this session's snapshot, checked `now`.
    pub fn remember_member(&self, member: &Member, now: SystemTime) -> Result<(), AppError> {
        let checked = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        self.0.insert(
            MEMBER,
            StoredMember {
                name: member.name.clone(),
                profile: member.profile.clone(),
                stamp: member.password_stamp,
                checked,
                two_factor: match member.two_factor {
                    TwoFactor::Off => None,
                    TwoFactor::On { recovery_codes } => Some(recovery_codes),
                },
                email: stored_email(member.email),
            },
        )?;
        Ok(())
    }

    /// Show the member's address state on this session's pages at once, after it changed.
    pub fn remember_email(&self, email: EmailState) -> Result<(), AppError> {
        let Some(mut stored) = self.0.get::<StoredMember>(MEMBER)? else {
            return Ok(());
        };
        stored.email = stored_email(email);
        self.0.insert(MEMBER, stored)?;
        Ok(())
    }

    /// Show `name` and `profile` on this session's pages at once, after the member changed
    /// them. The snapshot keeps its check time: the member row is still re-read (and a changed
    /// password still noticed) on the usual schedule.
    pub fn remember_profile(&self, name: &str, profile: Option<&str>) -> Result<(), AppError> {
        let Some(mut stored) = self.0.get::<StoredMember>(MEMBER)? else {
            return Ok(());
        };
        stored.name = name.to_owned();
        stored.profile = profile.map(str::to_owned);
        self.0.insert(MEMBER, stored)?;
        Ok(())
    }

    /// Show the member's two-factor state on this session's pages at once, after it changed.
    pub fn remember_two_factor(&self, two_factor: TwoFactor) -> Result<(), AppError> {
        let Some(mut stored) = self.0.get::<StoredMember>(MEMBER)? else {
            return Ok(());
        };
        stored.two_factor = match two_factor {
            TwoFactor::Off => None,
            TwoFactor::On { recovery_codes } => Some(recovery_codes),
        };
        self.0.insert(MEMBER, stored)?;
        Ok(())
    }

    /// Start a fresh signed-in session for `member`: nothing of a previous session survives
    /// (a half signed-in state included), the session gets a new id (fixation-proof) and a new
    /// CSRF token, and lasts `lifetime`.
    pub fn sign_in(
        &self,
        req: &HttpRequest,
        member: &Member,
        lifetime: Lifetime,
    ) -> Result<(), AppError> {
        self.0.clear();
        Identity::login(&req.extensions(), member.id.clone())
            .map_err(|e| AppError::Internal(anyhow::anyhow!("identity login failed: {e}")))?;
        self.0.insert(CSRF, random_token())?;
        let now = SystemTime::now();
        let absolute = match lifetime {
            Lifetime::Browser(absolute) => absolute,
            Lifetime::Remembered(ttl) => {
                self.0.insert(TTL_KEY, ttl.as_secs())?;
                ttl
            }
        };
        self.0.insert(UNTIL, unix_secs(now + absolute))?;
        self.remember_member(member, now)?;
        // The same IP and bounded user agent as the activity page records.
        let client = client_info(req);
        self.0.insert(USER_AGENT, client.user_agent)?;
        self.0.insert(IP, client.ip)?;
        req.extensions_mut().insert(SignedIn(member.id.clone()));
        Ok(())
    }

    /// Whether this session is past its absolute deadline (or has none: it was made before
    /// deadlines were kept, and ends like a malformed one).
    pub fn past_deadline(&self, now: SystemTime) -> bool {
        self.0
            .get::<u64>(UNTIL)
            .ok()
            .flatten()
            .is_none_or(|until| unix_secs(now) >= until)
    }

    /// The password of `member` was right and a second factor is due: the session becomes
    /// half signed in, under a new id, with nothing of what it held before, for
    /// [`SECOND_FACTOR_WINDOW`] (its row's TTL and its cookie's `Max-Age` too).
    pub fn begin_second_factor(
        &self,
        member: &str,
        next: &str,
        remember: bool,
    ) -> Result<(), AppError> {
        self.0.clear();
        self.0.renew();
        self.0.insert(
            PENDING,
            PendingSignIn {
                member: member.to_owned(),
                next: next.to_owned(),
                remember,
                at: unix_secs(SystemTime::now()),
            },
        )?;
        self.0.insert(TTL_KEY, SECOND_FACTOR_WINDOW.as_secs())?;
        Ok(())
    }

    /// The sign-in waiting for its second factor, unless there is none or it is older than
    /// [`SECOND_FACTOR_WINDOW`].
    pub fn pending_sign_in(&self, now: SystemTime) -> Option<PendingSignIn> {
        let pending: PendingSignIn = self.0.get(PENDING).ok().flatten()?;
        (unix_secs(now) < pending.at.saturating_add(SECOND_FACTOR_WINDOW.as_secs()))
            .then_some(pending)
    }

    /// A two-factor secret waiting to be confirmed, sealed (see [`crate::domain::TotpKeys`]).
    pub fn pending_totp_secret(&self) -> Option<String> {
        self.0.get(TOTP_SETUP).ok().flatten()
    }

    /// Keep `sealed`, a new two-factor secret, until its first code confirms it.
    pub fn set_pending_totp_secret(&self, sealed: &str) -> Result<(), AppError> {
        Ok(self.0.insert(TOTP_SETUP, sealed)?)
    }

    /// The secret waiting to be confirmed is confirmed (or abandoned): it goes.
    pub fn clear_pending_totp_secret(&self) {
        if self.0.contains_key(TOTP_SETUP) {
            self.0.remove(TOTP_SETUP);
        }
    }

    /// After a password change: a new session id, a new CSRF token, the new stamp.
    pub fn renew_after_password_change(&self, member: &Member) -> Result<(), AppError> {
        self.0.renew();
        self.0.insert(CSRF, random_token())?;
        self.remember_member(member, SystemTime::now())
    }

    /// Leave a one-time message for the next page.
    pub fn flash(&self, message: &str) -> Result<(), AppError> {
        Ok(self.0.insert(FLASH, message)?)
    }

    /// Take the one-time message, if any (a read-only page stays write-free without one).
    pub fn take_flash(&self) -> Option<String> {
        // `remove` marks the session changed even for an absent key: look first.
        if !self.0.contains_key(FLASH) {
            return None;
        }
        self.0.remove_as::<String>(FLASH).and_then(Result::ok)
    }
}

/// The member as a session remembers it.
#[derive(Debug, Clone)]
pub struct MemberSnapshot {
    /// The member (its id is the identity's user id).
    pub member: Member,
    /// How long ago the snapshot was checked against the member row.
    pub age: Duration,
}

/// The snapshot's stored form: short names, since it is in every session row.
#[derive(Serialize, Deserialize)]
struct StoredMember {
    name: String,
    profile: Option<String>,
    stamp: i64,
    /// Seconds since the Unix epoch.
    checked: u64,
    /// Two-factor sign-in: `None` off, else the recovery codes left.
    #[serde(default, rename = "tf")]
    two_factor: Option<u32>,
    /// The address: 0 none, 1 pending, 2 verified.
    #[serde(default, rename = "em")]
    email: u8,
}

fn stored_email(email: EmailState) -> u8 {
    match email {
        EmailState::None => 0,
        EmailState::Pending => 1,
        EmailState::Verified => 2,
    }
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The `Max-Age` this request's session cookie is to carry, found by
/// [`mark_session_lifetime`].
#[derive(Debug, Clone, Copy)]
struct CookieMaxAge(i64);

/// Inside the session middleware: after the handler, note whether the session (as it will be
/// saved) has a lifetime of its own — remembered, or half signed in — and how much of it is
/// left, for [`session_cookie_max_age`] on the way out.
pub async fn mark_session_lifetime(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let session = response.request().get_session();
    if let Ok(Some(ttl)) = session.get::<i64>(TTL_KEY) {
        let left = match session.get::<u64>(UNTIL) {
            Ok(Some(until)) => {
                let left = until.saturating_sub(unix_secs(SystemTime::now()));
                ttl.min(i64::try_from(left).unwrap_or(i64::MAX))
            }
            _ => ttl,
        };
        response
            .response_mut()
            .extensions_mut()
            .insert(CookieMaxAge(left.max(1)));
    }
    Ok(response)
}

/// Outside the session middleware: give the `sid` cookie actix-session sets the `Max-Age`
/// that [`mark_session_lifetime`] found, so a remembered session's cookie outlives the
/// browser and a half signed-in one's dies with its row. actix-session sets one cookie policy
/// for every session (a browser-session cookie here); every other session keeps it, and a
/// removal cookie is left alone.
pub async fn session_cookie_max_age(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let Some(CookieMaxAge(secs)) = response
        .response()
        .extensions()
        .get::<CookieMaxAge>()
        .copied()
    else {
        return Ok(response);
    };
    let headers = response.headers_mut();
    let cookies: Vec<HeaderValue> = headers.get_all(header::SET_COOKIE).cloned().collect();
    if !cookies.iter().any(|c| is_session_cookie(c).is_some()) {
        return Ok(response);
    }
    headers.remove(header::SET_COOKIE);
    for value in cookies {
        let value = match is_session_cookie(&value) {
            Some(mut cookie) if cookie.max_age().is_none() => {
                cookie.set_max_age(CookieDuration::seconds(secs));
                HeaderValue::from_str(&cookie.encoded().to_string()).unwrap_or(value)
            }
            _ => value,
        };
        headers.append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `value` as a cookie, if it is the session cookie.
fn is_session_cookie(value: &HeaderValue) -> Option<Cookie<'static>> {
    let cookie = Cookie::parse_encoded(value.to_str().ok()?.to_owned()).ok()?;
    (cookie.name() == SESSION_COOKIE).then_some(cookie)
}

/// The cookie that carries a one-time message to the sign-in page when there is no session
/// left to carry it (the account was just deleted). Its value is a code, never text: a page
/// only shows messages of its own.
const FAREWELL_COOKIE: &str = "farewell";

/// Messages the sign-in page shows from [`FAREWELL_COOKIE`], by [`LoginNotice`].
const FAREWELLS: [(&str, &str); 3] = [
    (
        "account-deleted",
        "Your account has been deleted and every device signed out.",
    ),
    (
        "password-reset",
        "Your password has been changed and every device signed out. Sign in with the new one.",
    ),
    (
        "email-verified",
        "Your e-mail address is confirmed. Sign in to continue.",
    ),
];

/// A one-time message for the sign-in page, for a visitor with no session to carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginNotice {
    /// The account was deleted.
    AccountDeleted = 0,
    /// The password was reset through a mailed link.
    PasswordReset = 1,
    /// An address was verified by a visitor who is not signed in.
    EmailVerified = 2,
}

/// `response` with the one-time "account deleted" message for the sign-in page.
pub fn with_account_deleted_message(response: HttpResponse, secure: bool) -> HttpResponse {
    with_login_notice(response, LoginNotice::AccountDeleted, secure)
}

/// `response` with the one-time `notice` for the sign-in page.
pub fn with_login_notice(
    mut response: HttpResponse,
    notice: LoginNotice,
    secure: bool,
) -> HttpResponse {
    let cookie = Cookie::build(FAREWELL_COOKIE, FAREWELLS[notice as usize].0)
        .path("/login")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::minutes(5))
        .finish();
    let _ = response.add_cookie(&cookie);
    response
}

/// The one-time message for the sign-in page, if `req` carries one; the response must then
/// remove the cookie ([`remove_farewell`]).
pub fn farewell(req: &HttpRequest) -> Option<&'static str> {
    let code = req.cookie(FAREWELL_COOKIE)?;
    FAREWELLS
        .iter()
        .find(|(known, _)| *known == code.value())
        .map(|(_, message)| *message)
}

/// `response` with the one-time message's cookie removed.
pub fn remove_farewell(mut response: HttpResponse) -> HttpResponse {
    let mut cookie = Cookie::build(FAREWELL_COOKIE, "").path("/login").finish();
    cookie.make_removal();
    let _ = response.add_cookie(&cookie);
    response
}

/// Where a stored session was opened: the user agent and IP remembered at sign-in (empty
/// fields when the state lacks them).
pub fn client_of(record: &SessionRecord) -> ClientInfo {
    ClientInfo {
        user_agent: record.get::<String>(USER_AGENT).unwrap_or_default(),
        ip: record.get::<String>(IP).unwrap_or_default(),
    }
}

/// The raw session key of this request, read from the encrypted `sid` cookie with the app's
/// key (the same way actix-session reads it). Used to tell "this device" from others.
pub fn current_session_key(req: &HttpRequest, key: &Key) -> Option<SessionKey> {
    let cookie = req.cookie(SESSION_COOKIE)?;
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    let value = jar.private(key).get(SESSION_COOKIE)?;
    SessionKey::try_from(value.value().to_owned()).ok()
}
