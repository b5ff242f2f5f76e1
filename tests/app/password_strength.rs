//! New passwords that are common, repetitive, sequential or built on the account's own words
//! are refused (zxcvbn below `PASSWORD_MIN_SCORE`) with the estimator's advice, at
//! registration and at a password change; nothing changes.

use reqwest::StatusCode;
use test_support::{spawn_app, spawn_app_with};

#[tokio::test]
async fn registration_refuses_weak_passwords_with_advice_and_creates_nothing() {
    let app = spawn_app().await;
    for weak in [
        "pppppppp",
        "password1",
        "12345678",
        "tessa123",
        "tessatessa",
        "member-portal",
    ] {
        let r = app.register("tessa", "Tessa", weak).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        let page = r.text().await.unwrap();
        assert!(page.contains("too easy to guess"), "{weak}: {page}");
        assert!(page.contains(r#"value="tessa""#), "the username is kept");
        assert!(
            !page.contains(weak) || weak == "tessa123",
            "the password is not echoed"
        );
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM member").await, 0);
    let r = app.register("tessa", "Tessa", "k8Jd2mQx").await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a random 8-character password"
    );
}

#[tokio::test]
async fn a_password_change_refuses_weak_passwords_and_keeps_the_old_one() {
    let app = spawn_app().await;
    app.register("uma", "Uma", "umas password").await;
    let r = app
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current_password", "umas password"),
                ("new_password", "uma12345"),
                ("new_password_confirm", "uma12345"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("too easy to guess"));
    let other = app.new_visitor();
    assert_eq!(
        other.sign_in("uma", "umas password").await.status(),
        StatusCode::SEE_OTHER,
        "the old password still works"
    );
}

#[tokio::test]
async fn a_score_of_zero_turns_the_check_off() {
    let app = spawn_app_with(|s| s.password_min_score = 0).await;
    let r = app.register("vera", "Vera", "pppppppp").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
