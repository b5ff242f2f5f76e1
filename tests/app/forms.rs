//! Form bodies: the order of checks (403 for a cross-site request or one with no cookie a
//! token could match → 413 for a body over 64 KiB → 403 without a genuine token → 400 for a
//! missing field or one that is not UTF-8), never repaired, each refusal an HTML page; and the
//! largest legitimate forms fit.

use reqwest::StatusCode;
use test_support::{spawn_app, TestApp};

#[tokio::test]
async fn the_csrf_check_comes_before_field_checks() {
    let app = spawn_app().await;
    // No token and no fields: 403, not 400.
    assert_eq!(
        app.post("/login", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("/register", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    // A good token and missing fields: 400, as a page.
    let r = app.submit("/login", "/login", &[("username", "x")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let r = app.submit("/register", "/register", &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oversized_and_incomplete_forms_get_pages() {
    let app = spawn_app().await;
    let token = app.csrf_token("/login").await;
    // One byte over the 64 KiB limit, counting the rest of the body.
    let big = "x".repeat(64 * 1024 + 1 - format!("csrf_token={token}&username=&password=x").len());
    let r = app
        .post(
            "/login",
            &[
                ("csrf_token", &token),
                ("username", &big),
                ("password", "x"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("Too much data"));
    // What needs no body comes first: cross-site, or with nothing a token could match (no
    // cookie at all), the same body is a 403.
    let oversized = format!("csrf_token={token}&username={big}&password=x");
    let r = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(oversized.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "cross-site");
    let r = test_support::bare_client()
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(oversized)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no cookie");
    let r = app.post("/login", &[("csrf_token", &token)]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("<html"));
    // Not a form at all: no token to be found, so 403.
    let r = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body("{\"username\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
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

/// `n` copies of `c`: 1024 of them is the longest password the rules allow.
/// `n` characters from the block starting at `first`, in a scrambled order: long, and not
/// so repetitive that the strength check refuses it.
fn varied(first: u32, block: u32, n: u32) -> String {
    (0..n)
        .map(|i| char::from_u32(first + (i * 7919 + 13) % block).expect("a character"))
        .collect()
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
    let cjk = varied(0x4E00, 20_000, 1024);
    // 4 bytes a character, 12 percent-encoded: the password change carries 3 × 12 KiB.
    let emoji = varied(0x1F300, 0x250, 1024);
    let other_emoji = varied(0x1F900, 0xFF, 1024);
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
    let too_long = varied(0x1F300, 0x250, 1025);
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
async fn a_field_given_twice_is_a_400_and_changes_nothing() {
    let app = spawn_app().await;
    app.register_elsewhere("wren", "Wren", "wrens password")
        .await;
    let token = app.csrf_token("/login").await;
    let r = app
        .post(
            "/login",
            &[
                ("csrf_token", token.as_str()),
                ("username", "wren"),
                ("username", "someone else"),
                ("password", "wrens password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(app.sid().is_none(), "not signed in");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM login_throttle").await, 0);
}
