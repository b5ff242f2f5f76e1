//! Integration tests, one module per feature: the real server on a random port, a fresh
//! database per test, real HTTP with a cookie jar; the real binary; real headless Chromium; a
//! MariaDB server killed under the running app. One test binary, so the app and the toolkit
//! (the `test-support` crate) are linked once.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

// What members do.
mod activity;
mod devices;
mod email;
mod password_change;
mod profile;
mod registration;
mod signin;

// The defences of the README's security section.
mod breached;
mod cookies;
mod csrf;
mod forms;
mod forwarding;
mod password_strength;
mod responses;
mod slow_clients;
mod throttling;

// The app as a whole: cost, failures, operations, a real browser.
mod browser;
mod cli;
mod delete;
mod first_start;
mod mail_ops;
mod memory;
mod metrics;
mod outage;
mod refused;
mod remember;
mod round_trips;
mod two_factor;

/// The binary under test, as Cargo built it for this test run.
const BIN: &str = env!("CARGO_BIN_EXE_member-portal");
