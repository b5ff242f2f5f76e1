//! Closing the account: `/account/delete` deletes the member and everything of it in one
//! transaction, signs every device out, clears the cookie and says so on the sign-in page.

use reqwest::StatusCode;

use crate::two_factor::enrol;
use test_support::{location, spawn_app, TestApp};

/// Rows anywhere that still belong to `member`.
async fn rows_of(app: &TestApp, member: &str) -> Vec<(&'static str, u64)> {
    let mut left = Vec::new();
    for (table, sql) in [
        ("member", "SELECT COUNT(*) FROM member WHERE id = '{m}'"),
        ("author", "SELECT COUNT(*) FROM author"),
        (
            "sessions",
            "SELECT COUNT(*) FROM sessions WHERE user_id = '{m}'",
        ),
        (
            "security_events",
            "SELECT COUNT(*) FROM security_events WHERE member_id = '{m}'",
        ),
        (
            "two_factor",
            "SELECT COUNT(*) FROM two_factor WHERE member_id = '{m}'",
        ),
        (
            "recovery_codes",
            "SELECT COUNT(*) FROM recovery_codes WHERE member_id = '{m}'",
        ),
    ] {
        left.push((table, app.scalar(&sql.replace("{m}", member)).await));
    }
    left
}

#[tokio::test]
async fn closing_the_account_deletes_everything_and_signs_every_device_out() {
    let app = spawn_app().await;
    app.register("hal", "Hal", "hals long password").await;
    enrol(&app, "hals long password").await;
    let other = app.new_visitor();
    crate::two_factor::password_step(&other, "hal", "hals long password").await;
    let home = app.get_html("/").await;
    assert!(
        home.contains(r#"href="/account/delete""#),
        "linked from the home page"
    );
    let form = app.get("/account/delete").await;
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form
        .text()
        .await
        .unwrap()
        .contains(r#"name="current_password""#));

    let wrong = app
        .submit(
            "/account/delete",
            "/account/delete",
            &[("current_password", "not hals password")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    assert!(rows_of(&app, "hal").await.iter().all(|(_, n)| *n > 0));

    let r = app
        .submit(
            "/account/delete",
            "/account/delete",
            &[("current_password", "hals long password")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    let cleared = r.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str().unwrap().starts_with("sid=;") || c.to_str().unwrap().starts_with("sid=\"\"")
    });
    assert!(cleared, "the session cookie is cleared");
    assert!(app.sid().is_none());
    let page = app.get_html("/login").await;
    assert!(page.contains("Your account has been deleted"));
    assert!(
        !app.get_html("/login").await.contains("has been deleted"),
        "once"
    );
    assert!(
        rows_of(&app, "hal").await.iter().all(|(_, n)| *n == 0),
        "{:?}",
        rows_of(&app, "hal").await
    );
    // The half signed-in device has nothing left to sign in to; the name is free again.
    assert_eq!(other.get("/").await.status(), StatusCode::SEE_OTHER);
    let r = app
        .register("hal", "Hal Again", "hals other password")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_device_is_signed_out_at_once_and_guessing_the_password_is_throttled() {
    let app = spawn_app().await;
    app.register("ida", "Ida", "idas long password").await;
    let phone = app.new_visitor();
    phone.sign_in("ida", "idas long password").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = app
            .submit(
                "/account/delete",
                "/account/delete",
                &[("current_password", "a wrong guess")],
            )
            .await;
        statuses.push(r.status());
    }
    assert_eq!(&statuses[..4], &[StatusCode::UNPROCESSABLE_ENTITY; 4]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    app.exec("UPDATE login_throttle SET locked_until = NULL")
        .await;
    let r = app
        .submit(
            "/account/delete",
            "/account/delete",
            &[("current_password", "idas long password")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(phone.get("/").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.session_rows().await, 0);
}
