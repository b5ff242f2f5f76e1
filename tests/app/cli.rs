//! The real binary: configuration errors, `migrate`, `user add`, `sessions purge-expired`, and
//! a graceful stop on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use test_database::TestDatabase;

use crate::support::binary::{self, first_health_check, Server};
use crate::support::spare_port;

fn command(db: &TestDatabase) -> Command {
    binary::command(&db.url())
}

#[tokio::test]
async fn a_bad_setting_stops_the_app_with_one_line_naming_it() {
    let db = TestDatabase::create().await;
    for (var, value) in [
        ("SESSION_IDLE_TIMEOUT", "soon"),
        ("BIND", "not an address"),
        ("APP_ENV", "production"),
    ] {
        let out = command(&db).env(var, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(var), "{stderr}");
    }
}

#[tokio::test]
async fn migrate_user_add_and_purge() {
    let db = TestDatabase::create().await;
    let out = command(&db).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let add = |name: &str, password: &str| {
        let mut child = command(&db)
            .args(["user", "add", name, "--display-name", "Una Admin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(add("Una", "unas long password").status.success());
    let again = add("una", "unas long password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("taken"));
    let short = add("vic", "short");
    assert!(!short.status.success());

    let mut conn = db.pool().get_conn().await.unwrap();
    let (id, name, hash): (String, String, String) = conn
        .query_first(
            "SELECT m.id, a.name, m.password_hash FROM member m JOIN author a ON a.id = m.author_id",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((id.as_str(), name.as_str()), ("una", "Una Admin"));
    assert!(hash.starts_with("$argon2id$"));

    conn.query_drop(
        "INSERT INTO sessions (id, user_id, data, expires_at, created_at, last_seen_at)
         VALUES (UNHEX(SHA2('a', 256)), NULL, '{}', UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE,
                 UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
                (UNHEX(SHA2('b', 256)), NULL, '{}', UTC_TIMESTAMP(6) + INTERVAL 1 HOUR,
                 UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
    )
    .await
    .unwrap();
    conn.query_drop(
        "INSERT INTO login_throttle (account, failures, locked_until, last_failure_at)
         VALUES ('stale', 3, NULL, UTC_TIMESTAMP(6) - INTERVAL 2 HOUR),
                ('recent', 3, NULL, UTC_TIMESTAMP(6))",
    )
    .await
    .unwrap();
    let out = command(&db)
        .args(["sessions", "purge-expired"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let left: u64 = conn
        .query_first("SELECT COUNT(*) FROM sessions")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left, 1, "only the expired row is gone");
    let throttled: Vec<String> = conn
        .query("SELECT account FROM login_throttle")
        .await
        .unwrap();
    assert_eq!(
        throttled,
        ["recent"],
        "only the quiet account name is forgotten"
    );
}

#[tokio::test]
async fn serve_stops_gracefully_on_sigterm() {
    let db = TestDatabase::create().await;
    let port = spare_port();
    let server = Server::spawn(
        command(&db)
            .env("BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let health = first_health_check(&format!("http://127.0.0.1:{port}")).await;
    assert_eq!(health.text().await.unwrap(), "ok");
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut child = server.into_child();
    let out = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("SESSION_KEY is not set"),
        "the development key is announced"
    );
    assert!(!log.contains("panicked"));
}
