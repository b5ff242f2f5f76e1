//! What every response is: an HTML page with the security headers (error pages too, and
//! refusals on signed-in pages keep the signed-in header), `HEAD` answered like `GET`, and 405
//! with `Allow`.

use reqwest::StatusCode;
use test_support::spawn_app;

#[tokio::test]
async fn every_page_is_html_with_security_headers() {
    let app = spawn_app().await;
    let r = app.get("/no/such/page").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers().contains_key("referrer-policy"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("Page not found") && !html.contains("Sign out"));

    let r = app.get("/logout").await;
    assert!(matches!(
        r.status(),
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
    ));
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    let r = app.get("/login?next=%ZZ").await;
    assert!(!r.status().is_server_error());
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    let r = app.get("/static/style.css").await;
    assert_eq!(r.status(), StatusCode::OK);
    let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cache.contains("max-age=86400"), "{cache}");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));

    let r = app.get("/healthz").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ok");

    let r = app.new_visitor().get("/login").await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("csrf=") && cookie.contains("HttpOnly"));
    assert!(!cookie.contains("Secure"), "development speaks plain HTTP");

    app.register("sam", "Sam", "sams password").await;
    let html = app.get_html("/no/such/page").await;
    assert!(
        html.contains("Page not found") && html.contains("Sign out"),
        "signed-in header"
    );
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_app().await;
    let anonymous = app.new_visitor();
    app.register("hana", "Hana", "hanas password").await;
    for (visitor, path) in [
        (&anonymous, "/healthz"),
        (&anonymous, "/static/style.css"),
        (&anonymous, "/login"),
        (&anonymous, "/register"),
        (&app, "/"),
        (&app, "/sessions"),
    ] {
        let get = visitor.get(path).await;
        assert_eq!(get.status(), StatusCode::OK, "GET {path}");
        let head = visitor.client.head(visitor.url(path)).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        assert_eq!(
            head.headers()["content-type"],
            get.headers()["content-type"],
            "HEAD {path}"
        );
        assert!(head.text().await.unwrap().is_empty(), "HEAD {path}: a body");
    }
    let r = anonymous
        .client
        .delete(anonymous.url("/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET, HEAD, POST");
}

#[tokio::test]
async fn refused_requests_on_signed_in_pages_keep_the_member_header() {
    let app = spawn_app().await;
    app.register("ivo", "Ivo", "ivos password").await;
    let token = app.csrf_token("/account/profile").await;
    let big = "x".repeat(70 * 1024);
    for (what, response, status) in [
        (
            "a wrong token",
            app.post(
                "/account/profile",
                &[("csrf_token", "wrong"), ("name", "I"), ("profile", "")],
            )
            .await,
            StatusCode::FORBIDDEN,
        ),
        (
            "missing fields",
            app.post("/account/profile", &[("csrf_token", &token)])
                .await,
            StatusCode::BAD_REQUEST,
        ),
        (
            "a body over the limit",
            app.post(
                "/account/profile",
                &[("csrf_token", &token), ("profile", &big)],
            )
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "a method the page does not take",
            app.client
                .delete(app.url("/sessions"))
                .send()
                .await
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ] {
        assert_eq!(response.status(), status, "{what}");
        let keeps_allow =
            status != StatusCode::METHOD_NOT_ALLOWED || response.headers()["allow"] == "GET, HEAD";
        let html = response.text().await.unwrap();
        assert!(
            html.contains(r#"action="/logout""#) && html.contains("Sign out"),
            "{what}: no signed-in header: {html}"
        );
        assert!(keeps_allow, "{what}: the Allow header is lost");
    }
    // The session is untouched: the member is still signed in.
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
}
