//! CSRF: the tokens (a signed double-submit cookie for anonymous forms, a token in the
//! session once signed in, rotated at sign-in), their expiry and their cookie, and the origin
//! check (`Origin`, `Sec-Fetch-Site`). (Which origin is the site's own behind a proxy:
//! `forwarding.rs`; the order of the checks on a form: `forms.rs`.)

use std::time::{Duration, SystemTime};

use actix_web::cookie::Key;
use member_portal::config::Environment;
use member_portal::web::CsrfSigner;
use reqwest::StatusCode;
use test_support::{bare_client, csrf_in, spawn_app, spawn_app_with, TestApp};

#[tokio::test]
async fn sign_in_without_a_good_token_or_from_another_site_is_refused() {
    let app = spawn_app().await;
    app.register_elsewhere("ivan", "Ivan", "ivans password")
        .await;
    let rows = app.session_rows().await;
    let token = app.csrf_token("/login").await;
    let creds = [("username", "ivan"), ("password", "ivans password")];

    let missing = app.post("/login", &creds).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let mut wrong = creds.to_vec();
    wrong.push(("csrf_token", "forged.token"));
    assert_eq!(
        app.post("/login", &wrong).await.status(),
        StatusCode::FORBIDDEN
    );

    let mut good = creds.to_vec();
    good.push(("csrf_token", &token));
    let cross_site = app
        .client
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let fetch_site = app
        .client
        .post(app.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(fetch_site.status(), StatusCode::FORBIDDEN);
    assert!(fetch_site.text().await.unwrap().contains("Form expired"));

    // A token from another visitor's cookie does not count either.
    let their_token = app.new_visitor().csrf_token("/login").await;
    let mut theirs = creds.to_vec();
    theirs.push(("csrf_token", &their_token));
    assert_eq!(
        app.post("/login", &theirs).await.status(),
        StatusCode::FORBIDDEN
    );

    assert_eq!(app.session_rows().await, rows, "nothing changed");
    assert_eq!(
        app.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "not signed in"
    );

    // Same origin passes.
    let same = app
        .client
        .post(app.url("/login"))
        .header("origin", app.address.clone())
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_origin_check_compares_scheme_host_and_port_and_ignores_forged_forwarding() {
    let app = spawn_app().await;
    app.register_elsewhere("olga", "Olga", "olgas password")
        .await;
    let own = app.address.clone();
    let https_own = own.replace("http://", "https://");
    let other_port = format!("http://127.0.0.1:{}", app.port.wrapping_add(1));
    for headers in [
        vec![
            ("origin", "http://evil.example"),
            ("x-forwarded-host", "evil.example"),
        ],
        vec![
            ("origin", "https://evil.example"),
            ("forwarded", "host=evil.example;proto=https"),
        ],
        vec![("origin", https_own.as_str())],
        vec![("origin", other_port.as_str())],
        vec![("origin", "null")],
        vec![("origin", "null"), ("sec-fetch-site", "same-site")],
        vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
    ] {
        assert_eq!(
            app.sign_in_with_headers("olga", "olgas password", &headers)
                .await
                .status(),
            StatusCode::FORBIDDEN,
            "{headers:?}"
        );
    }
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
    // What a browser sends from a page with `Referrer-Policy: no-referrer` (the pages behind
    // mailed links): `Origin: null`, and `Sec-Fetch-Site`, which no page can forge.
    let no_referrer = [("origin", "null"), ("sec-fetch-site", "same-origin")];
    assert_eq!(
        app.new_visitor()
            .sign_in_with_headers("olga", "olgas password", &no_referrer)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let same = [("origin", own.as_str())];
    assert_eq!(
        app.sign_in_with_headers("olga", "olgas password", &same)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn signed_in_forms_need_the_session_token() {
    let app = spawn_app().await;
    let login_form_token = app.csrf_token("/login").await;
    app.register("judy", "Judy", "judys password").await;
    let session_token = app.csrf_token("/").await;
    // The anonymous double-submit token is not enough for a signed-in form.
    let anonymous_token = app.new_visitor().csrf_token("/login").await;
    assert_ne!(session_token, anonymous_token);
    let r = app
        .post("/logout", &[("csrf_token", &anonymous_token)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/").await.status(),
        StatusCode::OK,
        "still signed in"
    );
    // The token rotates with the session at sign-in.
    app.post(
        "/login",
        &[
            ("csrf_token", &login_form_token),
            ("username", "judy"),
            ("password", "judys password"),
        ],
    )
    .await;
    let rotated = app.csrf_token("/").await;
    assert_ne!(rotated, session_token);
    let r = app.post("/logout", &[("csrf_token", &session_token)]).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "the old token died with the old session"
    );
    let r = app.post("/logout", &[("csrf_token", &rotated)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

/// A failed sign-in's status, sent with `cookie` and the form token `token` (no jar).
async fn sign_in_with_cookie(app: &TestApp, cookie: &str, token: &str) -> StatusCode {
    bare_client()
        .post(app.url("/login"))
        .header("cookie", cookie)
        .form(&[
            ("csrf_token", token),
            ("username", "nobody"),
            ("password", "wrong password"),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn anonymous_csrf_tokens_expire_after_twelve_hours() {
    let key = Key::generate();
    let app = spawn_app_with(|s| s.session_key = key.clone()).await;
    let signer = CsrfSigner::new(&key, false);
    let now = SystemTime::now();
    let hours = |h: u64| Duration::from_secs(h * 3600);
    let attempt = |token: String| {
        let app = &app;
        async move { sign_in_with_cookie(app, &format!("csrf={token}"), &token).await }
    };
    assert_eq!(
        attempt(signer.token_issued_at(now - hours(11))).await,
        StatusCode::UNAUTHORIZED,
        "an 11-hour-old token still passes the CSRF check"
    );
    assert_eq!(
        attempt(signer.token_issued_at(now - hours(13))).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        attempt(signer.token_issued_at(now + hours(1))).await,
        StatusCode::FORBIDDEN,
        "issued in the future"
    );

    // A form page renews an aging token, and keeps a young one.
    let page_with = |token: String| {
        let app = &app;
        async move {
            bare_client()
                .get(app.url("/login"))
                .header("cookie", format!("csrf={token}"))
                .send()
                .await
                .unwrap()
        }
    };
    let young = signer.token_issued_at(now - hours(1));
    let r = page_with(young.clone()).await;
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(csrf_in(&r.text().await.unwrap()), young);
    let aging = signer.token_issued_at(now - hours(7));
    let r = page_with(aging.clone()).await;
    assert!(r.headers().get("set-cookie").is_some());
    assert_ne!(csrf_in(&r.text().await.unwrap()), aging);
}

#[tokio::test]
async fn production_uses_a_host_prefixed_csrf_cookie() {
    let app = spawn_app_with(|s| s.environment = Environment::Production).await;
    let r = bare_client().get(app.url("/login")).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-csrf="), "{cookie}");
    for attribute in ["Secure", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let token = csrf_in(&r.text().await.unwrap());
    assert_eq!(
        sign_in_with_cookie(&app, &format!("__Host-csrf={token}"), &token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in_with_cookie(&app, &format!("csrf={token}"), &token).await,
        StatusCode::FORBIDDEN,
        "an unprefixed cookie (settable by a sibling subdomain) does not count"
    );
}
