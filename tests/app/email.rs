//! E-mail over real HTTP and real SMTP: the app's own transport delivers to an SMTP server
//! inside the test process. Address verification (nothing changes on a GET), password reset
//! (one page for every address, one mail a minute, single use, expiry, dead after a password
//! change, every session ended, no link from `Host`), tokens at rest, the notices, and the
//! outbox (the SMTP server down and back, a permanent refusal, two instances on one
//! database).

use std::time::Duration;

use member_portal::config::MailTransport;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use test_database::TestDatabase;

use test_support::{csrf_in, hidden_value, location, spawn_app_with, Mail, Reply, SmtpServer};
use test_support::{TestApp, Visitor};

/// How long a test waits for a mail the app should send at once (the sender is woken by the
/// commit; it also polls every second).
pub(crate) const SOON: Duration = Duration::from_secs(15);

/// The app sending its mail to `smtp`, with the test's own changes on top.
pub(crate) async fn mail_app(
    smtp: &SmtpServer,
    configure: impl FnOnce(&mut member_portal::config::Settings),
) -> TestApp {
    let url = smtp.url();
    spawn_app_with(move |s| {
        s.mail.transport = MailTransport::Smtp(url);
        configure(s);
    })
    .await
}

/// Register `username` with `email` on `visitor`.
pub(crate) async fn register_with_email(visitor: &Visitor, username: &str, email: &str) {
    let password = format!("{username}s long password");
    let r = visitor
        .submit(
            "/register",
            "/register",
            &[
                ("username", username),
                ("name", username),
                ("password", &password),
                ("password_confirm", &password),
                ("email", email),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "registering {username}");
}

/// The path and query of `link` (which starts with `origin`).
fn path_of<'a>(link: &'a str, origin: &str) -> &'a str {
    link.strip_prefix(origin)
        .unwrap_or_else(|| panic!("{link} does not start with {origin}"))
}

/// Follow a verification link as a browser does: the page, then its button.
async fn follow_verification(visitor: &Visitor, mail: &Mail, origin: &str) -> reqwest::Response {
    let link = mail.link_starting_with(&format!("{origin}/verify-email/"));
    let page = visitor.get_html(path_of(&link, origin)).await;
    let token = hidden_value(&page, "token").unwrap();
    visitor
        .post(
            "/verify-email",
            &[("csrf_token", &csrf_in(&page)), ("token", &token)],
        )
        .await
}

/// A member `username` with the verified address `email`, signed in on the returned visitor.
pub(crate) async fn verified_member(
    app: &TestApp,
    smtp: &SmtpServer,
    username: &str,
    email: &str,
) -> Visitor {
    let visitor = app.new_visitor();
    register_with_email(&visitor, username, email).await;
    let mail = smtp.wait_for_to(email, SOON).await;
    let r = follow_verification(&visitor, &mail, &app.address).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    visitor
}

/// Mails to `recipient` whose subject contains `subject`.
pub(crate) fn mails_to(smtp: &SmtpServer, recipient: &str, subject: &str) -> Vec<Mail> {
    smtp.messages()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(recipient)))
        .filter(|m| m.subject().contains(subject))
        .collect()
}

/// Post the form of a reset link's `page` (read by `visitor`) with `password`, twice as asked.
pub(crate) async fn post_reset(visitor: &Visitor, page: &str, password: &str) -> reqwest::Response {
    visitor
        .post(
            "/reset-password",
            &[
                ("csrf_token", csrf_in(page).as_str()),
                ("token", hidden_value(page, "token").unwrap().as_str()),
                ("new_password", password),
                ("new_password_confirm", password),
            ],
        )
        .await
}

/// Ask for a reset link for `email` on `visitor`; the page must be the usual one.
pub(crate) async fn forgot(visitor: &Visitor, email: &str) -> String {
    let r = visitor
        .submit("/forgot-password", "/forgot-password", &[("email", email)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("data-reset-requested"), "{page}");
    page
}

#[tokio::test]
async fn a_registered_address_is_verified_by_the_button_behind_its_link_not_by_fetching_it() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    register_with_email(&app, "ann", "Ann.Lee@Example.COM").await;
    let home = app.get_html("/").await;
    assert!(
        home.contains("data-email-hint"),
        "the home page asks to confirm it"
    );

    let mail = smtp.wait_for_to("Ann.Lee@example.com", SOON).await;
    assert_eq!(mail.subject(), "Confirm your e-mail address");
    assert!(mail.header("from").unwrap().contains("no-reply@localhost"));
    assert!(mail.header("date").is_some() && mail.header("message-id").is_some());
    assert!(mail
        .header("content-type")
        .unwrap()
        .to_ascii_lowercase()
        .contains("text/plain; charset=utf-8"));
    let link = mail.link_starting_with(&format!("{}/verify-email/", app.address));
    assert!(
        mail.text().lines().any(|line| line == link),
        "the link on a line of its own"
    );

    // Fetching the link (a mail scanner, a preview) changes nothing.
    for _ in 0..2 {
        let r = app.get(path_of(&link, &app.address)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM member WHERE email IS NOT NULL")
            .await,
        0
    );

    let r = follow_verification(&app, &mail, &app.address).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let page = app.get_html("/account/email").await;
    assert!(
        page.contains(r#"data-email-state="verified">Ann.Lee@example.com<"#),
        "{page}"
    );
    assert!(!app.get_html("/").await.contains("data-email-hint"));
    assert!(app
        .get_html("/account/activity")
        .await
        .contains(r#"data-event="email_verified""#));

    // The link works once.
    let r = follow_verification_again(&app, &link).await;
    assert_eq!(r, StatusCode::GONE);
}

/// POST a used verification link's token (its page is a 410 by now, so the token comes from
/// the link itself).
async fn follow_verification_again(visitor: &Visitor, link: &str) -> StatusCode {
    let token = link.rsplit('/').next().unwrap();
    let csrf = visitor.csrf_token("/forgot-password").await;
    visitor
        .post("/verify-email", &[("csrf_token", &csrf), ("token", token)])
        .await
        .status()
}

#[tokio::test]
async fn an_address_in_use_gets_a_mail_saying_so_and_the_page_says_the_same() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    verified_member(&app, &smtp, "bea", "bea@example.com").await;

    let other = app.new_visitor();
    other.register("carl", "Carl", "carls long password").await;
    let r = other
        .submit(
            "/account/email",
            "/account/email",
            &[
                ("email", "BEA@example.com"),
                ("current_password", "carls long password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = other.get_html("/account/email").await;
    assert!(page.contains("We sent a link to BEA@example.com"), "{page}");
    assert!(page.contains(r#"data-email-state="pending""#));

    let mail = smtp.wait_for(2, SOON).await.pop().unwrap();
    assert_eq!(mail.subject(), "Someone tried to use your e-mail address");
    assert!(
        mail.links().iter().all(|l| !l.contains("/verify-email/")),
        "no link to take it"
    );
    assert!(!mail.text().contains("carl"), "names neither account");

    // A wrong password changes nothing.
    let r = other
        .submit(
            "/account/email",
            "/account/email",
            &[("email", "carl@example.com"), ("current_password", "wrong")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = other
        .submit(
            "/account/email",
            "/account/email",
            &[
                ("email", "not an address"),
                ("current_password", "carls long password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_changed_address_counts_once_verified_and_the_old_one_gets_a_notice() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    let dana = verified_member(&app, &smtp, "dana", "dana@old.example").await;
    let r = dana
        .submit(
            "/account/email",
            "/account/email",
            &[
                ("email", "dana@new.example"),
                ("current_password", "danas long password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = dana.get_html("/account/email").await;
    assert!(page.contains(r#"data-email-state="verified">dana@old.example<"#));
    assert!(page.contains(r#"data-email-state="pending">dana@new.example<"#));

    // The second verification mail waits out the minute since the first; within it a resend
    // is refused.
    let r = dana
        .submit("/account/email", "/account/email/resend", &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(dana
        .get_html("/account/email")
        .await
        .contains("less than a minute ago"));

    app.exec("UPDATE mail_outbox SET next_attempt_at = UTC_TIMESTAMP(6)")
        .await;
    let mail = smtp.wait_for_to("dana@new.example", SOON).await;
    let r = follow_verification(&dana, &mail, &app.address).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = dana.get_html("/account/email").await;
    assert!(page.contains(r#"data-email-state="verified">dana@new.example<"#));
    assert!(!page.contains(r#"data-email-state="pending""#));
    smtp.wait_for(3, SOON).await;
    let notice = mails_to(&smtp, "dana@old.example", "address was changed");
    assert_eq!(notice.len(), 1);
    assert!(notice[0].text().contains("dana@new.example"));
    assert!(dana
        .get_html("/account/activity")
        .await
        .contains(r#"data-event="email_changed""#));
}

#[tokio::test]
async fn forgot_password_answers_alike_for_any_address_and_mails_only_the_owner() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    verified_member(&app, &smtp, "eve", "eve@example.com").await;
    let stranger = app.new_visitor();
    assert!(app
        .get_html("/login")
        .await
        .contains(r#"href="/forgot-password""#));

    let known = forgot(&stranger, "eve@example.com").await;
    let unknown = forgot(&stranger, "nobody@example.com").await;
    assert_eq!(
        known.replace("eve@example.com", "ADDRESS"),
        unknown.replace("nobody@example.com", "ADDRESS"),
        "one page whatever the address"
    );
    let mail = smtp.wait_for(2, SOON).await.pop().unwrap();
    assert_eq!(mail.to, ["eve@example.com"]);
    assert_eq!(mail.subject(), "Choose a new password");
    assert!(mail.text().contains("eve"), "names the account");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(mails_to(&smtp, "nobody@example.com", "").is_empty());

    // Not an address: the same status, the form again naming the problem, no lookup.
    let r = stranger
        .submit(
            "/forgot-password",
            "/forgot-password",
            &[("email", "eve at example.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(!page.contains("data-reset-requested"), "{page}");
    assert!(page.contains(r#"name="email""#), "the form again: {page}");

    // At most one a minute: the second request of the minute gets the same page, no mail.
    forgot(&stranger, "EVE@example.com").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mails_to(&smtp, "eve@example.com", "new password").len(), 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM security_events WHERE kind = 'password_reset_requested'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_reset_link_works_once_ends_every_session_and_tells_the_owner() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    let fay = verified_member(&app, &smtp, "fay", "fay@example.com").await;
    app.sign_in_elsewhere("fay", "fays long password").await;
    assert_eq!(app.session_count("fay").await, 2);

    forgot(&app.new_visitor(), "fay@example.com").await;
    let mail = smtp.wait_for(2, SOON).await.pop().unwrap();
    let link = mail.link_starting_with(&format!("{}/reset-password/", app.address));
    let visitor = app.new_visitor();
    let r = visitor.get(path_of(&link, &app.address)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let page = r.text().await.unwrap();
    let submit = |password| post_reset(&visitor, &page, password);
    // The password policy of registration applies: the account's name is refused.
    assert_eq!(
        submit("fayfayfay").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = submit("a brand new fay password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    assert_eq!(app.session_count("fay").await, 0, "every session ended");
    assert!(fay.get("/").await.status().is_redirection());
    assert_eq!(fay.get("/").await.headers()["location"], "/login");

    // Used: dead, for the page and the form alike.
    assert_eq!(
        visitor.get(path_of(&link, &app.address)).await.status(),
        StatusCode::GONE
    );
    assert_eq!(
        submit("another fay password 2").await.status(),
        StatusCode::GONE
    );
    let r = app
        .new_visitor()
        .sign_in("fay", "a brand new fay password")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");

    smtp.wait_for(3, SOON).await;
    let notice = mails_to(&smtp, "fay@example.com", "password was changed");
    assert_eq!(notice.len(), 1);
    assert!(notice[0]
        .links()
        .iter()
        .all(|l| !l.contains("/reset-password/")));
}

#[tokio::test]
async fn reset_links_expire_and_die_with_any_password_change() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |s| s.mail.reset_ttl = Duration::from_secs(2)).await;
    let gus = verified_member(&app, &smtp, "gus", "gus@example.com").await;

    forgot(&app.new_visitor(), "gus@example.com").await;
    let link = smtp.wait_for(2, SOON).await.pop().unwrap();
    let link = link.link_starting_with(&format!("{}/reset-password/", app.address));
    assert_eq!(
        app.get(path_of(&link, &app.address)).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        app.get(path_of(&link, &app.address)).await.status(),
        StatusCode::GONE
    );

    drop(gus);
}

#[tokio::test]
async fn a_reset_link_dies_when_the_password_changes_on_the_form() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    let hal = verified_member(&app, &smtp, "hal", "hal@example.com").await;
    forgot(&app.new_visitor(), "hal@example.com").await;
    let mail = smtp.wait_for(2, SOON).await.pop().unwrap();
    let link = mail.link_starting_with(&format!("{}/reset-password/", app.address));
    let r = hal
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current_password", "hals long password"),
                ("new_password", "hals newer long password"),
                ("new_password_confirm", "hals newer long password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(path_of(&link, &app.address)).await.status(),
        StatusCode::GONE
    );
    // A change in SQL, behind the app's back, kills a link too (the stamp is the hash's).
    app.exec("UPDATE member SET reset_mail_at = NULL").await;
    forgot(&app.new_visitor(), "hal@example.com").await;
    let mail = smtp.wait_for(4, SOON).await.pop().unwrap();
    let link = mail.link_starting_with(&format!("{}/reset-password/", app.address));
    assert_eq!(
        app.get(path_of(&link, &app.address)).await.status(),
        StatusCode::OK
    );
    app.exec("UPDATE member SET password_hash = CONCAT(password_hash, 'x') WHERE id = 'hal'")
        .await;
    assert_eq!(
        app.get(path_of(&link, &app.address)).await.status(),
        StatusCode::GONE
    );
}

#[tokio::test]
async fn links_come_from_the_configured_origin_never_from_the_request() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    verified_member(&app, &smtp, "ida", "ida@example.com").await;
    let r = app
        .submit_with_headers(
            "/forgot-password",
            "/forgot-password",
            &[("email", "ida@example.com")],
            &[
                ("host", "evil.example"),
                ("x-forwarded-host", "evil.example"),
                ("forwarded", "host=evil.example"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mail = smtp.wait_for(2, SOON).await.pop().unwrap();
    assert!(!mail.raw.contains("evil.example"), "{}", mail.raw);
    mail.link_starting_with(&format!("{}/reset-password/", app.address));

    let smtp = SmtpServer::start().await;
    let origin = member_portal::web::SiteOrigin::parse("https://portal.example.com").unwrap();
    let app = mail_app(&smtp, |s| s.frontend.public_origin = Some(origin)).await;
    register_with_email(&app, "jon", "jon@example.com").await;
    let mail = smtp.wait_for_to("jon@example.com", SOON).await;
    mail.link_starting_with("https://portal.example.com/verify-email/");
}

#[tokio::test]
async fn no_usable_token_is_anywhere_in_the_database() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    smtp.stop().await;
    register_with_email(&app, "kim", "kim@example.com").await;
    // The mail waits in the outbox while the server is down: a database reader sees it.
    let mut waited = 0;
    while app.scalar("SELECT COUNT(*) FROM mail_outbox").await == 0 && waited < 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let sealed = app.text("SELECT HEX(sealed) FROM mail_outbox").await;
    smtp.resume().await;
    let mail = smtp
        .wait_for_to("kim@example.com", Duration::from_secs(30))
        .await;
    let link = mail.link_starting_with(&format!("{}/verify-email/", app.address));
    let token = link.rsplit('/').next().unwrap().to_owned();
    assert!(token.len() >= 22, "at least 128 bits");
    assert!(!sealed.contains(&hex(token.as_bytes())));
    assert!(!sealed.contains(&hex(b"verify-email")));
    // Only the SHA-256 is stored.
    let hash = hex(&Sha256::digest(token.as_bytes()));
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM email_tokens WHERE HEX(token_hash) = '{hash}'"
        ))
        .await,
        1
    );
    for (table, columns) in [
        ("email_tokens", "CONCAT_WS(' ', member_id, address)"),
        ("security_events", "CONCAT_WS(' ', kind, user_agent)"),
        ("sessions", "data"),
        ("member", "CONCAT_WS(' ', id, email, pending_email)"),
    ] {
        let found = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM {table} WHERE INSTR({columns}, '{token}') > 0"
            ))
            .await;
        assert_eq!(found, 0, "the token in {table}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[tokio::test]
async fn a_mail_queued_while_the_smtp_server_is_down_arrives_once_it_is_back() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    smtp.stop().await;
    register_with_email(&app, "lea", "lea@example.com").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(smtp.messages().is_empty());
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM mail_outbox WHERE state = 'waiting'")
            .await,
        1
    );
    assert!(
        app.scalar("SELECT MAX(attempts) FROM mail_outbox").await >= 1,
        "it was tried"
    );
    smtp.resume().await;
    // The first retry comes 5 s after the first attempt, the second 10 s after that.
    smtp.wait_for(1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.messages().len(), 1, "once");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM mail_outbox").await,
        0,
        "sent rows go"
    );
}

#[tokio::test]
async fn a_permanent_refusal_is_final() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    smtp.set_reply(Reply::PermFail);
    register_with_email(&app, "max", "max@example.com").await;
    let mut waited = 0;
    while app
        .scalar("SELECT COUNT(*) FROM mail_outbox WHERE state = 'failed'")
        .await
        == 0
    {
        assert!(waited < 100, "never marked failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    smtp.set_reply(Reply::Accept);
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(smtp.attempts(), 1, "not tried again");
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn two_instances_on_one_database_send_each_mail_once() {
    let smtp = SmtpServer::start().await;
    let db = TestDatabase::create().await;
    let url = db.url();
    let key = test_support::session_key_b64();
    let one_key = key.clone();
    let configure = move |key: String, smtp: String| {
        move |s: &mut member_portal::config::Settings| {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(key)
                .unwrap();
            s.session_key = actix_web::cookie::Key::from(&bytes);
            s.mail.transport = MailTransport::Smtp(smtp);
        }
    };
    let one = TestApp::spawn_with(&url, configure(one_key, smtp.url()), Some(db)).await;
    let two = TestApp::spawn_with(&url, configure(key, smtp.url()), None).await;
    let mut members = Vec::new();
    for i in 0..20 {
        let (app, name) = if i % 2 == 0 {
            (&one, format!("nia{i}"))
        } else {
            (&two, format!("noa{i}"))
        };
        register_with_email(&app.new_visitor(), &name, &format!("{name}@example.com")).await;
        members.push(name);
    }
    smtp.wait_for(20, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mails = smtp.messages();
    assert_eq!(mails.len(), 20, "each once");
    let mut recipients: Vec<String> = mails.iter().map(|m| m.to[0].clone()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 20);
}

#[tokio::test]
async fn a_sign_in_from_a_new_browser_and_system_is_told_once() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    verified_member(&app, &smtp, "ola", "ola@example.com").await;
    // The same browser and system as at registration: nothing to tell.
    app.sign_in_elsewhere("ola", "olas long password").await;
    const FIREFOX_MAC: &str =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0";
    for _ in 0..2 {
        let r = app
            .new_visitor()
            .sign_in_with_headers("ola", "olas long password", &[("user-agent", FIREFOX_MAC)])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let notices = mails_to(&smtp, "ola@example.com", "new device");
    assert_eq!(notices.len(), 1, "told once");
    assert!(
        notices[0].text().contains("Firefox"),
        "{}",
        notices[0].text()
    );
    assert!(
        notices[0].text().contains("Mac OSX"),
        "{}",
        notices[0].text()
    );
}

#[tokio::test]
async fn password_changes_and_closing_the_account_are_told_to_the_verified_address() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    let pia = verified_member(&app, &smtp, "pia", "pia@example.com").await;
    let r = pia
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current_password", "pias long password"),
                ("new_password", "pias newer long password"),
                ("new_password_confirm", "pias newer long password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    smtp.wait_for(2, SOON).await;
    assert_eq!(
        mails_to(&smtp, "pia@example.com", "password was changed").len(),
        1
    );
    let r = pia
        .submit(
            "/account/delete",
            "/account/delete",
            &[("current_password", "pias newer long password")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    smtp.wait_for(3, SOON).await;
    assert_eq!(
        mails_to(&smtp, "pia@example.com", "account was deleted").len(),
        1
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM email_tokens").await,
        0,
        "its links went too"
    );
}

#[tokio::test]
async fn with_e_mail_off_the_pages_say_so() {
    let app = spawn_app_with(|s| s.mail.transport = MailTransport::Off).await;
    let page = app.get_html("/forgot-password").await;
    assert!(page.contains("data-mail-off"), "{page}");
    assert!(!app.get_html("/register").await.contains(r#"name="email""#));
    let page = forgot_off(&app).await;
    assert!(page.contains("data-mail-off"));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mail_outbox").await, 0);
}

async fn forgot_off(visitor: &Visitor) -> String {
    // The page has no form with e-mail off; a request posted anyway gets the same page.
    let r = visitor
        .submit(
            "/login",
            "/forgot-password",
            &[("email", "anyone@example.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_reset_through_a_pending_address_verifies_it() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&smtp, |_| {}).await;
    let vic = app.new_visitor();
    register_with_email(&vic, "vic", "vic@example.com").await;
    smtp.wait_for_to("vic@example.com", SOON).await;
    forgot(&app.new_visitor(), "vic@example.com").await;
    let mail = smtp.wait_for(2, SOON).await.pop().unwrap();
    assert_eq!(mail.subject(), "Choose a new password");
    let link = mail.link_starting_with(&format!("{}/reset-password/", app.address));
    let visitor = app.new_visitor();
    let page = visitor.get_html(path_of(&link, &app.address)).await;
    let r = post_reset(&visitor, &page, "vics brand new password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let vic = app.new_visitor();
    vic.sign_in("vic", "vics brand new password").await;
    let page = vic.get_html("/account/email").await;
    assert!(
        page.contains(r#"data-email-state="verified">vic@example.com<"#),
        "{page}"
    );
    let activity = vic.get_html("/account/activity").await;
    assert!(activity.contains(r#"data-event="password_reset""#));
    assert!(activity.contains(r#"data-event="email_verified""#));
}
