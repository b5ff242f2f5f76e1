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
//! - `flash`: a one-time message for the next page.
//!
//! No other module names a session key: a new field is added here, with its accessor.

use std::future::{ready, Ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_identity::Identity;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_session::storage::{SessionKey, SessionStore};
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_session_mysql::SessionRecord;
use actix_web::body::MessageBody;
use actix_web::cookie::{time::Duration as CookieDuration, CookieJar, Key, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use serde::{Deserialize, Serialize};

use super::client::client_info;
use super::errors::AppError;
use super::state::AppState;
use crate::data::Member;
use crate::domain::{random_token, ClientInfo};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sid";

const CSRF: &str = "csrf";
const MEMBER: &str = "member";
const USER_AGENT: &str = "ua";
const IP: &str = "ip";
const FLASH: &str = "flash";

/// The session middleware over `store`, with the one cookie policy of the app: `sid`,
/// `HttpOnly`, `SameSite=Lax`, `Path=/`, no `Domain`, `Secure` when `secure` (production),
/// contents encrypted with `key` (`Private`: [`current_session_key`] relies on it), a
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
/// cap of sessions.
#[derive(Debug, Clone)]
struct SignedIn(String);

/// After the session middleware has saved the row of a sign-in (see [`TypedSession::sign_in`]),
/// keep the member's `MAX_SESSIONS_PER_MEMBER` most recently seen live sessions and end the
/// rest. Trimming after the insert, not before, is what makes parallel sign-ins end with
/// exactly the cap: each trims after its own row is in, so the last to trim sees every row.
/// The session just created is among the most recently seen (its `last_seen_at` is now), so it
/// outlives every older one; a device in use counts as seen when it was last touched (at most
/// one touch interval ago), which is as precise as "recently seen" gets without a write per
/// request. A failure here is logged: the page was answered, and the next sign-in trims again.
pub async fn cap_sessions(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let response = next.call(req).await?;
    let signed_in = response.request().extensions().get::<SignedIn>().cloned();
    if let (Some(SignedIn(member)), true) = (signed_in, response.status().is_redirection()) {
        if let Some(state) = response.request().app_data::<web::Data<AppState>>() {
            let keep = u64::from(state.max_sessions);
            if let Err(error) = state.store.trim_user_sessions(&member, keep).await {
                tracing::warn!(error = %error, "could not apply the session cap");
            }
        }
    }
    Ok(response)
}

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
            },
        )?;
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

    /// Start a fresh signed-in session for `member`: nothing of a previous session survives,
    /// the session gets a new id (fixation-proof) and a new CSRF token.
    pub fn sign_in(&self, req: &HttpRequest, member: &Member) -> Result<(), AppError> {
        self.0.clear();
        Identity::login(&req.extensions(), member.id.clone())
            .map_err(|e| AppError::Internal(anyhow::anyhow!("identity login failed: {e}")))?;
        self.0.insert(CSRF, random_token())?;
        self.remember_member(member, SystemTime::now())?;
        // The same IP and bounded user agent as the activity page records.
        let client = client_info(req);
        self.0.insert(USER_AGENT, client.user_agent)?;
        self.0.insert(IP, client.ip)?;
        req.extensions_mut().insert(SignedIn(member.id.clone()));
        Ok(())
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
