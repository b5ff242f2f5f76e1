//! Integration tests: the real server on a random port, a fresh database per test, real HTTP
//! with a cookie jar. One test binary, so the app is linked once.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod account;
mod activity;
mod auth;
mod csrf;
mod hardening;
mod helpers;
mod ip_limit;
mod memory;
mod metrics;
mod profile;
mod round_trips;
mod security;
mod sessions;
mod signin;
