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
//! - [`PwnedServer`]: a real HTTP server of the Pwned Passwords range API on a loopback port,
//!   which the app's breached-password check asks.
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
mod pwned;
mod smtp;
mod visitor;

pub use answer::Answer;
pub use app::{init_tracing, session_key_b64, spawn_app, spawn_app_with, test_settings, TestApp};
pub use chromium::Chromium;
pub use forms::{csrf_in, hidden_value, location};
pub use mariadb::ThrowawayMariaDb;
pub use pwned::{sha1_hex, PwnedServer, RangeRequest, RangeService};
pub use smtp::{Mail, Reply, SmtpServer};
pub use visitor::{bare_client, Visitor};

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The first port [`spare_ports`] may hand out; below it are the well-known and registered
/// ports of services a developer's machine may run (MariaDB 3306, Redis 6379, Mailpit 1025).
const FIRST_SPARE_PORT: u16 = 10_000;

/// A port nobody listens on right now, and that no outgoing connection can take: see
/// [`spare_ports`].
pub fn spare_port() -> u16 {
    spare_ports(1)[0]
}

/// `count` distinct ports nobody listens on right now (all bound at once, then released).
///
/// They come from below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`), never
/// from port 0: a port the kernel hands to a listener it may later hand to an outgoing
/// connection, and a server that rebinds its port after a restart (a Galera node's SST
/// receiver, a throwaway MariaDB) then fails with "address in use". Within one process the
/// ports are never handed out twice; the walk starts at an offset drawn from the process id,
/// so two test binaries running at once seldom try the same ones.
pub fn spare_ports(count: usize) -> Vec<u16> {
    let (first, end) = spare_range();
    let span = u32::from(end - first);
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % span,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    let mut listeners = Vec::with_capacity(count);
    let mut tried = 0;
    while listeners.len() < count {
        assert!(
            tried < span,
            "no {count} spare ports left in {first}..{end}"
        );
        tried += 1;
        let port = first + (NEXT.fetch_add(1, Ordering::Relaxed) % span) as u16;
        // A port some other program listens on (or holds) is skipped, not an error.
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            listeners.push(listener);
        }
    }
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// `FIRST_SPARE_PORT` up to the start of the kernel's ephemeral range (Linux's default, 32768,
/// where the kernel does not say).
fn spare_range() -> (u16, u16) {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    assert!(
        ephemeral_start > FIRST_SPARE_PORT + 1_000,
        "the ephemeral port range starts at {ephemeral_start}: tests need ports \
         {FIRST_SPARE_PORT} and up outside it (net.ipv4.ip_local_port_range)"
    );
    (FIRST_SPARE_PORT, ephemeral_start)
}
