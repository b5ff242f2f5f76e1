//! Integration tests: the real server on a random port, a fresh database per test, real HTTP
//! with a cookie jar; the real binary; real headless Chromium; a MariaDB server killed under
//! the running app. One test binary, so the app and the toolkit in `support` are linked once.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

mod account;
mod activity;
mod auth;
mod browser;
mod cli;
mod csrf;
mod delete;
mod hardening;
mod ip_limit;
mod memory;
mod metrics;
mod outage;
mod profile;
mod remember;
mod round_trips;
mod security;
mod sessions;
mod signin;
mod two_factor;
