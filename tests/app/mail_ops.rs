//! E-mail as an operator runs it: `mail send-test` and `mail status` on the real binary,
//! development mail as `.eml` files (the log says where, never what), the per-IP limit on
//! reset requests, and the mail metrics.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use member_portal::config::MailTransport;
use reqwest::StatusCode;
use test_database::TestDatabase;
use test_support::binary::{self, first_health_check, Server};
use test_support::{spare_port, SmtpServer, TestApp, Visitor};

use crate::email::{forgot, mail_app, mails_to, register_with_email, verified_member, SOON};

/// Run the binary on `database_url` with `SMTP_URL` = `smtp_url` and `args`, off the runtime's
/// thread (the test's SMTP server runs on it).
async fn run(database_url: &str, smtp_url: &str, args: &[&str]) -> std::process::Output {
    let mut command = binary::command(crate::BIN, database_url);
    command
        .env("SMTP_URL", smtp_url)
        .args(args)
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn send_test_reports_delivery_and_status_counts_the_outbox() {
    let smtp = SmtpServer::start().await;
    let db = TestDatabase::create().await;
    let url = smtp.url();
    let out = run(&db.url(), &url, &["mail", "send-test", "ops@example.com"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("test mail sent to ops@example.com"),
        "{stdout}"
    );
    let mail = smtp.wait_for_to("ops@example.com", SOON).await;
    assert_eq!(mail.subject(), "A test mail from member-portal");

    // The server gone: a non-zero exit and one line saying where it tried.
    smtp.stop().await;
    let out = run(&db.url(), &url, &["mail", "send-test", "ops@example.com"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");

    let out = run(&db.url(), &url, &["mail", "status"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("waiting 0, failed 0, oldest waiting none"),
        "{stdout}"
    );

    // A bad SMTP_URL stops every command with one line naming it (and not its password).
    let out = run(&db.url(), "smtp://user:secret@", &["mail", "status"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("SMTP_URL") && !stderr.contains("secret"),
        "{stderr}"
    );
}

#[tokio::test]
async fn status_counts_mail_waiting_for_a_server_that_is_down() {
    let smtp = SmtpServer::start().await;
    let db = TestDatabase::create().await;
    let url = db.url();
    let smtp_url = smtp.url();
    let app = TestApp::spawn_with(
        &url,
        |s| s.mail.transport = MailTransport::Smtp(smtp_url),
        Some(db),
    )
    .await;
    smtp.stop().await;
    register_with_email(&app, "ria", "ria@example.com").await;
    let out = run(&url, "off", &["mail", "status"]).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("waiting 1, failed 0, oldest waiting 20"),
        "{stdout}"
    );
}

#[tokio::test]
async fn development_mail_is_written_as_files_and_the_log_says_where_not_what() {
    let db = TestDatabase::create().await;
    let dir = std::env::temp_dir().join(format!("member-portal-mail-{}", rand::random::<u64>()));
    let port = spare_port();
    let server = Server::spawn(
        binary::command(crate::BIN, &db.url())
            .env_remove("SMTP_URL")
            .env("MAIL_DIR", &dir)
            .env("BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let address = format!("http://127.0.0.1:{port}");
    first_health_check(&address).await;
    register_with_email(&Visitor::at(&address), "sam", "sam@example.com").await;
    let deadline = Instant::now() + SOON;
    let file = loop {
        let found = std::fs::read_dir(&dir)
            .ok()
            .and_then(|mut entries| entries.next())
            .map(|entry| entry.unwrap().path());
        if let Some(file) = found {
            break file;
        }
        assert!(
            Instant::now() < deadline,
            "no .eml file in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(file.extension().unwrap(), "eml");
    let raw = std::fs::read_to_string(&file).unwrap();
    assert!(raw.contains("sam@example.com"));
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || server.into_child().wait_with_output().unwrap())
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(log.contains("mail written") && log.contains(&name), "{log}");
    assert!(!log.contains("verify-email"), "no link in the log: {log}");
    assert!(
        !log.contains("sam@example.com"),
        "no address in the log: {log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn reset_requests_count_against_the_per_ip_limit() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |s| s.login_ip_limit = 2).await;
    for name in ["tia", "tom", "ted"] {
        verified_member(&app, &smtp, name, &format!("{name}@example.com")).await;
    }
    let stranger = app.new_visitor();
    for name in ["tia", "tom", "ted"] {
        forgot(&stranger, &format!("{name}@example.com")).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mailed: Vec<usize> = ["tia", "tom", "ted"]
        .iter()
        .map(|name| mails_to(&smtp, &format!("{name}@example.com"), "new password").len())
        .collect();
    assert_eq!(
        mailed,
        [1, 1, 0],
        "the third request of the minute mails no one"
    );
}

#[tokio::test]
async fn deliveries_and_the_outbox_are_in_the_metrics() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |s| {
        s.metrics_bind = Some("127.0.0.1:0".parse().unwrap())
    })
    .await;
    register_with_email(&app, "uli", "uli@example.com").await;
    smtp.wait_for(1, SOON).await;
    let port = app.metrics_port.unwrap();
    let deadline = Instant::now() + SOON;
    loop {
        let r = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.unwrap();
        assert!(
            text.contains(r#"member_portal_mail_outbox{state="waiting"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"member_portal_mail_outbox{state="failed"} 0"#),
            "{text}"
        );
        if text.contains(r#"member_portal_mail_sent_total{outcome="sent"} 1"#) {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
