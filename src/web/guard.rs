//! Who is signed in: the [`require_member`] middleware that guards every signed-in page, and
//! the [`CurrentMember`] it hands to handlers. (What a session holds: [`crate::web::session`].)

use std::future::{ready, Ready};
use std::time::SystemTime;

use actix_identity::Identity;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};

use crate::data::{self, Member};
use crate::web::errors::{is_html, with_headers_of, AppError, PlainErrorPage};
use crate::web::session::TypedSession;
use crate::web::state::AppState;
use crate::web::templates::{render, ErrorPage, Layout};

/// What a query value keeps unescaped: letters, digits and `*-._` (as form encoding does).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

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

/// Guard for signed-in pages: anonymous visitors are sent to `/login` (with `next`), sessions
/// of members that no longer exist or whose password changed are ended. Costs no database
/// round trip beyond the session's own, but for one point read (the member) per session per
/// re-check interval.
pub async fn require_member(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (http, payload) = req.into_parts();
    match check_member(&http).await {
        Ok(Some(current)) => {
            http.extensions_mut().insert(current);
            let req = ServiceRequest::from_parts(http, payload);
            let response = next.call(req).await?;
            if !is_plain_error(&response) {
                return Ok(response.map_into_left_body());
            }
            // A refused form (400, 403, 413) or method (405) on a signed-in page: the same
            // page, with the member's header and its "Sign out" like every signed-in page.
            let (http, original) = response.into_parts();
            let Some(csrf) = http
                .extensions()
                .get::<CurrentMember>()
                .map(|current| current.csrf.clone())
            else {
                return Ok(ServiceResponse::new(http, original).map_into_left_body());
            };
            let status = original.status();
            let page = render(
                status,
                &ErrorPage {
                    layout: Layout::member(&csrf),
                    ..ErrorPage::for_status(status)
                },
            );
            let page = with_headers_of(page, original.headers());
            Ok(ServiceResponse::new(http, page).map_into_right_body())
        }
        Ok(None) => {
            let target = match http.uri().path_and_query().map(|p| p.as_str()) {
                None | Some("/") => "/login".to_owned(),
                Some(path) => format!(
                    "/login?next={}",
                    percent_encoding::utf8_percent_encode(path, QUERY_VALUE)
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

/// Whether `response` is a generic error page (ours, or actix's bare 405) rather than a page
/// of its own.
fn is_plain_error<B>(response: &ServiceResponse<B>) -> bool {
    let status = response.status();
    if !status.is_client_error() || status == StatusCode::NOT_FOUND {
        return false;
    }
    response
        .response()
        .extensions()
        .contains::<PlainErrorPage>()
        || !is_html(response.headers())
}

/// The signed-in member of `req`, from the session's snapshot while it is younger than the
/// re-check interval, else from the member row (which also refreshes the snapshot). A session
/// whose member is gone, whose password stamp no longer matches, that lacks its CSRF token or
/// is past its absolute deadline is ended. A half signed-in session (second factor due) has no
/// identity: it is anonymous here.
async fn check_member(req: &HttpRequest) -> Result<Option<CurrentMember>, AppError> {
    let Ok(identity) = Identity::extract(req).await else {
        return Ok(None);
    };
    let Ok(user_id) = identity.id() else {
        return Ok(None);
    };
    let session = TypedSession::of(req);
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState not registered")))?;
    let now = SystemTime::now();
    let (Some(csrf), Some(snapshot)) = (session.csrf_token(), session.member(&user_id, now)) else {
        // A malformed session (or one from before snapshots): end it.
        identity.logout();
        return Ok(None);
    };
    if session.past_deadline(now) {
        // Its absolute timeout (a remembered session's is REMEMBER_FOR) has passed.
        identity.logout();
        return Ok(None);
    }
    if snapshot.age < state.member_recheck {
        return Ok(Some(CurrentMember {
            member: snapshot.member,
            csrf,
        }));
    }
    match data::find_member(&state.pool, &user_id).await? {
        Some(member) if member.password_stamp == snapshot.member.password_stamp => {
            session.remember_member(&member, now)?;
            Ok(Some(CurrentMember { member, csrf }))
        }
        _ => {
            // Deleted member or changed password: end it.
            identity.logout();
            Ok(None)
        }
    }
}
