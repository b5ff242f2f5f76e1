//! Cross-site request forgery protection for every POST.
//!
//! - **Anonymous forms** (sign-in, registration) use a *signed double-submit cookie*: the
//!   `csrf` cookie holds `nonce.HMAC(nonce)` and the form repeats it. Nothing is stored on the
//!   server, so anonymous visitors never create a session row.
//! - **Signed-in forms** carry a random token kept in the session, created at sign-in (so it
//!   rotates with the session id).
//! - Every POST is also refused when the browser says it is cross-site (`Origin` of another
//!   host, or `Sec-Fetch-Site: cross-site`).
//!
//! [`CsrfForm`] checks all of this before a handler sees a single field: a bad token is a 403
//! whatever else is wrong, a good token with missing fields is a 400.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, Key, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::errors::AppError;
use crate::session::TypedSession;

/// The largest form body accepted, in bytes.
pub const FORM_LIMIT: usize = 16 * 1024;
/// The anonymous double-submit cookie.
pub const COOKIE: &str = "csrf";
/// The form field.
pub const FIELD: &str = "csrf_token";

/// Signs and checks anonymous tokens.
#[derive(Clone)]
pub struct CsrfSigner {
    mac: Hmac<Sha256>,
    secure: bool,
}

impl std::fmt::Debug for CsrfSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfSigner")
    }
}

/// A fresh random token (for sessions, and as the nonce of anonymous tokens).
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
}

impl CsrfSigner {
    /// A signer keyed from the app's session key (its signing half, with a purpose label so
    /// the key is never used raw for two things).
    pub fn new(key: &Key, secure: bool) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.signing()).expect("HMAC takes any key");
        mac.update(b"member-portal csrf v1\0");
        Self { mac, secure }
    }

    fn sign(&self, nonce: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(nonce.as_bytes());
        format!(
            "{nonce}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    fn is_genuine(&self, token: &str) -> bool {
        let Some((nonce, _)) = token.split_once('.') else {
            return false;
        };
        equal(&self.sign(nonce), token)
    }

    /// The anonymous token for a form page, and the cookie to set if the visitor has no
    /// genuine one yet.
    pub fn anonymous_token(&self, req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
        if let Some(cookie) = req.cookie(COOKIE) {
            if self.is_genuine(cookie.value()) {
                return (cookie.value().to_owned(), None);
            }
        }
        let token = self.sign(&random_token());
        let cookie = Cookie::build(COOKIE, token.clone())
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish();
        (token, Some(cookie))
    }

    fn double_submit_ok(&self, req: &HttpRequest, submitted: &str) -> bool {
        req.cookie(COOKIE)
            .is_some_and(|c| self.is_genuine(c.value()) && equal(c.value(), submitted))
    }
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether the browser says this request comes from another site.
fn is_cross_site(req: &HttpRequest) -> bool {
    let headers = req.headers();
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Older browsers and non-browser clients send no Origin; the token still applies.
        return false;
    };
    let origin = origin.to_str().unwrap_or("null");
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    let info = req.connection_info();
    origin_host.is_none_or(|host| !host.eq_ignore_ascii_case(info.host()))
}

/// A form body whose CSRF token and origin have been checked.
///
/// `PUBLIC` forms (sign-in, registration) also accept the anonymous double-submit token when
/// a session exists, so a sign-in form left open in another tab still works; other forms must
/// carry the session's token when there is a session.
#[derive(Debug)]
pub struct CsrfForm<const PUBLIC: bool> {
    fields: HashMap<String, String>,
}

/// A form of a signed-in page.
pub type MemberForm = CsrfForm<false>;
/// The sign-in and registration forms.
pub type PublicForm = CsrfForm<true>;

impl<const PUBLIC: bool> CsrfForm<PUBLIC> {
    /// A required field, or a 400.
    pub fn required(&self, name: &str) -> Result<&str, AppError> {
        self.fields
            .get(name)
            .map(String::as_str)
            .ok_or(AppError::BadRequest("a required field is missing"))
    }

    /// An optional field.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    fn check(req: &HttpRequest, fields: &HashMap<String, String>) -> Result<(), AppError> {
        if is_cross_site(req) {
            return Err(AppError::Forbidden("cross-site request"));
        }
        let submitted = fields.get(FIELD).map(String::as_str).unwrap_or_default();
        if submitted.is_empty() {
            return Err(AppError::Forbidden("missing CSRF token"));
        }
        let signer = req
            .app_data::<web::Data<CsrfSigner>>()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("CsrfSigner not registered")))?;
        let ok = match TypedSession::of(req).csrf_token() {
            Some(expected) => {
                equal(&expected, submitted) || (PUBLIC && signer.double_submit_ok(req, submitted))
            }
            None => signer.double_submit_ok(req, submitted),
        };
        if ok {
            Ok(())
        } else {
            Err(AppError::Forbidden("wrong CSRF token"))
        }
    }
}

impl<const PUBLIC: bool> FromRequest for CsrfForm<PUBLIC> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            // The body extractor enforces FORM_LIMIT (see `payload_config`), from the
            // Content-Length header up front and from the bytes for a chunked body.
            let body = body.await.map_err(|e| {
                if e.as_response_error().status_code()
                    == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                {
                    AppError::PayloadTooLarge
                } else {
                    AppError::BadRequest("the request body could not be read")
                }
            })?;
            // An unparsable body has no token: that is a 403, like any other missing token.
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&body).unwrap_or_default();
            let mut fields = HashMap::with_capacity(pairs.len());
            for (name, value) in pairs {
                // The first occurrence wins; a repeated field cannot override a checked one.
                fields.entry(name).or_insert(value);
            }
            Self::check(&req, &fields)?;
            Ok(Self { fields })
        })
    }
}

/// Registers the body limit that [`CsrfForm`] reads under.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(FORM_LIMIT)
}
