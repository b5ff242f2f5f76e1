//! `GET /healthz`.

use actix_web::{web, HttpResponse};

use crate::data;
use crate::web::errors::RETRY_AFTER_SECS;
use crate::web::state::AppState;

/// 200 `ok` when MySQL answers, else 503.
pub async fn check(state: web::Data<AppState>) -> HttpResponse {
    if data::ping(&state.pool).await {
        HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ok")
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", RETRY_AFTER_SECS))
            .content_type("text/plain; charset=utf-8")
            .body("database unavailable")
    }
}
