//! The error policy, written down once.
//!
//! Handlers return [`AppError`]; each variant maps to a status and an HTML error page whose
//! text is written for people and never contains internal error text. 5xx errors are logged
//! here with their cause chain (which never contains secrets or session keys: the store only
//! ever logs digests). An unreachable database is a 503 with `Retry-After`, never a 500.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::data::DbError;
use crate::web::templates::{render, ErrorPage};

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u32 = 5;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The form's CSRF token or origin is wrong.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A required field is missing or the body is not a form.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The body exceeds the form limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body did not arrive within its time limit: the connection is closed.
    #[error("request body timed out")]
    RequestTimeout,
    /// The database is unreachable.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Password hashing is saturated (see [`crate::domain`]): try again in a moment.
    #[error("too busy")]
    Busy,
    /// Anything else: a bug or a failure we did not foresee.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable { .. } => Self::Unavailable(e.into()),
            DbError::Query { .. } => Self::Internal(e.into()),
        }
    }
}

impl From<actix_session_mysql::StoreError> for AppError {
    fn from(e: actix_session_mysql::StoreError) -> Self {
        if e.is_unavailable() {
            Self::Unavailable(e.into())
        } else {
            Self::Internal(e.into())
        }
    }
}

impl From<crate::domain::HashError> for AppError {
    fn from(e: crate::domain::HashError) -> Self {
        match e {
            crate::domain::HashError::Busy => Self::Busy,
            e => Self::Internal(e.into()),
        }
    }
}

impl From<actix_session::SessionInsertError> for AppError {
    fn from(e: actix_session::SessionInsertError) -> Self {
        Self::Internal(anyhow::anyhow!("session insert failed: {e}"))
    }
}

impl From<actix_session::SessionGetError> for AppError {
    fn from(e: actix_session::SessionGetError) -> Self {
        Self::Internal(anyhow::anyhow!("session read failed: {e}"))
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unavailable(cause) => tracing::warn!(error = ?cause, "database unavailable"),
            Self::Internal(cause) => tracing::error!(error = ?cause, "request failed"),
            Self::Forbidden(why) => tracing::info!(reason = why, "form refused"),
            Self::RequestTimeout => {
                tracing::info!("a request body did not arrive in time: connection closed");
                let mut page = error_page(StatusCode::REQUEST_TIMEOUT);
                // The rest of the body may still come: this connection is not reused.
                page.head_mut()
                    .set_connection_type(actix_web::http::ConnectionType::Close);
                return page;
            }
            Self::Busy => {
                tracing::info!("password hashing saturated: sign-in turned away");
                return busy_page();
            }
            _ => {}
        }
        error_page(self.status_code())
    }
}

/// The HTML error page for `status` (with `Retry-After` on a 503), with the anonymous layout:
/// where it is raised, nobody knows who asked. [`crate::web::guard::require_member`] gives it the
/// signed-in header on the way out, recognising it by [`PlainErrorPage`].
pub fn error_page(status: StatusCode) -> HttpResponse {
    let mut response = render(status, &ErrorPage::for_status(status));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(RETRY_AFTER_SECS),
        );
    }
    response.extensions_mut().insert(PlainErrorPage);
    response
}

/// Whether `headers` say the body is an HTML page.
pub fn is_html(headers: &header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
}

/// `page`, an error page put in place of `original`, with `original`'s headers (`Allow`,
/// `Retry-After`, cookies) but its own content type and length. A header both set is the
/// original's, once (a 503's `Retry-After` is not doubled).
pub fn with_headers_of(mut page: HttpResponse, original: &header::HeaderMap) -> HttpResponse {
    let kept =
        |name: &header::HeaderName| name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH;
    for name in original.keys().filter(|n| kept(n)) {
        page.headers_mut().remove(name);
    }
    for (name, value) in original.iter().filter(|(n, _)| kept(n)) {
        page.headers_mut().append(name.clone(), value.clone());
    }
    page
}

/// Marks a response as the generic page of [`error_page`] (not a re-rendered form, which has
/// its own layout).
#[derive(Debug, Clone, Copy)]
pub struct PlainErrorPage;

/// Seconds a client should wait after being turned away because hashing is saturated: a few
/// hashes' time.
pub const BUSY_RETRY_AFTER_SECS: u32 = 1;

/// The 503 page for a saturated password hasher: the database is fine, the server is busy.
fn busy_page() -> HttpResponse {
    let mut page = ErrorPage::for_status(StatusCode::SERVICE_UNAVAILABLE);
    page.title = "Busy";
    page.message = "Too many sign-ins are being checked right now. Please try again in a moment.";
    let mut response = render(StatusCode::SERVICE_UNAVAILABLE, &page);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(BUSY_RETRY_AFTER_SECS),
    );
    response
}
