//! [`server`]: the second listener, serving `GET /metrics` (and `HEAD`) and nothing else.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{guard, web, App, HttpResponse, HttpServer};

use super::Metrics;
use crate::domain::Hasher;

/// The metrics listener: `GET /metrics` and nothing else, on one worker.
pub fn server(listener: TcpListener, metrics: Metrics, hasher: Hasher) -> anyhow::Result<Server> {
    let server = HttpServer::new(move || {
        let metrics = metrics.clone();
        let hasher = hasher.clone();
        App::new().route(
            "/metrics",
            // HEAD too: monitors probe with it.
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(move || {
                    let body = metrics.render(&hasher);
                    async move {
                        HttpResponse::Ok()
                            .insert_header((header::CONTENT_TYPE, prometheus::TEXT_FORMAT))
                            .body(body)
                    }
                }),
        )
    })
    .workers(1)
    // The main server handles the signals and stops this one after itself.
    .disable_signals()
    .listen(listener)?
    .shutdown_timeout(5)
    .run();
    Ok(server)
}
