//! [`Metrics`]: the registry and every family in it.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::Hasher;

/// How often the background task counts live sessions for `member_portal_sessions_active`.
pub const SESSIONS_ACTIVE_EVERY: Duration = Duration::from_secs(30);

/// Request durations, in seconds: pages take milliseconds, the database timeout is 3 s.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Store operations, in seconds: an indexed point read is a fraction of a millisecond.
const STORE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How a sign-in attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// Signed in.
    Success,
    /// Wrong password or no such member.
    Failure,
    /// Refused before any verification: too many recent attempts.
    Throttled,
}

/// How one delivery attempt of a mail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailOutcome {
    /// Delivered (the SMTP server took it).
    Sent,
    /// Not this time: tried again later.
    Retry,
    /// Given up on (a permanent refusal, or undeliverable for a day).
    Failed,
}

/// A timed session-store operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    /// Read a session.
    Load,
    /// Insert a new session.
    Save,
    /// Write a session's new state.
    Update,
    /// Extend a session's expiry (at most one write per touch interval).
    Touch,
    /// Delete a session (sign-out).
    Delete,
    /// Delete expired sessions (the background task).
    Cleanup,
}

impl StoreOp {
    const ALL: [Self; 6] = [
        Self::Load,
        Self::Save,
        Self::Update,
        Self::Touch,
        Self::Delete,
        Self::Cleanup,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Load => "load",
            Self::Save => "save",
            Self::Update => "update",
            Self::Touch => "touch",
            Self::Delete => "delete",
            Self::Cleanup => "cleanup",
        }
    }
}

/// The app's metrics. Cloning is cheap and shares everything.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    /// Indexed by `SignIn as usize`.
    signins: [IntCounter; 3],
    http: HistogramVec,
    /// Indexed by `StoreOp as usize`.
    store: [Histogram; 6],
    sessions_active: IntGauge,
    hash_queue: IntGauge,
    /// `waiting`, `failed`.
    mail_outbox: [IntGauge; 2],
    /// Indexed by `MailOutcome as usize`.
    mail_sent: [IntCounter; 3],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with every family registered (and every fixed label set created, so
    /// the families show from the first scrape on).
    pub fn new() -> Self {
        // Registering distinct, valid, constant names cannot fail.
        Self::try_new().expect("the metric definitions are valid")
    }

    fn try_new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let signins = IntCounterVec::new(
            Opts::new(
                "member_portal_signins_total",
                "Sign-in attempts by outcome.",
            ),
            &["outcome"],
        )?;
        let http = HistogramVec::new(
            HistogramOpts::new(
                "member_portal_http_request_duration_seconds",
                "Time to answer an HTTP request, by route pattern and status class.",
            )
            .buckets(HTTP_BUCKETS.to_vec()),
            &["route", "status"],
        )?;
        let store = HistogramVec::new(
            HistogramOpts::new(
                "member_portal_session_store_duration_seconds",
                "Time taken by session store operations.",
            )
            .buckets(STORE_BUCKETS.to_vec()),
            &["op"],
        )?;
        let sessions_active = IntGauge::new(
            "member_portal_sessions_active",
            "Live (unexpired) sessions in the database, counted periodically.",
        )?;
        let hash_queue = IntGauge::new(
            "member_portal_password_hash_queue",
            "Password hashes waiting or running.",
        )?;
        let mail_outbox = IntGaugeVec::new(
            Opts::new(
                "member_portal_mail_outbox",
                "Mails in the outbox by state, counted periodically.",
            ),
            &["state"],
        )?;
        let mail_sent = IntCounterVec::new(
            Opts::new(
                "member_portal_mail_sent_total",
                "Mail delivery attempts by outcome.",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(mail_outbox.clone()))?;
        registry.register(Box::new(mail_sent.clone()))?;
        registry.register(Box::new(signins.clone()))?;
        registry.register(Box::new(http.clone()))?;
        registry.register(Box::new(store.clone()))?;
        registry.register(Box::new(sessions_active.clone()))?;
        registry.register(Box::new(hash_queue.clone()))?;
        let outcome = |o: &str| signins.with_label_values(&[o]);
        Ok(Self(Arc::new(Inner {
            registry,
            signins: [outcome("success"), outcome("failure"), outcome("throttled")],
            store: StoreOp::ALL.map(|op| store.with_label_values(&[op.label()])),
            http,
            sessions_active,
            hash_queue,
            mail_outbox: ["waiting", "failed"].map(|state| mail_outbox.with_label_values(&[state])),
            mail_sent: ["sent", "retry", "failed"].map(|o| mail_sent.with_label_values(&[o])),
        })))
    }

    /// Count a sign-in attempt.
    pub fn sign_in(&self, outcome: SignIn) {
        self.0.signins[outcome as usize].inc();
    }

    /// Record how long a store operation took.
    pub fn store_op(&self, op: StoreOp, took: Duration) {
        self.0.store[op as usize].observe(took.as_secs_f64());
    }

    /// Record an answered request. `route` is the matched pattern (bounded by the route
    /// table), never the raw path.
    pub fn http_request(&self, route: &str, status: StatusCode, took: Duration) {
        // Looking the child up hashes two short strings under a read lock; it allocates only
        // the first time a (route, class) pair is seen.
        self.0
            .http
            .with_label_values(&[route, status_class(status)])
            .observe(took.as_secs_f64());
    }

    /// Count a mail delivery attempt.
    pub fn mail(&self, outcome: MailOutcome) {
        self.0.mail_sent[outcome as usize].inc();
    }

    /// Set the outbox gauges.
    pub fn set_mail_outbox(&self, waiting: u64, failed: u64) {
        self.0.mail_outbox[0].set(i64::try_from(waiting).unwrap_or(i64::MAX));
        self.0.mail_outbox[1].set(i64::try_from(failed).unwrap_or(i64::MAX));
    }

    /// Set the number of live sessions.
    pub fn set_sessions_active(&self, live: u64) {
        self.0
            .sessions_active
            .set(i64::try_from(live).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition of every family, with the hash queue read now.
    pub fn render(&self, hasher: &Hasher) -> String {
        self.0
            .hash_queue
            .set(i64::try_from(hasher.in_flight()).unwrap_or(i64::MAX));
        let mut text = Vec::new();
        // Encoding into a Vec only fails on metric families the registry itself refuses.
        if let Err(error) = TextEncoder::new().encode(&self.0.registry.gather(), &mut text) {
            tracing::error!(error = %error, "could not encode the metrics");
        }
        String::from_utf8(text).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(StatusCode::OK), "2xx");
        assert_eq!(status_class(StatusCode::SEE_OTHER), "3xx");
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }

    #[test]
    fn every_family_renders_from_the_start() {
        let text = Metrics::new().render(&Hasher::new());
        for family in [
            "member_portal_signins_total{outcome=\"throttled\"} 0",
            "member_portal_session_store_duration_seconds_count{op=\"cleanup\"} 0",
            "member_portal_sessions_active 0",
            "member_portal_password_hash_queue 0",
        ] {
            assert!(text.contains(family), "{family} missing from\n{text}");
        }
    }
}
