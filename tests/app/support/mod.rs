//! The test toolkit: the app on a fresh database and visitors to drive it, the real binary, a
//! MariaDB server of a test's own, and headless Chromium.

pub mod binary;
mod chromium;
mod mariadb;
mod portal;

pub use chromium::Chromium;
pub use mariadb::ThrowawayMariaDb;
pub use portal::{
    bare_client, csrf_in, location, session_key_b64, spawn_app, spawn_app_with, TestApp, Visitor,
};

/// A port nobody listens on right now: bind port 0, keep the number, release it.
pub fn spare_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
