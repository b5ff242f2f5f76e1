//! The per-IP limit on sign-in attempts (`LOGIN_IP_LIMIT`), checked before any hashing, and
//! `X-Forwarded-For` believed only from `TRUSTED_PROXIES`.

use reqwest::StatusCode;

use crate::support::{spawn_app_with, TestApp};

/// A sign-in attempt for `username` with a wrong password, with an optional forged
/// `X-Forwarded-For`.
async fn wrong_guess(app: &TestApp, username: &str, forwarded_for: Option<&str>) -> StatusCode {
    let token = app.csrf_token("/login").await;
    let mut request = app.client.post(app.url("/login")).form(&[
        ("csrf_token", token.as_str()),
        ("username", username),
        ("password", "not the password"),
    ]);
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn one_client_cannot_make_the_server_hash_for_ever_new_names() {
    let app = spawn_app_with(&[("LOGIN_IP_LIMIT", "3")]).await;
    app.register_elsewhere("ivy", "Ivy", "ivys password").await;
    for n in 0..3 {
        assert_eq!(
            wrong_guess(&app, &format!("nobody{n}"), None).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Over the limit: refused before the account is looked at, whatever the name, and a
    // forged X-Forwarded-For from an untrusted peer changes nothing.
    for (name, forged) in [
        ("nobody9", None),
        ("ivy", None),
        ("nobody10", Some("203.0.113.7")),
    ] {
        let token = app.csrf_token("/login").await;
        let mut request = app.client.post(app.url("/login")).form(&[
            ("csrf_token", token.as_str()),
            ("username", name),
            ("password", "ivys password"),
        ]);
        if let Some(ip) = forged {
            request = request.header("x-forwarded-for", ip);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{name}");
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
        assert!(r
            .text()
            .await
            .unwrap()
            .contains("That username and password do not match."));
    }
    // Nothing reached the per-account throttle of the refused names.
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM login_throttle WHERE account IN ('nobody9', 'ivy', 'nobody10')"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let app = spawn_app_with(&[("LOGIN_IP_LIMIT", "2"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    for n in 0..2 {
        assert_eq!(
            wrong_guess(&app, &format!("x{n}x"), Some("198.51.100.1")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        wrong_guess(&app, "x9x", Some("198.51.100.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        wrong_guess(&app, "x9x", Some("198.51.100.2")).await,
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy"
    );
    // A client cannot pick its address by prepending one: the proxy's own entry counts.
    assert_eq!(
        wrong_guess(&app, "x9x", Some("10.9.9.9, 198.51.100.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn zero_turns_the_limit_off() {
    let app = spawn_app_with(&[("LOGIN_IP_LIMIT", "0")]).await;
    for n in 0..8 {
        assert_eq!(
            wrong_guess(&app, &format!("nobody{n}"), None).await,
            StatusCode::UNAUTHORIZED
        );
    }
}
