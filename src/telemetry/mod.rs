//! Prometheus metrics, served by a listener of their own (`METRICS_BIND`), never on `BIND`.
//!
//! Each [`Application`](crate::startup::Application) has its own registry (no process-wide
//! state), so several apps in one process, as in the tests, count separately.
//!
//! | family | type | labels |
//! | --- | --- | --- |
//! | `member_portal_signins_total` | counter | `outcome` = success, failure, throttled |
//! | `member_portal_http_request_duration_seconds` | histogram | `route` (the pattern, or `unmatched`), `status` (`2xx`…`5xx`) |
//! | `member_portal_session_store_duration_seconds` | histogram | `op` = load, save, update, touch, delete, cleanup |
//! | `member_portal_sessions_active` | gauge | — (refreshed every [`SESSIONS_ACTIVE_EVERY`]) |
//! | `member_portal_password_hash_queue` | gauge | — (read when scraped) |
//! | `member_portal_mail_outbox` | gauge | `state` = waiting, failed (refreshed every [`SESSIONS_ACTIVE_EVERY`]) |
//! | `member_portal_mail_sent_total` | counter | `outcome` = sent, retry, failed |
//!
//! - `families`: the registry and every family ([`Metrics`]);
//! - `requests`: the middleware timing each request ([`time_requests`]);
//! - `store`: the session store, each operation timed ([`TimedStore`]);
//! - `listener`: the second listener serving `GET /metrics` ([`server`]).

mod families;
mod listener;
mod requests;
mod store;

pub use families::{MailOutcome, Metrics, SignIn, StoreOp, SESSIONS_ACTIVE_EVERY};
pub use listener::server;
pub use requests::time_requests;
pub use store::TimedStore;
