//! Cross-site request forgery protection for every POST.
//!
//! - **Anonymous forms** (sign-in, registration) use a *signed double-submit cookie*: the
//!   cookie holds `issued.nonce.HMAC(issued.nonce)` and the form repeats it. Nothing is stored
//!   on the server, so anonymous visitors never create a session row. The issue time (Unix
//!   seconds) is inside the HMAC, and a token older than [`ANONYMOUS_TOKEN_LIFETIME`] is
//!   refused, so a token that leaked once does not work forever.
//! - **Signed-in forms** carry a random token kept in the session, created at sign-in (so it
//!   rotates with the session id).
//! - Every POST is also refused when the browser says it is cross-site: `Sec-Fetch-Site:
//!   cross-site`, or an `Origin` whose scheme, host or port differ from the site's own origin
//!   (see [`super::client`]).
//!
//! [`CsrfForm`] checks all of this before a handler sees a single field, in this order:
//!
//! 1. cross-site, or nothing a token could match (no token in the session, no anonymous
//!    cookie) → 403, before the body is read, whatever its size;
//! 2. body over [`FORM_LIMIT`] → 413 (nothing of it is read);
//! 3. no genuine token among the fields that decode → 403, whatever else is wrong with the
//!    body;
//! 4. any other field whose name or value is not UTF-8 after percent-decoding → 400: the body
//!    is refused whole, never decoded lossily (different bytes must never become the same
//!    password);
//! 5. then the handler: a missing field is a 400.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::cookie::{Cookie, Key, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::value::MapDeserializer;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::client::{Frontend, SiteOrigin};
use super::errors::AppError;
use super::session::TypedSession;
use crate::domain::random_token;

/// The largest form body accepted, in bytes. The largest legitimate form is the password
/// change: three passwords of 1024 code points; a 4-byte character percent-encodes to 12
/// bytes, so 3 × 1024 × 12 = 36,864 bytes, plus field names and the token: 64 KiB leaves room.
pub const FORM_LIMIT: usize = 64 * 1024;
/// The anonymous double-submit cookie in development (plain HTTP).
pub const COOKIE: &str = "csrf";
/// The anonymous double-submit cookie in production. The `__Host-` prefix makes browsers
/// refuse it unless it is `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain
/// cannot plant one.
pub const HOST_COOKIE: &str = "__Host-csrf";
/// How long an anonymous token is accepted after it was issued.
pub const ANONYMOUS_TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// A form page re-issues the token once it is this old, so a freshly shown form always has
/// at least this long left.
const ANONYMOUS_TOKEN_REFRESH: Duration = Duration::from_secs(6 * 3600);
/// Issue times this far ahead are tolerated (app instances' clocks differ a little).
const CLOCK_SKEW: Duration = Duration::from_secs(300);
/// The form field.
pub const FIELD: &str = "csrf_token";
/// How long a form body may take to arrive, from the end of the request head: 64 KiB in
/// 10 s is 6.5 KB/s, which any real connection beats; a client that sends a head and then
/// trickles (or stalls) gets a 408 and a closed connection instead of holding it for ever.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

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

impl CsrfSigner {
    /// A signer keyed from the app's session key (its signing half, with a purpose label so
    /// the key is never used raw for two things). `secure` (production) makes the cookie
    /// `Secure` and gives it the `__Host-` name.
    pub fn new(key: &Key, secure: bool) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.signing()).expect("HMAC takes any key");
        mac.update(b"member-portal csrf v2\0");
        Self { mac, secure }
    }

    /// The name of the anonymous CSRF cookie.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            HOST_COOKIE
        } else {
            COOKIE
        }
    }

    fn sign(&self, issued: u64, nonce: &str) -> String {
        let payload = format!("{issued}.{nonce}");
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        format!(
            "{payload}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// A fresh anonymous token as if issued at `issued` (the form pages issue theirs at the
    /// current time; this exists so the expiry can be exercised).
    pub fn token_issued_at(&self, issued: SystemTime) -> String {
        self.sign(unix_secs(issued), &random_token())
    }

    /// The token's age if it is genuine and not expired.
    fn live_age(&self, token: &str) -> Option<Duration> {
        let mut parts = token.splitn(3, '.');
        let (issued, nonce) = (parts.next()?, parts.next()?);
        parts.next()?;
        // Canonical decimal only, so one token has one spelling.
        if issued.is_empty() || issued.len() > 20 || !issued.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let issued: u64 = issued.parse().ok()?;
        if !equal(&self.sign(issued, nonce), token) {
            return None;
        }
        let now = unix_secs(SystemTime::now());
        if issued > now + CLOCK_SKEW.as_secs() {
            return None;
        }
        let age = Duration::from_secs(now.saturating_sub(issued));
        (age < ANONYMOUS_TOKEN_LIFETIME).then_some(age)
    }

    /// The anonymous token for a form page, and the cookie to set if the visitor has no
    /// genuine one yet, or one old enough to be renewed.
    pub fn anonymous_token(&self, req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
        if let Some(cookie) = req.cookie(self.cookie_name()) {
            if self
                .live_age(cookie.value())
                .is_some_and(|age| age < ANONYMOUS_TOKEN_REFRESH)
            {
                return (cookie.value().to_owned(), None);
            }
        }
        let token = self.token_issued_at(SystemTime::now());
        let cookie = Cookie::build(self.cookie_name(), token.clone())
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish();
        (token, Some(cookie))
    }

    fn double_submit_ok(&self, req: &HttpRequest, submitted: &str) -> bool {
        req.cookie(self.cookie_name())
            .is_some_and(|c| self.live_age(c.value()).is_some() && equal(c.value(), submitted))
    }
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether the browser says this request comes from another site: `Sec-Fetch-Site:
/// cross-site`, or an `Origin` that is not the site's own (scheme, host and port compared).
fn is_cross_site(req: &HttpRequest, frontend: &Frontend) -> bool {
    let headers = req.headers();
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(actix_web::http::header::ORIGIN) else {
        // Older browsers and non-browser clients send no Origin; the token still applies.
        return false;
    };
    // A page sent with `Referrer-Policy: no-referrer` (those reached by a mailed link) makes
    // the browser send `Origin: null` with its own forms; `Sec-Fetch-Site`, which no page can
    // set, still says where the form was. The token is checked all the same.
    if origin.as_bytes() == b"null"
        && headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"same-origin"))
    {
        return false;
    }
    // `null` from anywhere else, garbage, or an origin we cannot compare with: refused.
    let Some(origin) = origin.to_str().ok().and_then(SiteOrigin::parse) else {
        return true;
    };
    frontend.own_origin(req).is_none_or(|own| own != origin)
}

/// A form body whose CSRF token and origin have been checked, deserialized into `T`, the
/// form's own struct (fields by name; the token and unknown fields are ignored).
///
/// `PUBLIC` forms (sign-in, registration) also accept the anonymous double-submit token when
/// a session exists, so a sign-in form left open in another tab still works; other forms must
/// carry the session's token when there is a session.
pub struct CsrfForm<T, const PUBLIC: bool>(T);

/// A form of a signed-in page.
pub type MemberForm<T> = CsrfForm<T, false>;
/// A form with no fields but the token (a button: sign out, sign out the other devices).
#[derive(Debug, Deserialize)]
pub struct NoFields {}
/// The sign-in and registration forms.
pub type PublicForm<T> = CsrfForm<T, true>;

impl<T, const PUBLIC: bool> std::fmt::Debug for CsrfForm<T, PUBLIC> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Forms carry passwords: never printed.
        f.write_str("CsrfForm")
    }
}

impl<T, const PUBLIC: bool> CsrfForm<T, PUBLIC> {
    /// The form's fields.
    pub fn into_inner(self) -> T {
        self.0
    }

    /// What needs no body: a cross-site request, or one with nothing a token could match (no
    /// token in its session, no anonymous cookie), is refused before a byte of it is read.
    fn check_sender(req: &HttpRequest, expected: Option<&str>) -> Result<(), AppError> {
        let frontend = req
            .app_data::<web::Data<Frontend>>()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("Frontend not registered")))?;
        if is_cross_site(req, frontend) {
            return Err(AppError::Forbidden("cross-site request"));
        }
        let signer = signer(req)?;
        if expected.is_none() && req.cookie(signer.cookie_name()).is_none() {
            return Err(AppError::Forbidden("no CSRF token to match"));
        }
        Ok(())
    }

    /// The token among the form's fields, against the session's (`expected`) or the
    /// anonymous cookie's.
    fn check_token(
        req: &HttpRequest,
        expected: Option<&str>,
        submitted: Option<&str>,
    ) -> Result<(), AppError> {
        let submitted = submitted.unwrap_or_default();
        if submitted.is_empty() {
            return Err(AppError::Forbidden("missing CSRF token"));
        }
        let signer = signer(req)?;
        let ok = match expected {
            Some(expected) => {
                equal(expected, submitted) || (PUBLIC && signer.double_submit_ok(req, submitted))
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

fn signer(req: &HttpRequest) -> Result<&CsrfSigner, AppError> {
    req.app_data::<web::Data<CsrfSigner>>()
        .map(|data| data.get_ref())
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("CsrfSigner not registered")))
}

impl<T: DeserializeOwned + 'static, const PUBLIC: bool> FromRequest for CsrfForm<T, PUBLIC> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            // The session's token, read once for both checks.
            let expected = TypedSession::of(&req).csrf_token();
            Self::check_sender(&req, expected.as_deref())?;
            // The body extractor enforces FORM_LIMIT (see `payload_config`), from the
            // Content-Length header up front and from the bytes for a chunked body.
            let body = tokio::time::timeout(BODY_TIMEOUT, body)
                .await
                .map_err(|_| AppError::RequestTimeout)?
                .map_err(|e| {
                    if e.as_response_error().status_code()
                        == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                    {
                        AppError::PayloadTooLarge
                    } else {
                        AppError::BadRequest("the request body could not be read")
                    }
                })?;
            // A body that is not a form has no token: a 403, like any other missing token.
            let Decoded {
                fields,
                undecodable,
                repeated,
            } = decode_form(&body);
            let token = fields
                .iter()
                .find(|(name, _)| name == FIELD)
                .map(|(_, value)| value.as_str());
            Self::check_token(&req, expected.as_deref(), token)?;
            if undecodable {
                return Err(AppError::BadRequest("the form is not valid UTF-8"));
            }
            if repeated {
                // Which of two values a handler would see is nobody's guess: refused.
                return Err(AppError::BadRequest("a field is given twice"));
            }
            T::deserialize(MapDeserializer::<_, serde::de::value::Error>::new(
                fields.into_iter(),
            ))
            .map(Self)
            .map_err(|_| AppError::BadRequest("a required field is missing"))
        })
    }
}

/// A form body, decoded strictly.
struct Decoded {
    /// The fields whose name and value are UTF-8, in order.
    fields: Vec<(String, String)>,
    /// Whether some field's name or value is not UTF-8 after percent-decoding.
    undecodable: bool,
    /// Whether some field name occurs twice.
    repeated: bool,
}

/// Split `application/x-www-form-urlencoded` bytes into fields. Unlike the usual decoders
/// (which replace invalid UTF-8 with U+FFFD), a field that does not decode is not kept, and
/// the caller learns that there was one.
fn decode_form(body: &[u8]) -> Decoded {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut undecodable = false;
    let mut repeated = false;
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        match (decode_component(name), decode_component(value)) {
            (Some(name), Some(value)) => {
                // Forms have a handful of fields: a linear scan beats hashing.
                if fields.iter().any(|(seen, _)| *seen == name) {
                    repeated = true;
                } else {
                    fields.push((name, value));
                }
            }
            _ => undecodable = true,
        }
    }
    Decoded {
        fields,
        undecodable,
        repeated,
    }
}

/// `+` is a space, `%XX` a byte (a malformed escape stays as written); the result must be
/// UTF-8.
fn decode_component(raw: &[u8]) -> Option<String> {
    let raw: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    let bytes: Cow<'_, [u8]> = percent_encoding::percent_decode(&raw).into();
    String::from_utf8(bytes.into_owned()).ok()
}

/// Registers the body limit that `CsrfForm` reads under.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(FORM_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_strictly() {
        let d = decode_form(b"a=1&b=x+y%21&a=2&c&=e&&caf%C3%A9=%E2%82%AC&bad=%ZZ");
        assert!(!d.undecodable);
        assert!(d.repeated, "a is given twice");
        let d = Fields(d.fields);
        assert_eq!(d.get("a"), "1", "the first occurrence is kept");
        assert_eq!(d.get("b"), "x y!");
        assert_eq!(d.get("c"), "");
        assert_eq!(d.get(""), "e");
        assert_eq!(d.get("café"), "€");
        assert_eq!(d.get("bad"), "%ZZ", "a malformed escape stays as written");
        for body in [&b"p=%FF"[..], b"p=%C3", b"%FE=x", b"p=\xff", b"p=%ED%A0%80"] {
            let d = decode_form(body);
            assert!(d.undecodable, "{body:?}");
            assert!(!d.fields.iter().any(|(n, _)| n == "p"), "{body:?}");
        }
        let d = decode_form(b"csrf_token=t&password=%FF");
        assert!(d.undecodable);
        assert_eq!(
            Fields(d.fields).get("csrf_token"),
            "t",
            "the token is still found"
        );
        assert!(!decode_form(b"a=1&b=2").repeated);
    }

    /// Fields by name, for the assertions above.
    struct Fields(Vec<(String, String)>);

    impl Fields {
        fn get(&self, name: &str) -> &str {
            let (_, value) = self.0.iter().find(|(n, _)| n == name).expect(name);
            value
        }
    }

    #[derive(serde::Deserialize)]
    struct SignIn {
        username: String,
        #[serde(default)]
        next: String,
    }

    #[test]
    fn fields_deserialize_by_name() {
        let fields = decode_form(b"csrf_token=t&username=ann&extra=1").fields;
        let form = SignIn::deserialize(MapDeserializer::<_, serde::de::value::Error>::new(
            fields.into_iter(),
        ))
        .expect("a sign-in form");
        assert_eq!((form.username.as_str(), form.next.as_str()), ("ann", ""));
        let fields = decode_form(b"csrf_token=t&next=%2F").fields;
        assert!(
            SignIn::deserialize(MapDeserializer::<_, serde::de::value::Error>::new(
                fields.into_iter()
            ))
            .is_err()
        );
    }

    #[test]
    fn anonymous_tokens_carry_their_issue_time() {
        let key = Key::generate();
        let signer = CsrfSigner::new(&key, false);
        let now = SystemTime::now();
        let fresh = signer.token_issued_at(now);
        assert!(signer.live_age(&fresh).is_some());
        let old = signer.token_issued_at(now - ANONYMOUS_TOKEN_LIFETIME - Duration::from_secs(1));
        assert!(signer.live_age(&old).is_none(), "expired");
        let nearly =
            signer.token_issued_at(now - ANONYMOUS_TOKEN_LIFETIME + Duration::from_secs(60));
        assert!(signer.live_age(&nearly).is_some());
        let future = signer.token_issued_at(now + Duration::from_secs(3600));
        assert!(signer.live_age(&future).is_none(), "from the future");
        // The time is inside the MAC: moving it forward breaks the token.
        let (_, rest) = old.split_once('.').expect("issued");
        let moved = format!("{}.{rest}", unix_secs(now));
        assert!(signer.live_age(&moved).is_none());
        // Another key's token is not genuine.
        let other = CsrfSigner::new(&Key::generate(), false);
        assert!(signer.live_age(&other.token_issued_at(now)).is_none());
        for junk in ["", ".", "..", "1.2", "x.y.z", "+1.a.b"] {
            assert!(signer.live_age(junk).is_none(), "{junk}");
        }
        assert_eq!(signer.cookie_name(), COOKIE);
        assert_eq!(CsrfSigner::new(&key, true).cookie_name(), HOST_COOKIE);
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// `text` percent-encoded as a browser encodes a form field.
        fn encode(text: &str) -> String {
            percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        }

        proptest! {
            #[test]
            fn any_body_decodes_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = decode_form(&body);
            }

            #[test]
            fn encoded_fields_round_trip(fields in proptest::collection::vec(("[^\\x00]{0,12}", "\\PC{0,40}"), 0..6)) {
                let mut seen = std::collections::HashSet::new();
                let unique: Vec<(String, String)> = fields
                    .into_iter()
                    .filter(|(name, _)| seen.insert(name.clone()))
                    .collect();
                let body = unique
                    .iter()
                    .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                let decoded = decode_form(body.as_bytes());
                prop_assert!(!decoded.undecodable);
                prop_assert!(!decoded.repeated);
                prop_assert_eq!(decoded.fields, unique);
            }

            #[test]
            fn no_string_is_a_genuine_token_of_another_key(token in "\\PC{0,80}") {
                let signer = CsrfSigner::new(&Key::generate(), false);
                prop_assert!(signer.live_age(&token).is_none());
            }
        }
    }
}
