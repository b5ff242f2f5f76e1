//! The HTTP layer: the route table and its thin handlers, and everything that reads or writes
//! HTTP — the session and its cookie, CSRF and typed forms, the signed-in guard, which
//! forwarding headers we believe, security headers, error pages, templates.
//!
//! - `routes`: the route table ([`configure`]) and one module per page;
//! - `session`: [`TypedSession`], every key the app keeps in a session, and the session
//!   cookie's policy ([`session_middleware`]);
//! - `csrf`: CSRF tokens and the checked, typed form extractor;
//! - `guard`: the signed-in guard every member page sits behind, and `CurrentMember`;
//! - `client`: the client's address, the site's own origin, [`ClientInfo`](crate::domain::ClientInfo)
//!   as an extractor: what `TRUSTED_PROXIES` and `PUBLIC_ORIGIN` make us believe;
//! - `credentials`: the one throttled password check (sign-in, password change);
//! - `ip_limit`: the per-IP limit on sign-in attempts, in memory;
//! - `errors`: [`AppError`] and how each error is answered; `middleware`: security headers
//!   and HTML error pages; `templates`: the Askama pages; `state`: [`AppState`].
//!
//! May touch: [`crate::telemetry`], [`crate::data`], [`crate::domain`].

mod cap;
mod client;
mod credentials;
mod csrf;
mod errors;
mod gate;
mod guard;
mod ip_limit;
mod middleware;
mod routes;
mod session;
mod state;
mod templates;

pub use cap::cap_sessions;
pub use client::{client_info, Frontend, SiteOrigin, TrustedProxies};
pub use csrf::{payload_config, CsrfSigner, ANONYMOUS_TOKEN_LIFETIME, FORM_LIMIT};
pub use errors::{AppError, RETRY_AFTER_SECS};
pub use gate::AccountGate;
pub use ip_limit::SignInIpLimit;
pub use middleware::{error_pages, security_headers};
pub use routes::{configure, BAD_CREDENTIALS};
pub use session::{
    client_of, mark_session_lifetime, session_cookie_max_age, session_middleware, Lifetime,
    TypedSession, SECOND_FACTOR_WINDOW, SESSION_COOKIE,
};
pub use state::{AppState, RESET_LOOKUPS};
