//! member-portal: members sign in and are remembered by a server-side session in MySQL.
//!
//! A map of the code, top to bottom. A module may use the layers below it, never one above:
//! `tests/layers.rs` reads every `use crate::…` and `crate::…` path in `src/` and fails on an
//! import that runs upward, and on two modules of one folder that import each other.
//!
//! | layer | what lives there | may touch |
//! | --- | --- | --- |
//! | [`cli`], [`startup`], [`tasks`], [`config`] | the command line; pools, the store, the middleware stack and the server; the one owner of background work; settings from the environment | everything |
//! | [`web`] | HTTP: routes and thin handlers, the typed session and its cookie, CSRF and typed forms, the signed-in guard, forwarding headers, error pages, templates | `breaches`, `telemetry`, `data`, `domain` |
//! | [`mail`] | mail delivery: the SMTP (or file) transport, the sender that delivers the outbox | `telemetry`, `data`, `domain` |
//! | [`breaches`] | the breached-password check: a k-anonymity range API asked about a new password | `domain` |
//! | [`telemetry`] | Prometheus families, request timing, the timed store, the metrics listener | `domain` |
//! | [`data`] | the pool and migrations, and every SQL statement: members, events, throttle, addresses and links, the outbox | `domain` |
//! | [`domain`] | validated input, password hashing, random tokens, who did something, e-mail addresses and link tokens, what mails say | nothing |
//!
//! Sessions are stored by the `actix-session-mysql` crate of this workspace; every layer may
//! use it.
//!
//! Errors: each layer has its own error type ([`data::DbError`], [`domain::HashError`]) and
//! the HTTP layer maps them once, in [`web::AppError`], to a status and a page.

pub mod breaches;
pub mod cli;
pub mod config;
pub mod data;
pub mod domain;
pub mod mail;
pub mod startup;
pub mod tasks;
pub mod telemetry;
pub mod web;

/// Set up logging to stderr through `filter` (`RUST_LOG`, checked by [`config::Settings`]).
///
/// actix-session logs at `info` for every request whose cookie names a session the store no
/// longer has ("No session state has been found"): a replayed dead cookie would write a line
/// per request. Unless the filter names `actix_session::middleware` itself, that module logs
/// warnings only.
pub fn init_tracing(filter: &str) {
    let filter = filter.trim();
    let filter = if filter.contains("actix_session::middleware") {
        filter.to_owned()
    } else {
        format!("{filter},actix_session::middleware=warn")
    };
    let filter = tracing_subscriber::EnvFilter::builder()
        .parse(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
