//! The real `member-portal` binary, run as an operator runs it.
//!
//! Cargo tells only the package's own integration tests where it built the binary
//! (`env!("CARGO_BIN_EXE_member-portal")`): they pass that path in.

use std::ffi::OsStr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use reqwest::Response;

/// The binary at `program` on `database_url`, with nothing of this process's environment but
/// `PATH` (so no setting leaks in from the machine), logging at `info`, e-mail off, in the temporary
/// directory (so no `.env` file is read).
pub fn command(program: impl AsRef<OsStr>, database_url: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "info")
        // A test that reads mail points SMTP_URL at an SMTP server of its own.
        .env("SMTP_URL", "off")
        .current_dir(std::env::temp_dir());
    cmd
}

/// A server process, killed on drop (also when the test fails).
#[derive(Debug)]
pub struct Server(Option<Child>);

impl Server {
    pub fn spawn(command: &mut Command) -> Self {
        Self(Some(command.spawn().unwrap()))
    }

    pub fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// The process, for a test that stops it itself.
    pub fn into_child(mut self) -> Child {
        self.0.take().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first answer of `GET {address}/healthz`, polled until the server listens (30 s at most).
pub async fn first_health_check(address: &str) -> Response {
    let health = format!("{address}/healthz");
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(&health).await {
            return r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the app did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
