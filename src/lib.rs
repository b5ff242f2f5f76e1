//! member-portal: members sign in and are remembered by a server-side session in MySQL.
//!
//! A map of the code:
//!
//! | module | what lives there | may touch |
//! | --- | --- | --- |
//! | [`cli`] | the command line (`serve`, `migrate`, `user add, set-password, delete`, `sessions list, revoke, purge-expired`) | everything |
//! | [`config`] | settings from the environment | nothing |
//! | [`startup`] | pools, the session store, the middleware stack, the server, background tasks | everything |
//! | [`metrics`] | Prometheus metrics, their listener, the timed session store, store upkeep | the store |
//! | [`middleware`] | security headers, HTML error pages | `errors` |
//! | [`routes`] | the route table and thin HTTP handlers, one module per page | the modules below |
//! | [`state`] | [`state::AppState`], what handlers share | nothing |
//! | [`auth`] | the `require_member` guard and the current member | session, `members` |
//! | [`session`] | [`session::TypedSession`]: every key the app keeps in a session | session |
//! | [`credentials`] | the one throttled password check (sign-in, password change) | `throttle`, `members`, `password` |
//! | [`csrf`] | CSRF tokens and the checked form extractor | session, cookies |
//! | [`origin`] | the site's own origin (`PUBLIC_ORIGIN`, trusted forwarding headers) | nothing |
//! | [`client_ip`] | the client's address (`TRUSTED_PROXIES`, `X-Forwarded-For`) | nothing |
//! | [`members`] | every SQL statement about members and authors | the database |
//! | [`events`] | security events (the activity page): every SQL statement about them | the database |
//! | [`ip_limit`] | the per-IP limit on sign-in attempts, in memory | nothing |
//! | [`throttle`] | sign-in throttling kept in MySQL | the database |
//! | [`password`] | argon2id hashing off the async workers | CPU only |
//! | [`domain`] | validated input types | nothing |
//! | [`db`] | connections, timeouts, migrations | the database |
//! | [`errors`] | the error policy and error pages | nothing |
//! | [`templates`] | Askama page structs | nothing |
//!
//! Sessions are stored by the `actix-session-mysql` crate of this workspace.

pub mod auth;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod credentials;
pub mod csrf;
pub mod db;
pub mod domain;
pub mod errors;
pub mod events;
pub mod ip_limit;
pub mod members;
pub mod metrics;
pub mod middleware;
pub mod origin;
pub mod password;
pub mod routes;
pub mod session;
pub mod startup;
pub mod state;
pub mod templates;
pub mod throttle;

/// Set up logging to stderr through `filter` (`RUST_LOG`, checked by [`config::Settings`]).
pub fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::builder()
        .parse(filter.trim())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
