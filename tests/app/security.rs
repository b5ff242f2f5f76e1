//! The defences of the README's security section, each driven over real HTTP.

use std::time::{Duration, SystemTime};

use actix_web::cookie::Key;
use base64::Engine;
use member_portal::web::CsrfSigner;
use mysql_async::prelude::Queryable;
use reqwest::StatusCode;

use crate::support::{bare_client, csrf_in, session_key_b64, spawn_app, spawn_app_with, TestApp};

/// `n` copies of `c`: 1024 of them is the longest password the rules allow.
fn repeat(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

async fn change_password(app: &TestApp, current: &str, new: &str) -> reqwest::Response {
    app.submit(
        "/account/password",
        "/account/password",
        &[
            ("current_password", current),
            ("new_password", new),
            ("new_password_confirm", new),
        ],
    )
    .await
}

#[tokio::test]
async fn the_longest_passwords_fit_through_every_form() {
    let app = spawn_app().await;
    // 3 bytes a character, 9 percent-encoded: 2 × 9 KiB at registration.
    let cjk = repeat('密', 1024);
    // 4 bytes a character, 12 percent-encoded: the password change carries 3 × 12 KiB.
    let emoji = repeat('🔑', 1024);
    let other_emoji = repeat('🗝', 1024);
    assert_eq!(emoji.chars().count(), 1024);

    let r = app.register("longpass", "Long Pass", &cjk).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "registration");
    app.sign_out().await;
    let r = app.sign_in("longpass", &cjk).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in");

    let r = change_password(&app, &cjk, &emoji).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "password change");
    app.sign_out().await;
    let r = app.sign_in("longpass", &cjk).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the old password is gone"
    );
    let r = app.sign_in("longpass", &emoji).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the new one works, whole"
    );

    // Three 4-byte passwords at once: the largest form there is.
    let r = change_password(&app, &emoji, &other_emoji).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "emoji to emoji");
    app.sign_out().await;
    let r = app.sign_in("longpass", &other_emoji).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Registration with the 4-byte password too; one more character is refused as too long,
    // by the rule (422), not by the body limit.
    let fresh = app.new_visitor();
    let form = |password: &str| {
        vec![
            ("username".to_owned(), "emoji".to_owned()),
            ("name".to_owned(), "Emoji".to_owned()),
            ("password".to_owned(), password.to_owned()),
            ("password_confirm".to_owned(), password.to_owned()),
        ]
    };
    let token = fresh.csrf_token("/register").await;
    let too_long = repeat('🔑', 1025);
    let mut fields = form(&too_long);
    fields.push(("csrf_token".to_owned(), token.clone()));
    let r = fresh
        .client
        .post(app.url("/register"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields = form(&emoji);
    fields.push(("csrf_token".to_owned(), token));
    let r = fresh
        .client
        .post(app.url("/register"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn form_bodies_that_are_not_utf8_are_refused_not_repaired() {
    let app = spawn_app().await;
    // A password with U+FFFD in it: a lossy decoder turns `%FF` into exactly this.
    app.register_elsewhere("ursula", "Ursula", "pass\u{FFFD}word")
        .await;
    let members = app.scalar("SELECT COUNT(*) FROM member").await;
    let token = app.csrf_token("/login").await;

    let r = app
        .post_raw(
            "/login",
            format!("csrf_token={token}&username=ursula&password=pass%FFword"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "never signed in");
    assert!(r.text().await.unwrap().contains("<html"));
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);

    // Raw bytes, a truncated sequence, an encoded surrogate, a bad field name.
    for bad in [
        b"password=pass\xffword".to_vec(),
        b"password=%C3".to_vec(),
        b"password=%ED%A0%80".to_vec(),
        b"pass%FEword=x&password=y".to_vec(),
    ] {
        let mut body = format!("csrf_token={token}&username=ursula&").into_bytes();
        body.extend_from_slice(&bad);
        let r = app.post_raw("/login", body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
    let r = app
        .post_raw(
            "/register",
            format!(
                "csrf_token={token}&username=ulla&name=Ulla%FF&password=long+enough\
                 &password_confirm=long+enough"
            ),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM member").await, members);

    // The CSRF check still comes first: no checkable token is a 403 whatever else is wrong.
    let r = app.post_raw("/login", "username=ursula&password=%FF").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .post_raw("/login", "csrf_token=%FF&username=ursula&password=x")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Malformed escapes are not UTF-8 errors: they stay as written, as before.
    let r = app
        .post_raw(
            "/login",
            format!("csrf_token={token}&username=ursula&password=100%25%ZZ"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_in_names_never_fold_into_another_account() {
    let app = spawn_app().await;
    app.register_elsewhere("victim1", "Victim", "victims password")
        .await;

    let folded = format!("victim1{}zz", " ".repeat(40));
    let r = app.sign_in(&folded, "victims password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
    // Identifiers compare byte for byte: trailing spaces are not padding.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM member WHERE id = 'victim1   '")
            .await,
        0
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM login_throttle WHERE account = 'victim1'")
            .await,
        0,
        "a failure under another name is not counted against victim1"
    );

    // Registration's canonical form (trimmed, ASCII lower-case) is the account.
    let r = app.sign_in("  VICTIM1 ", "victims password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut conn = app.pool.get_conn().await.unwrap();
    let ids: Vec<Vec<u8>> = conn
        .query("SELECT user_id FROM sessions WHERE user_id IS NOT NULL")
        .await
        .unwrap();
    assert_eq!(ids, vec![b"victim1".to_vec(), b"victim1".to_vec()]);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sessions WHERE user_id = 'victim1 '")
            .await,
        0
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sessions s JOIN member m ON m.id = s.user_id")
            .await,
        2
    );
}

#[tokio::test]
async fn display_names_cannot_reorder_or_hide_text() {
    let app = spawn_app().await;
    for (name, problem) in [
        ("Ann\u{202E}gpj.exe", "text-direction"),
        ("\u{2066}Ann\u{2069}", "text-direction"),
        ("Ann\u{200F}", "text-direction"),
        ("\u{200B}\u{200D}\u{2060}", "visible"),
        ("\u{FEFF}", "visible"),
    ] {
        let r = app.register("annie", name, "annies password").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert!(r.text().await.unwrap().contains(problem), "{name:?}");
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM member").await, 0);
    let r = app
        .register("annie", "Ann\u{200D}ie 👩\u{200D}💻", "annies password")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "joiners inside a name");

    // The profile form applies the same rule.
    for name in ["Ann\u{202E}gpj.exe", "\u{200B}\u{FEFF}"] {
        let r = app
            .submit(
                "/account/profile",
                "/account/profile",
                &[("name", name), ("profile", "")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM author WHERE name = 'Ann\u{200D}ie 👩\u{200D}💻'")
            .await,
        1,
        "unchanged"
    );
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

async fn post_login(
    app: &TestApp,
    headers: &[(&str, &str)],
    token: &str,
    password: &str,
) -> StatusCode {
    let mut request = app.client.post(app.url("/login"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .form(&[
            ("csrf_token", token),
            ("username", "olga"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_origin_check_compares_scheme_host_and_port_and_ignores_forged_forwarding() {
    let app = spawn_app().await;
    app.register_elsewhere("olga", "Olga", "olgas password")
        .await;
    let token = app.csrf_token("/login").await;
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
    ] {
        assert_eq!(
            post_login(&app, &headers, &token, "olgas password").await,
            StatusCode::FORBIDDEN,
            "{headers:?}"
        );
    }
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
    let same = [("origin", own.as_str())];
    assert_eq!(
        post_login(&app, &same, &token, "olgas password").await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn forwarding_headers_count_from_trusted_proxies_only() {
    // The test client is on 127.0.0.1, here a trusted proxy.
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")]).await;
    app.register_elsewhere("olga", "Olga", "olgas password")
        .await;
    let token = app.csrf_token("/login").await;
    let proxied = [
        ("origin", "https://portal.example.com"),
        ("x-forwarded-host", "portal.example.com"),
        ("x-forwarded-proto", "https"),
    ];
    let evil = [
        ("origin", "http://evil.example"),
        ("x-forwarded-host", "portal.example.com"),
    ];
    assert_eq!(
        post_login(&app, &evil, &token, "olgas password").await,
        StatusCode::FORBIDDEN
    );
    let rfc7239 = [
        ("origin", "https://portal.example.com"),
        (
            "forwarded",
            "for=192.0.2.1;host=portal.example.com;proto=https",
        ),
    ];
    assert_eq!(
        post_login(&app, &rfc7239, &token, "wrong password").await,
        StatusCode::UNAUTHORIZED,
        "past the origin check"
    );
    assert_eq!(
        post_login(&app, &proxied, &token, "olgas password").await,
        StatusCode::SEE_OTHER
    );

    // The same request from an untrusted peer: its forwarding headers are ignored.
    let untrusted = spawn_app().await;
    untrusted
        .register_elsewhere("olga", "Olga", "olgas password")
        .await;
    let token = untrusted.csrf_token("/login").await;
    assert_eq!(
        post_login(&untrusted, &proxied, &token, "olgas password").await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn public_origin_is_the_only_accepted_origin_when_set() {
    let app = spawn_app_with(&[("PUBLIC_ORIGIN", "https://portal.example.com")]).await;
    app.register_elsewhere("olga", "Olga", "olgas password")
        .await;
    let token = app.csrf_token("/login").await;
    let own_host = [("origin", app.address.as_str())];
    assert_eq!(
        post_login(&app, &own_host, &token, "olgas password").await,
        StatusCode::FORBIDDEN,
        "the Host header is not the public origin"
    );
    let public = [("origin", "https://portal.example.com")];
    assert_eq!(
        post_login(&app, &public, &token, "olgas password").await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn anonymous_csrf_tokens_expire_after_twelve_hours() {
    let key_b64 = session_key_b64();
    let app = spawn_app_with(&[("SESSION_KEY", &key_b64)]).await;
    let key = Key::from(
        &base64::engine::general_purpose::STANDARD
            .decode(&key_b64)
            .unwrap(),
    );
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
    let app = spawn_app_with(&[("APP_ENV", "production")]).await;
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
