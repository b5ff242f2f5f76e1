//! [`time_requests`]: the middleware timing each request of the main listener.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::Metrics;

/// Middleware timing every request of the main listener into
/// `member_portal_http_request_duration_seconds`. The app registers [`Metrics`] as app data
/// only when they are served (`METRICS_BIND`); without it, requests pass through untimed.
pub async fn time_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(metrics) = req.app_data::<Metrics>().cloned() else {
        return next.call(req).await;
    };
    let started = Instant::now();
    // Before the call: an error result no longer carries its request. The pattern, never the
    // path: unknown paths would make one series each.
    let route = req.match_pattern();
    let result = next.call(req).await;
    let took = started.elapsed();
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    metrics.http_request(route.as_deref().unwrap_or("unmatched"), status, took);
    result
}
