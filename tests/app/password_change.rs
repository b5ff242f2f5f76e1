//! Changing the password signs out every other session; and a session ends when its
//! member's password hash, or the member itself, changes behind the app's back (re-checked
//! once per touch interval). (Guessing the current password: `throttling.rs`.)

use std::time::Duration;

use reqwest::StatusCode;
use test_support::{location, spawn_app, spawn_app_with};

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
    let app = spawn_app_with(|s| s.touch_interval = Duration::from_secs(1)).await;
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
    let app = spawn_app_with(|s| s.touch_interval = Duration::from_secs(1)).await;
    app.register("otto", "Otto", "ottos password").await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    app.exec("DELETE FROM member WHERE id = 'otto'").await;
    tokio::time::sleep(RECHECK).await;
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.session_rows().await, 0, "the dead session was deleted");
}
