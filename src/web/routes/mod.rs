//! HTTP handlers, one module per page or group of routes, and the route table
//! ([`configure`]). Handlers are thin: extract (a typed form, the member, the client), call
//! the domain and data layers, return a page or a redirect. Adding a page means touching
//! `routes/` and `templates/` only; a signed-in page goes in `member_pages`.

mod account;
mod activity;
mod assets;
mod health;
mod home;
mod login;
mod logout;
mod not_found;
mod profile;
mod register;
mod sessions;

pub use login::BAD_CREDENTIALS;

use actix_web::http::{header, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{guard, web, HttpRequest, HttpResponse, Resource, Route};
use askama::Template;

use crate::web::csrf::CsrfSigner;
use crate::web::guard::require_member;
use crate::web::templates::render;

/// The route table: public routes, then every signed-in page, each behind [`require_member`].
pub fn configure(cfg: &mut web::ServiceConfig) {
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
        .service(web::resource("/logout").post(logout::submit));
    // One guard for the whole list: a page added here cannot be reached without it.
    for resource in member_pages() {
        cfg.service(resource.wrap(from_fn(require_member)));
    }
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
        web::resource("/sessions").route(read().to(sessions::list)),
        web::resource("/sessions/revoke").post(sessions::revoke),
        web::resource("/sessions/revoke-others").post(sessions::revoke_others),
    ]
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
