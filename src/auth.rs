//! Who is signed in: signing in and out, the per-request member check, and the
//! `require_member` middleware that guards every signed-in page.
//!
//! A session holds, besides actix-identity's user id and login time:
//! - `csrf`: the session-bound CSRF token (see [`crate::csrf`]);
//! - `pwv`: the member's password stamp at sign-in — a session from before a password change
//!   is dead, however the password changed;
//! - `ua`, `ip`: for the devices page.

use std::future::{ready, Ready};

use actix_identity::Identity;
use actix_session::storage::SessionKey;
use actix_session::{Session, SessionExt};
use actix_web::body::MessageBody;
use actix_web::cookie::{CookieJar, Key};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};

use crate::csrf;
use crate::errors::AppError;
use crate::members::{self, Member};
use crate::startup::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sid";
const PASSWORD_STAMP: &str = "pwv";
const USER_AGENT: &str = "ua";
const IP: &str = "ip";
const FLASH: &str = "flash";

/// The member of a signed-in request, put there by [`require_member`].
#[derive(Debug, Clone)]
pub struct CurrentMember {
    /// The member's record.
    pub member: Member,
    /// The session-bound CSRF token.
    pub csrf: String,
}

impl FromRequest for CurrentMember {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Self>().cloned().ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("CurrentMember used outside require_member"))
        }))
    }
}

/// Start a fresh signed-in session for `user_id`: nothing of a previous session survives, the
/// session gets a new id, and a new CSRF token.
pub fn sign_in(
    req: &HttpRequest,
    session: &Session,
    user_id: &str,
    password_stamp: i64,
) -> Result<(), AppError> {
    session.clear();
    Identity::login(&req.extensions(), user_id.to_owned())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("identity login failed: {e}")))?;
    session.insert(csrf::SESSION_KEY, csrf::random_token())?;
    session.insert(PASSWORD_STAMP, password_stamp)?;
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // Bounded: the header is the client's to make as long as it likes.
    session.insert(USER_AGENT, ua.chars().take(512).collect::<String>())?;
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    session.insert(IP, ip)?;
    Ok(())
}

/// After a password change: a new session id, a new CSRF token, the new stamp.
pub fn refresh_after_password_change(session: &Session, stamp: i64) -> Result<(), AppError> {
    session.renew();
    session.insert(csrf::SESSION_KEY, csrf::random_token())?;
    session.insert(PASSWORD_STAMP, stamp)?;
    Ok(())
}

/// Leave a one-time message for the next page.
pub fn flash(session: &Session, message: &str) -> Result<(), AppError> {
    Ok(session.insert(FLASH, message)?)
}

/// Take the one-time message, if any (a read-only page stays write-free without one).
pub fn take_flash(session: &Session) -> Option<String> {
    // `remove` marks the session changed even for an absent key: look first.
    if !session.contains_key(FLASH) {
        return None;
    }
    session.remove_as::<String>(FLASH).and_then(Result::ok)
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

/// The user agent and IP remembered at sign-in, as stored in a session's state.
pub fn device_of(state: &actix_session_mysql::SessionRecord) -> (String, String) {
    (
        state.get::<String>(USER_AGENT).unwrap_or_default(),
        state.get::<String>(IP).unwrap_or_default(),
    )
}

/// Guard for signed-in pages: anonymous visitors are sent to `/login` (with `next`), sessions
/// of members that no longer exist or whose password changed are ended. Costs one point read
/// (the member) on top of the session's.
pub async fn require_member(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (http, payload) = req.into_parts();
    match check_member(&http).await {
        Ok(Some(current)) => {
            http.extensions_mut().insert(current);
            let req = ServiceRequest::from_parts(http, payload);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Ok(None) => {
            let target = match http.uri().path_and_query().map(|p| p.as_str()) {
                None | Some("/") => "/login".to_owned(),
                Some(path) => format!(
                    "/login?next={}",
                    serde_urlencoded::to_string([("", path)])
                        .unwrap_or_default()
                        .trim_start_matches('=')
                ),
            };
            let response = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, target))
                .finish();
            Ok(ServiceResponse::new(http, response).map_into_right_body())
        }
        Err(error) => {
            let response = error.error_response();
            Ok(ServiceResponse::new(http, response).map_into_right_body())
        }
    }
}

async fn check_member(req: &HttpRequest) -> Result<Option<CurrentMember>, AppError> {
    let Ok(identity) = Identity::extract(req).await else {
        return Ok(None);
    };
    let Ok(user_id) = identity.id() else {
        return Ok(None);
    };
    let session = req.get_session();
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState not registered")))?;
    let member = members::find(&state.pool, &user_id).await?;
    let stamp: Option<i64> = session.get(PASSWORD_STAMP).ok().flatten();
    let csrf: Option<String> = session.get(csrf::SESSION_KEY).ok().flatten();
    match (member, csrf) {
        (Some(member), Some(csrf)) if stamp == Some(member.password_stamp) => {
            Ok(Some(CurrentMember { member, csrf }))
        }
        _ => {
            // Deleted member, changed password or a malformed session: end it.
            identity.logout();
            Ok(None)
        }
    }
}
