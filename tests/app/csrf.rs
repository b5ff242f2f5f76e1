//! CSRF and origin checks, and the order of checks on every form.

use reqwest::StatusCode;

use crate::support::spawn_app;

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
