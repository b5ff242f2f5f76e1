//! Changing the password.

use reqwest::StatusCode;

use crate::support::{location, spawn_app};

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

#[tokio::test]
async fn a_session_dies_when_the_password_changes_behind_its_back() {
    let app = spawn_app().await;
    app.register("oscar", "Oscar", "oscars password").await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    // A change made elsewhere (another instance, an admin tool): only the stamp moves.
    app.exec("UPDATE member SET password_changed_at = UTC_TIMESTAMP(6) WHERE id = 'oscar'")
        .await;
    let r = app.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.session_rows().await, 0, "the dead session was deleted");
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
