//! The toolkit of member-portal's integration tests (`tests/app` and `tests/cluster`):
//!
//! - [`spawn_app`] / [`spawn_app_with`]: the app on a random port with a fresh database of its
//!   own, on the test default [`Settings`](member_portal::config::Settings) with the test's own
//!   changes on top; [`TestApp`] also starts it on a database or server the test provides.
//! - [`Visitor`]: a browser (a cookie jar of its own, redirects not followed) with the form
//!   helpers (CSRF token, register, sign in, sign out); [`Answer`]: an answer read whole and
//!   timed, for traffic under failures, where what went wrong must be described, not panicked on.
//! - [`forms`]: what tests read from pages (hidden inputs, the CSRF token, where a redirect
//!   points).
//! - [`binary`]: the real `member-portal` binary, run as an operator runs it.
//! - [`mariadb`]: MariaDB servers of a test's own, from the Debian package, and
//!   [`ThrowawayMariaDb`], one that a test kills, restarts and freezes.
//! - [`Chromium`]: real headless Chromium through chromedriver (WebDriver).
//! - [`SmtpServer`]: a real SMTP server on a loopback port that the app's mail transport
//!   delivers to; [`Mail`]: a message it accepted, with its subject, text and links decoded.
//!
//! Everything here fails the test loudly (a panic with one line saying what is missing or what
//! went wrong); nothing skips.

#![allow(clippy::unwrap_used)] // test support: a failure here should fail the test

mod answer;
mod app;
pub mod binary;
mod chromium;
pub mod forms;
pub mod mariadb;
mod smtp;
mod visitor;

pub use answer::Answer;
pub use app::{init_tracing, session_key_b64, spawn_app, spawn_app_with, test_settings, TestApp};
pub use chromium::Chromium;
pub use forms::{csrf_in, hidden_value, location};
pub use mariadb::ThrowawayMariaDb;
pub use smtp::{Mail, Reply, SmtpServer};
pub use visitor::{bare_client, Visitor};

use std::net::TcpListener;

/// A port nobody listens on right now: bind port 0, keep the number, release it.
pub fn spare_port() -> u16 {
    spare_ports(1)[0]
}

/// `count` distinct ports nobody listens on right now (all bound at once, then released).
pub fn spare_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}
