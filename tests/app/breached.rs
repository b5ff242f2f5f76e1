//! `PWNED_PASSWORDS_URL`: a new password found in the breached-password list (a real range
//! API server of the test's own) is refused with 422 and changes nothing, at registration,
//! password change and reset; only five hex digits of its SHA-1 leave the app; a service that
//! fails, cannot be reached or does not answer within 2 s lets the password through.

use std::time::{Duration, Instant};

use member_portal::breaches::BreachedPasswords;
use member_portal::domain::NewPassword;
use reqwest::StatusCode;
use test_support::{
    location, sha1_hex, spawn_app_with, PwnedServer, RangeRequest, RangeService, SmtpServer,
    TestApp,
};

use crate::email::{forgot, mail_app, post_reset, verified_member, SOON};

/// Strong by the estimator's measure (score 4), and in every breach list there is.
const BREACHED: &str = "correct horse battery staple";
/// Strong, and in no list the test server knows.
const FRESH: &str = "k8Jd2mQx wren";

const REFUSED: &str = "exposed in data breaches";

async fn app_asking(url: String) -> TestApp {
    spawn_app_with(move |s| s.pwned_passwords_url = Some(url)).await
}

/// The request the app makes for `password`: its hash's first five hex digits, padded.
fn range_request(password: &str) -> RangeRequest {
    RangeRequest {
        path: format!("/range/{}", &sha1_hex(password)[..5]),
        padded: true,
    }
}

#[tokio::test]
async fn registration_refuses_a_breached_password_and_only_a_hash_prefix_leaves_the_app() {
    let pwned = PwnedServer::start(RangeService::Answering, &[BREACHED]).await;
    let app = app_asking(pwned.url()).await;

    // What the estimator refuses is never looked up.
    let r = app.register("wren", "Wren", "password1").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(pwned.requests().is_empty(), "{:?}", pwned.requests());

    let r = app.register("wren", "Wren", BREACHED).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains(REFUSED), "{page}");
    assert!(page.contains(r#"value="wren""#), "the username is kept");
    assert!(!page.contains(BREACHED), "the password is not echoed");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM member").await, 0);

    let r = app.register("wren", "Wren", FRESH).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "a password in no list");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM member").await, 1);

    // Each password cost one request, carrying 5 of its hash's 40 hex digits and no more.
    assert_eq!(
        pwned.requests(),
        [range_request(BREACHED), range_request(FRESH)]
    );
}

#[tokio::test]
async fn a_password_change_to_a_breached_password_is_refused_and_the_old_one_kept() {
    let pwned = PwnedServer::start(RangeService::Answering, &[BREACHED]).await;
    let app = app_asking(pwned.url()).await;
    assert_eq!(
        app.register("xena", "Xena", FRESH).await.status(),
        StatusCode::SEE_OTHER
    );
    let r = app
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current_password", FRESH),
                ("new_password", BREACHED),
                ("new_password_confirm", BREACHED),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains(REFUSED));
    assert_eq!(
        app.new_visitor().sign_in("xena", FRESH).await.status(),
        StatusCode::SEE_OTHER,
        "the old password still works"
    );
}

#[tokio::test]
async fn a_reset_to_a_breached_password_is_refused_and_the_link_still_works() {
    let pwned = PwnedServer::start(RangeService::Answering, &[BREACHED]).await;
    let smtp = SmtpServer::start().await;
    let url = pwned.url();
    let app = mail_app(&smtp, move |s| s.pwned_passwords_url = Some(url)).await;
    verified_member(&app, &smtp, "yael", "yael@example.com").await;
    forgot(&app.new_visitor(), "yael@example.com").await;
    let mail = smtp.wait_for(2, SOON).await.pop().unwrap();
    let link = mail.link_starting_with(&format!("{}/reset-password/", app.address));
    let visitor = app.new_visitor();
    let page = visitor
        .get_html(link.strip_prefix(&app.address).unwrap())
        .await;
    let r = post_reset(&visitor, &page, BREACHED).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains(REFUSED));
    let r = post_reset(&visitor, &page, FRESH).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the link was not used up"
    );
    assert_eq!(location(&r), "/login");
    assert_eq!(
        app.new_visitor().sign_in("yael", FRESH).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_service_that_fails_cannot_be_reached_or_hangs_lets_the_password_through() {
    let failing = PwnedServer::start(RangeService::Failing, &[BREACHED]).await;
    let app = app_asking(failing.url()).await;
    let r = app.register("zoe", "Zoe", BREACHED).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "503 from the service");
    assert_eq!(failing.requests(), [range_request(BREACHED)]);

    let nobody = format!("http://127.0.0.1:{}", test_support::spare_port());
    let app = app_asking(nobody).await;
    let r = app.register("zoe", "Zoe", BREACHED).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "nobody listening");

    let silent = PwnedServer::start(RangeService::Silent, &[BREACHED]).await;
    let app = app_asking(silent.url()).await;
    let started = Instant::now();
    let r = app.register("zoe", "Zoe", BREACHED).await;
    let waited = started.elapsed();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a service that never answers"
    );
    assert_eq!(silent.requests(), [range_request(BREACHED)]);
    // The check gives up after 2 s; the rest is the sign-in's hash and a slow test machine.
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
}

#[tokio::test]
async fn at_most_32_checks_are_in_flight_at_once_and_the_rest_wait_within_the_deadline() {
    let silent = PwnedServer::start(RangeService::Silent, &[]).await;
    let breaches = BreachedPasswords::new(&silent.url()).unwrap();
    let mut checks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let breaches = breaches.clone();
        checks.spawn(async move {
            let password = NewPassword::parse(FRESH, FRESH).unwrap();
            breaches.check(&password).await
        });
    }
    // Well before the 2 s deadline frees a permit: 32 requests arrived, 8 checks wait.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(silent.requests().len(), 32);
    while let Some(result) = checks.join_next().await {
        assert_eq!(result.unwrap(), Ok(()), "accepted when the service hangs");
    }
}
