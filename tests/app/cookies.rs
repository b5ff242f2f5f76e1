//! The session cookie `sid`: its attributes, its raw key never stored, a broken one anonymous
//! (never a 5xx), and no session at all for anonymous visitors. (The CSRF cookie: `csrf.rs`.)

use reqwest::StatusCode;
use test_support::spawn_app;

#[tokio::test]
async fn the_session_cookie_has_the_right_attributes() {
    let app = spawn_app().await;
    let token = app.csrf_token("/register").await;
    let r = app
        .post(
            "/register",
            &[
                ("csrf_token", &token),
                ("username", "quinn"),
                ("name", "Quinn"),
                ("password", "quinns password"),
                ("password_confirm", "quinns password"),
            ],
        )
        .await;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("sid="))
        .expect("a sid cookie");
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Path=/"));
    assert!(
        !cookie.contains("Max-Age") && !cookie.contains("Domain"),
        "{cookie}"
    );
    // The raw key never reaches the database: the cookie value is not in any row.
    let value = cookie.split(';').next().unwrap().trim_start_matches("sid=");
    assert_eq!(app.session_rows_containing(value).await, 0);
}

#[tokio::test]
async fn broken_session_cookies_are_anonymous_never_5xx() {
    let app = spawn_app().await;
    app.register("pat", "Pat", "pats password").await;
    let good = app.sid().unwrap();
    let mut tampered = good.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let huge = "A".repeat(4000);
    let cases = [
        format!("sid={tampered}"),
        "sid=".to_owned(),
        format!("sid={huge}"),
        format!("sid={tampered}; sid={tampered}"),
        "sid=%%%".to_owned(),
        "sid=\"quoted\"".to_owned(),
    ];
    for cookie in &cases {
        for path in ["/", "/login", "/sessions"] {
            let r = app.get_with_cookie(path, cookie).await;
            assert!(
                r.status() == StatusCode::OK || r.status() == StatusCode::SEE_OTHER,
                "{path} with {:.40}: {}",
                cookie,
                r.status()
            );
            if path == "/" {
                assert_eq!(r.status(), StatusCode::SEE_OTHER, "anonymous");
            }
        }
    }
    // The genuine cookie still works.
    assert_eq!(
        app.get_with_cookie("/", &format!("sid={good}"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn anonymous_traffic_creates_no_session_rows() {
    let app = spawn_app().await;
    let token = app.csrf_token("/login").await;
    for i in 0..100 {
        let r = match i % 6 {
            0 => app.get("/login").await,
            1 => app.get("/").await,
            2 => {
                app.post(
                    "/login",
                    &[
                        ("csrf_token", &token),
                        ("username", "nobody"),
                        ("password", "wrong one"),
                    ],
                )
                .await
            }
            3 => app.post("/logout", &[("csrf_token", &token)]).await,
            4 => {
                app.get_with_cookie("/", &format!("sid=random{i}; csrf=x"))
                    .await
            }
            _ => app.get("/register").await,
        };
        assert!(!r.status().is_server_error(), "request {i}: {}", r.status());
    }
    assert_eq!(app.session_rows().await, 0);
}
