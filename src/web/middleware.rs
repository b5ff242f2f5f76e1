//! App-wide middleware: security headers on every response, and HTML error pages for errors
//! that would otherwise leave the app as bare status codes. (The signed-in guard lives with
//! the rest of authentication, in [`crate::web::guard`].)

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{DefaultHeaders, Next};
use tracing::Instrument;

use crate::web::errors::{error_page, is_html, with_headers_of};

/// Headers on every response: no inline anything, no framing, no caching of pages that carry
/// session content (only the stylesheet sets its own caching, which these do not override).
const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// Adds the security headers (`SECURITY_HEADERS`) to every response that does not set them
/// itself.
pub fn security_headers() -> DefaultHeaders {
    SECURITY_HEADERS
        .iter()
        .fold(DefaultHeaders::new(), |headers, &pair| headers.add(pair))
}

/// Turns every error into an HTML page: errors raised by middleware (actix-session answers a
/// store failure with an empty 500) become a 503 page with `Retry-After`, and bare error
/// responses from actix itself (404, 405, extractor errors) get the page for their status.
///
/// Also opens the request's tracing span — at `debug` level, so that it costs nothing unless
/// asked for (`RUST_LOG=member_portal=debug`): an `info` span with a request id, as
/// tracing-actix-web builds, was a quarter of a page view's CPU time (README, "Performance").
pub async fn error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let span = tracing::debug_span!("request", method = %req.method(), path = req.path());
    match next.call(req).instrument(span).await {
        Ok(response) => {
            let status = response.status();
            if !(status.is_client_error() || status.is_server_error())
                || is_html(response.headers())
            {
                return Ok(response.map_into_boxed_body());
            }
            let (http, original) = response.into_parts();
            let page = with_headers_of(error_page(status), original.headers());
            Ok(ServiceResponse::new(http, page))
        }
        Err(error) => {
            // The request is gone with the error, so the page travels inside the error; the
            // outer header middleware does not see it, hence the headers here.
            tracing::warn!(error = %error, cause = ?error, "middleware failed");
            let status = error.as_response_error().status_code();
            let status = if status.is_server_error() {
                // The only middleware that fails with a 5xx is the session store's.
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                status
            };
            let mut page = error_page(status);
            for (name, value) in SECURITY_HEADERS {
                page.headers_mut().insert(
                    header::HeaderName::from_static(name),
                    header::HeaderValue::from_static(value),
                );
            }
            Err(actix_web::error::InternalError::from_response(error.to_string(), page).into())
        }
    }
}
