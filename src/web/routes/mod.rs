//! HTTP handlers, one module per page or group of routes, and the route table
//! ([`configure`]). Handlers are thin: extract (a typed form, the member, the client), call
//! the domain and data layers, return a page or a redirect. Adding a page means touching
//! `routes/` and `templates/` only; a signed-in page goes in `member_pages`.

mod account;
mod activity;
mod assets;
mod delete;
mod email;
mod health;
mod home;
mod login;
mod logout;
mod not_found;
mod profile;
mod recovery;
mod register;
mod sessions;
mod two_factor;
mod verify;

pub use login::BAD_CREDENTIALS;

use actix_web::http::{header, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{guard, web, HttpRequest, HttpResponse, Resource, Route};
use askama::Template;
use serde::Deserialize;

use crate::data::Member;
use crate::telemetry::SignIn;
use crate::web::client::ClientIp;
use crate::web::credentials::{check_password, PasswordCheck};
use crate::web::csrf::CsrfSigner;
use crate::web::errors::AppError;
use crate::web::guard::require_member;
use crate::web::session::TypedSession;
use crate::web::state::AppState;
use crate::web::templates::{render, DeadLinkPage};

/// The route table: every signed-in page, each behind `require_member`, then the public
/// routes. The router tries resources in this order and no two paths overlap, so the order
/// only decides cost: `/`, the busiest page, is matched first, before any `{token}` pattern.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // One guard for the whole list: a page added here cannot be reached without it.
    for resource in member_pages() {
        cfg.service(resource.wrap(from_fn(require_member)));
    }
    cfg.route("/healthz", read().to(health::check))
        .route("/static/style.css", read().to(assets::style))
        .service(
            web::resource("/login")
                .route(read().to(login::form))
                .post(login::submit),
        )
        .service(
            web::resource("/register")
                .route(read().to(register::form))
                .post(register::submit),
        )
        .service(
            web::resource("/login/two-factor")
                .route(read().to(two_factor::step_form))
                .post(two_factor::step_submit),
        )
        .service(web::resource("/logout").post(logout::submit))
        .service(
            web::resource("/forgot-password")
                .route(read().to(recovery::form))
                .post(recovery::submit),
        )
        .service(web::resource("/reset-password/{token}").route(read().to(recovery::reset_form)))
        .service(web::resource("/reset-password").post(recovery::reset_submit))
        .service(web::resource("/verify-email/{token}").route(read().to(verify::page)))
        .service(web::resource("/verify-email").post(verify::submit));
    cfg.default_service(web::to(not_found::page));
}

/// The signed-in pages.
fn member_pages() -> Vec<Resource> {
    vec![
        web::resource("/").route(read().to(home::page)),
        web::resource("/account/password")
            .route(read().to(account::form))
            .post(account::submit),
        web::resource("/account/profile")
            .route(read().to(profile::form))
            .post(profile::submit),
        web::resource("/account/activity").route(read().to(activity::list)),
        web::resource("/account/email")
            .route(read().to(email::form))
            .post(email::submit),
        web::resource("/account/email/resend").post(email::resend),
        web::resource("/account/email/withdraw").post(email::withdraw),
        web::resource("/sessions").route(read().to(sessions::list)),
        web::resource("/sessions/revoke").post(sessions::revoke),
        web::resource("/sessions/revoke-others").post(sessions::revoke_others),
        web::resource("/account/two-factor").route(read().to(two_factor::overview)),
        web::resource("/account/two-factor/setup").post(two_factor::setup),
        web::resource("/account/two-factor/enable").post(two_factor::enable),
        web::resource("/account/two-factor/disable").post(two_factor::disable),
        web::resource("/account/two-factor/recovery-codes").post(two_factor::replace_codes),
        web::resource("/account/delete")
            .route(read().to(delete::form))
            .post(delete::submit),
    ]
}

/// A form of one field, the current password: confirming a change to the account.
#[derive(Deserialize)]
pub struct CurrentPasswordForm {
    current_password: String,
}

/// Check the signed-in member's current password, throttled like sign-in. `Ok(None)`: right;
/// `Ok(Some(page))`: the page to answer instead, made by `refused` with 422 and the message for
/// a wrong password, or 429 (and `Retry-After`) when throttled.
pub async fn confirm_password(
    req: &HttpRequest,
    state: &AppState,
    member: &str,
    password: &str,
    refused: impl Fn(StatusCode, &str) -> HttpResponse,
) -> Result<Option<HttpResponse>, AppError> {
    match check_password(state, ClientIp::of(req).0, Some(member), password).await? {
        PasswordCheck::Accepted(_) => Ok(None),
        PasswordCheck::Rejected => Ok(Some(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Your current password is not correct.",
        ))),
        PasswordCheck::Throttled(wait) => Ok(Some(with_retry_after(
            refused(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many wrong passwords. Wait a moment and try again.",
            ),
            wait,
        ))),
    }
}

/// The end of every sign-in, with or without a second factor: room for the new session under
/// the cap (applied after the insert, see `cap_sessions`), a brand-new session of `lifetime` for `member`, the metric, and `303` to `next`.
/// (The `signin` event is written by whoever checked the last factor.)
pub async fn finish_sign_in(
    req: &HttpRequest,
    session: &TypedSession,
    state: &AppState,
    member: &Member,
    remember: bool,
    next: &str,
) -> Result<HttpResponse, AppError> {
    // The cap (MAX_SESSIONS_PER_MEMBER) is applied once the new row is in: see
    // `cap_sessions`.
    session.sign_in(req, member, state.lifetime(remember))?;
    state.metrics.sign_in(SignIn::Success);
    Ok(see_other(next))
}

/// Whether a form's `remember` checkbox was ticked (its value is `1`).
pub fn ticked(field: &str) -> bool {
    field == "1"
}

/// `response`, never to be stored by a cache (the page shows a secret).
pub fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `response` with `Referrer-Policy: no-referrer`: a page reached by a mailed link must not
/// hand its address (the token) to anything it links to or loads.
pub fn no_referrer(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The one page (410) for a mailed link that is used, expired, unknown or dead: a reset link
/// (`reset`) or a verification link.
pub fn dead_link(reset: bool) -> HttpResponse {
    no_referrer(render(
        StatusCode::GONE,
        &DeadLinkPage {
            layout: crate::web::templates::Layout::default(),
            reset,
        },
    ))
}

/// A route for `GET` and `HEAD`. actix-web's `web::get()` leaves `HEAD` out, and monitors and
/// link checkers send it; the server drops the body of a `HEAD` answer, keeping its headers.
fn read() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// `303 See Other` to `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// An anonymous form page: `make_page` gets the double-submit token to embed, and the CSRF
/// cookie is set alongside if the visitor has no genuine one yet.
pub fn anonymous_form<T: Template>(
    req: &HttpRequest,
    signer: &CsrfSigner,
    status: StatusCode,
    make_page: impl FnOnce(String) -> T,
) -> HttpResponse {
    let (token, cookie) = signer.anonymous_token(req);
    let mut response = render(status, &make_page(token));
    if let Some(cookie) = cookie {
        // A cookie we built ourselves always serialises.
        let _ = response.add_cookie(&cookie);
    }
    response
}

/// `response` with a `Retry-After` of `wait`, in whole seconds rounded up (at least 1).
pub fn with_retry_after(mut response: HttpResponse, wait: std::time::Duration) -> HttpResponse {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(secs.max(1)));
    response
}
