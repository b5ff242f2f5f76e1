//! HTTP handlers, one module per page or group of routes. Handlers are thin: extract, call
//! the domain (`members`, `throttle`, the store), return a page or a redirect.

pub mod account;
pub mod assets;
pub mod health;
pub mod home;
pub mod login;
pub mod logout;
pub mod register;
pub mod sessions;

use actix_web::http::header;
use actix_web::HttpResponse;

/// `303 See Other` to `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}
