//! Changing the password.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{location, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_password_change_signs_out_every_other_session() {
    let app = spawn_app().await;
    app.register_elsewhere("nina", "Nina", "ninas password")
        .await;
    app.sign_in_elsewhere("nina", "ninas password").await;
    app.sign_in("nina", "ninas password").await;
    let before = app.sid().unwrap();
    assert_eq!(app.session_count("nina").await, 3);

    let wrong = app
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current_password", "not it"),
                ("new_password", "ninas new password"),
                ("new_password_confirm", "ninas new password"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let r = app
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current_password", "ninas password"),
                ("new_password", "ninas new password"),
                ("new_password_confirm", "ninas new password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let after = app.sid().unwrap();
    assert_ne!(before, after, "this session got a new id");
    assert!(app
        .get_html("/")
        .await
        .contains("Your password has been changed"));
    assert_eq!(app.session_count("nina").await, 1);
    let stale = app.get_with_cookie("/", &format!("sid={before}")).await;
    assert_eq!(stale.status(), StatusCode::SEE_OTHER);

    app.sign_out().await;
    assert_eq!(
        app.sign_in("nina", "ninas password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in("nina", "ninas new password").await.status(),
        StatusCode::SEE_OTHER
    );
}

/// The member snapshot in the session is re-checked once per touch interval (1 s here).
const RECHECK: Duration = Duration::from_millis(1100);

#[tokio::test]
async fn a_session_dies_when_the_hash_is_replaced_in_sql() {
    let app = spawn_app_with(&[("SESSION_TOUCH_INTERVAL", "1s")]).await;
    app.register("oscar", "Oscar", "oscars password").await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    // A change made behind the app's back: nothing but the hash moves.
    app.exec(&format!(
        "UPDATE member SET password_hash = '{}' WHERE id = 'oscar'",
        member_portal::domain::weak_hash_for_tests("someone elses password")
    ))
    .await;
    tokio::time::sleep(RECHECK).await;
    let r = app.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.session_rows().await, 0, "the dead session was deleted");
}

#[tokio::test]
async fn a_session_dies_when_its_member_is_deleted_in_sql() {
    let app = spawn_app_with(&[("SESSION_TOUCH_INTERVAL", "1s")]).await;
    app.register("otto", "Otto", "ottos password").await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    app.exec("DELETE FROM member WHERE id = 'otto'").await;
    tokio::time::sleep(RECHECK).await;
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.session_rows().await, 0, "the dead session was deleted");
}

#[tokio::test]
async fn a_display_name_changed_in_sql_shows_after_one_touch_interval() {
    let app = spawn_app_with(&[("SESSION_TOUCH_INTERVAL", "1s")]).await;
    app.register("olive", "Olive", "olives password").await;
    assert!(app.get("/").await.text().await.unwrap().contains("Olive"));
    app.exec(
        "UPDATE author a JOIN member m ON m.author_id = a.id
         SET a.name = 'Olivia' WHERE m.id = 'olive'",
    )
    .await;
    tokio::time::sleep(RECHECK).await;
    let page = app.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Welcome, Olivia"));
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled() {
    let app = spawn_app().await;
    app.register("olga", "Olga", "olgas password").await;
    let attempt = |current: &'static str| {
        let app = &app;
        async move {
            app.submit(
                "/account/password",
                "/account/password",
                &[
                    ("current_password", current),
                    ("new_password", "olgas new password"),
                    ("new_password_confirm", "olgas new password"),
                ],
            )
            .await
        }
    };
    for _ in 0..5 {
        assert_eq!(
            attempt("a wrong guess").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    // Locked now, even for the right password.
    let r = attempt("olgas password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.unwrap().contains("Too many wrong passwords"));
    assert_eq!(
        app.get("/").await.status(),
        StatusCode::OK,
        "still signed in"
    );
    app.exec("UPDATE login_throttle SET locked_until = NULL")
        .await;
    assert_eq!(
        attempt("olgas password").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM login_throttle").await, 0);
}
