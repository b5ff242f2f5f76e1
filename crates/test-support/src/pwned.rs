//! A real HTTP server of the Pwned Passwords range API (`GET /range/{5 hex digits}`, HTTP/1.1
//! on the loopback) that a test runs in its own process, so the app's real HTTP client asks
//! it: no mock. It knows the passwords a test calls breached and answers as the real service
//! does: every known suffix under the prefix as `SUFFIX:COUNT`, and, when asked with
//! `Add-Padding: true`, decoys of count 0.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How the server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeService {
    /// Answers ranges.
    Answering,
    /// Accepts connections and reads requests, and never answers (a hung service).
    Silent,
    /// Answers every request `503 Service Unavailable`.
    Failing,
}

/// One request the server read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRequest {
    /// The request line's target, e.g. `/range/5BAA6`.
    pub path: String,
    /// Whether the request asked for padding (`Add-Padding: true`).
    pub padded: bool,
}

#[derive(Debug)]
struct State {
    mode: RangeService,
    /// Upper-case hex SHA-1 of every breached password, with how often it was seen.
    breached: Vec<(String, u64)>,
    requests: Mutex<Vec<RangeRequest>>,
}

/// A handle on the server on `127.0.0.1`; it stops when dropped.
#[derive(Debug)]
pub struct PwnedServer {
    port: u16,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for PwnedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PwnedServer {
    /// Serve on a free loopback port, on the current tokio runtime; `breached` are the
    /// passwords it knows, each seen 1,000 times more than the one before.
    pub async fn start(mode: RangeService, breached: &[&str]) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", crate::spare_port()))
            .await
            .unwrap_or_else(|e| panic!("test range server: cannot bind a loopback port: {e}"));
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            mode,
            breached: breached
                .iter()
                .zip(1u64..)
                .map(|(password, n)| (sha1_hex(password), n * 1_000))
                .collect(),
            requests: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        Self { port, state, task }
    }

    /// The base URL to give as `PWNED_PASSWORDS_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request read so far, in order.
    pub fn requests(&self) -> Vec<RangeRequest> {
        self.state.requests.lock().unwrap().clone()
    }
}

/// The upper-case hex SHA-1 of `password`, as the range API keys it.
pub fn sha1_hex(password: &str) -> String {
    hex::encode_upper(Sha1::digest(password.as_bytes()))
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    // The connections live in the set, so aborting this task closes them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    connections.spawn(serve(stream, state.clone()));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Read one request (its head; a GET has no body) and answer it, then close.
async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or_default()
        .to_owned();
    let padded = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("add-padding") && value.trim() == "true"
        })
    });
    state.requests.lock().unwrap().push(RangeRequest {
        path: path.clone(),
        padded,
    });
    let (status, body) = match state.mode {
        RangeService::Silent => {
            // Hold the connection open until the client gives up.
            let _ = stream.read(&mut buf).await;
            return;
        }
        RangeService::Failing => ("503 Service Unavailable", String::new()),
        RangeService::Answering => match path.strip_prefix("/range/") {
            Some(prefix) if prefix.len() == 5 && prefix.bytes().all(|b| b.is_ascii_hexdigit()) => (
                "200 OK",
                range(&state, &prefix.to_ascii_uppercase(), padded),
            ),
            _ => (
                "400 Bad Request",
                "The hash prefix was not in a valid format".to_owned(),
            ),
        },
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The known suffixes under `prefix`, and with `padded` decoys of count 0 (what the real
/// service adds so that every answer is about the same size).
fn range(state: &State, prefix: &str, padded: bool) -> String {
    let mut body = String::new();
    for (hash, count) in &state.breached {
        if let Some(suffix) = hash.strip_prefix(prefix) {
            let _ = write!(body, "{suffix}:{count}\r\n");
        }
    }
    if padded {
        for decoy in 0..20u32 {
            let _ = write!(body, "{:035X}:0\r\n", u128::from(decoy) * 0x1F3D_5B79);
        }
    }
    body
}
