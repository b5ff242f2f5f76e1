//! Memory under a sign-in flood, measured on the real binary (this test process runs many
//! apps at once, so only a process of its own has a peak RSS worth reading).
//!
//! Each argon2 hash needs 19 MiB. The hashing threads allocate that once each and reuse it, so
//! a flood of sign-ins must leave the process's peak RSS (`VmHWM`) within 80 MiB. (The bound
//! was 64 MiB until the password strength check: zxcvbn's frequency lists take about 8 MiB,
//! loaded at the first registration this test makes; then 72 MiB until e-mail. Measured on
//! the debug binary with e-mail: 64 MiB idle, of which 42 MiB anonymous — the two hashing
//! threads' 19 MiB each — and 22 MiB of the 230 MiB binary's pages; 74 MiB peak in the flood.
//! A leak of one hash buffer per sign-in would pass it within a handful of sign-ins.)

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use test_database::TestDatabase;
use test_support::binary::{self, first_health_check, Server};
use test_support::{session_key_b64, spare_port, Visitor};

const FLOOD: Duration = Duration::from_secs(8);
const CONNECTIONS: usize = 32;
const PEAK_RSS_LIMIT_KIB: u64 = 80 * 1024;

/// A `/proc/PID/status` field, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.trim().strip_suffix("kB"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_sign_in_flood_keeps_peak_rss_within_80_mib() {
    let db = TestDatabase::create().await;
    let port = spare_port();
    let server = Server::spawn(
        binary::command(crate::BIN, &db.url())
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("SESSION_KEY", session_key_b64())
            .env("RUST_LOG", "warn")
            .env("LOGIN_IP_LIMIT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let pid = server.id();
    let base = format!("http://127.0.0.1:{port}");
    first_health_check(&base).await;
    // One member per connection: the per-account throttle counts attempts before verifying
    // them, so many parallel sign-ins on one account would be (rightly) throttled.
    let http = Visitor::at(&base);
    let token = http.csrf_token("/register").await;
    for n in 0..CONNECTIONS {
        let member = http.sharing_jar();
        let r = member
            .post(
                "/register",
                &[
                    ("csrf_token", token.as_str()),
                    ("username", &format!("flo{n}")),
                    ("name", "Flo"),
                    ("password", "flos password"),
                    ("password_confirm", "flos password"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        http.forget_sid();
    }

    let until = Instant::now() + FLOOD;
    let mut flood = tokio::task::JoinSet::new();
    for n in 0..CONNECTIONS {
        let base = base.clone();
        let username = format!("flo{n}");
        flood.spawn(async move {
            let http = Visitor::at(&base);
            let token = http.csrf_token("/login").await;
            let mut signed_in = 0_u32;
            while Instant::now() < until {
                let r = http
                    .post(
                        "/login",
                        &[
                            ("csrf_token", token.as_str()),
                            ("username", username.as_str()),
                            ("password", "flos password"),
                        ],
                    )
                    .await;
                // 503 (hashing saturated, with Retry-After) is an allowed answer in a flood.
                match r.status() {
                    StatusCode::SEE_OTHER => signed_in += 1,
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert!(r.headers().contains_key("retry-after"));
                    }
                    other => panic!("a sign-in in the flood got {other}"),
                }
            }
            signed_in
        });
    }
    let mut signed_in = 0;
    while let Some(n) = flood.join_next().await {
        signed_in += n.unwrap();
    }
    assert!(signed_in > 0, "no sign-in succeeded during the flood");
    let peak = status_kib(pid, "VmHWM:");
    let now = status_kib(pid, "VmRSS:");
    eprintln!("sign-in flood: {signed_in} sign-ins, peak RSS {peak} KiB, RSS after {now} KiB");
    assert!(
        peak <= PEAK_RSS_LIMIT_KIB,
        "peak RSS {peak} KiB (now {now} KiB) after {signed_in} sign-ins"
    );
}
