//! `/static/…`: the stylesheet, embedded in the binary so a deployment is one file.

use actix_web::http::header;
use actix_web::HttpResponse;

const STYLE: &str = include_str!("../../../static/style.css");

/// `GET /static/style.css`, cacheable for a day.
pub async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(STYLE)
}
