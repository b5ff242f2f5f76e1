//! The real binary: configuration errors, `migrate`, `user add`, `sessions purge-expired`, and
//! a graceful stop on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use test_database::TestDatabase;
use test_support::binary::{self, first_health_check, Server};
use test_support::spare_port;

fn command(db: &TestDatabase) -> Command {
    binary::command(crate::BIN, &db.url())
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
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("database ready"));

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
    let added = add("Una", "unas long password");
    assert!(added.status.success());
    assert_eq!(
        String::from_utf8_lossy(&added.stdout),
        "member una added, display name \"Una Admin\"\n"
    );
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
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "deleted 1 expired session(s), 1 stale throttle row(s), 0 security event(s) older than \
         90 days\n"
    );
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
    let out = stop_with_sigterm(server).await;
    assert!(out.status.success(), "{out:?}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("SESSION_KEY is not set"),
        "the development key is announced"
    );
    assert!(!log.contains("panicked"));
}

/// Send the server SIGTERM and wait (30 s at most) for it to exit; what it wrote.
async fn stop_with_sigterm(server: Server) -> std::process::Output {
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut child = server.into_child();
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// Run the binary with `args`, `stdin` as its standard input.
fn run(db: &TestDatabase, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = command(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    // A command that needs no input may exit before reading it: a broken pipe is fine.
    match write!(child.stdin.take().unwrap(), "{stdin}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing stdin: {e}"),
        _ => {}
    }
    child.wait_with_output().unwrap()
}

fn stdout_of(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test]
async fn admin_commands_manage_members_and_their_sessions() {
    let db = TestDatabase::create().await;
    for name in ["una", "vic"] {
        let added = run(&db, &["user", "add", name], "a long password\n");
        assert!(added.status.success(), "{added:?}");
    }
    let mut conn = db.pool().get_conn().await.unwrap();
    let device = r#"{"actix_identity.user_id":"\"una\"","ua":"\"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\"","ip":"\"203.0.113.9\""}"#;
    conn.exec_drop(
        "INSERT INTO sessions (id, user_id, data, expires_at, created_at, last_seen_at)
         VALUES (UNHEX(SHA2('u1', 256)), 'una', ?, UTC_TIMESTAMP(6) + INTERVAL 1 HOUR,
                 UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
                (UNHEX(SHA2('u2', 256)), 'una', '{}', UTC_TIMESTAMP(6) + INTERVAL 1 HOUR,
                 UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
                (UNHEX(SHA2('u3', 256)), 'una', '{}', UTC_TIMESTAMP(6) - INTERVAL 1 SECOND,
                 UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
                (UNHEX(SHA2('v1', 256)), 'vic', '{}', UTC_TIMESTAMP(6) + INTERVAL 1 HOUR,
                 UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
        (device,),
    )
    .await
    .unwrap();
    let sessions_of = async |conn: &mut mysql_async::Conn, who: &str| -> u64 {
        conn.exec_first(
            "SELECT COUNT(*) FROM sessions WHERE user_id = ? AND expires_at > UTC_TIMESTAMP(6)",
            (who,),
        )
        .await
        .unwrap()
        .unwrap()
    };

    // Listing: one line per live session, then a summary; the name is canonicalised.
    let listed = stdout_of(&run(&db, &["sessions", "list", " UNA "], ""));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(
        lines.iter().any(|l| l.contains("IP 203.0.113.9")
            && l.contains("Firefox 120 on Linux")
            && l.contains("created 2")
            && l.contains("last seen 2")),
        "{listed}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("IP unknown  Unknown browser")),
        "{listed}"
    );
    assert_eq!(lines[2], "una: 2 sessions");

    // A new password signs the member out everywhere; the other member keeps its session.
    // (The expired row would count as deleted too: purged first, as the cleanup task would.)
    conn.query_drop("DELETE FROM sessions WHERE expires_at <= UTC_TIMESTAMP(6)")
        .await
        .unwrap();
    let hash_before: String = conn
        .query_first("SELECT password_hash FROM member WHERE id = 'una'")
        .await
        .unwrap()
        .unwrap();
    let set = stdout_of(&run(
        &db,
        &["user", "set-password", "una"],
        "another long one\n",
    ));
    assert_eq!(set.trim(), "password of una changed; 2 sessions signed out");
    let hash_after: String = conn
        .query_first("SELECT password_hash FROM member WHERE id = 'una'")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(hash_before, hash_after);
    assert_eq!(sessions_of(&mut conn, "una").await, 0);
    assert_eq!(sessions_of(&mut conn, "vic").await, 1);
    let short = run(&db, &["user", "set-password", "una"], "short\n");
    assert!(!short.status.success());

    // Revoking: every session of that member, and nobody else's.
    let revoked = stdout_of(&run(&db, &["sessions", "revoke", "vic"], ""));
    assert_eq!(revoked.trim(), "vic: 1 session signed out");
    assert_eq!(sessions_of(&mut conn, "vic").await, 0);

    // Deleting: member, author, sessions and security events go together.
    conn.query_drop(
        "INSERT INTO sessions (id, user_id, data, expires_at, created_at, last_seen_at)
         VALUES (UNHEX(SHA2('u4', 256)), 'una', '{}', UTC_TIMESTAMP(6) + INTERVAL 1 HOUR,
                 UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
    )
    .await
    .unwrap();
    let deleted = stdout_of(&run(&db, &["user", "delete", "una"], ""));
    assert_eq!(
        deleted.trim(),
        "member una deleted with its author, 1 session and 1 security event",
        "the password change was recorded"
    );
    for (table, left) in [
        ("SELECT COUNT(*) FROM member", 1_u64),
        ("SELECT COUNT(*) FROM author", 1),
        ("SELECT COUNT(*) FROM sessions WHERE user_id = 'una'", 0),
        (
            "SELECT COUNT(*) FROM security_events WHERE member_id = 'una'",
            0,
        ),
    ] {
        let count: u64 = conn.query_first(table).await.unwrap().unwrap();
        assert_eq!(count, left, "{table}");
    }

    // An unknown (or impossible) name: a non-zero exit, one line, nothing on stdout.
    for args in [
        &["user", "delete", "una"][..],
        &["user", "set-password", "nobody"],
        &["sessions", "list", "nobody"],
        &["sessions", "revoke", "no such name!"],
    ] {
        let out = run(&db, args, "a long password\n");
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(errors[0].contains("there is no member named"), "{stderr}");
    }
}

#[tokio::test]
async fn a_replayed_dead_cookie_writes_no_line_per_request_at_the_default_log_level() {
    let db = TestDatabase::create().await;
    let port = spare_port();
    let server = Server::spawn(
        command(&db)
            .env("BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let address = format!("http://127.0.0.1:{port}");
    first_health_check(&address).await;
    let member = test_support::Visitor::at(&address);
    member.register("rhea", "Rhea", "rheas password").await;
    let dead = member.cookie_header();
    member.sign_out().await;
    for _ in 0..100 {
        let r = test_support::bare_client()
            .get(format!("{address}/"))
            .header("cookie", &dead)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    }
    let out = stop_with_sigterm(server).await;
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("No session state"), "{log}");
    // Start-up writes about twenty lines (settings, one per migration, the listener); the
    // hundred replays must add none.
    assert!(
        log.lines().count() < 30,
        "{} lines for 100 replays:\n{log}",
        log.lines().count()
    );
}
