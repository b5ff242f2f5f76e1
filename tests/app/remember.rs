//! "Keep me signed in": a remembered session's cookie has a `Max-Age` and its row lives
//! `REMEMBER_FOR`, through touches and updates, while every other session keeps the browser-
//! session cookie and the idle and absolute timeouts; every rule that ends a session ends a
//! remembered one too.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use reqwest::StatusCode;

use crate::two_factor::{code, code_step, enrol, password_step};
use test_support::{location, spawn_app, spawn_app_with, TestApp, Visitor};

const THIRTY_DAYS: u64 = 30 * 24 * 3600;

/// The `sid` cookie `r` sets, as sent.
fn sid_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("sid="))
}

fn max_age(cookie: &str) -> Option<u64> {
    cookie
        .split("; ")
        .find_map(|part| part.strip_prefix("Max-Age="))
        .map(|n| n.parse().unwrap())
}

async fn remembered_sign_in(visitor: &Visitor, user: &str, password: &str) -> reqwest::Response {
    let form = [
        ("username", user),
        ("password", password),
        ("remember", "1"),
    ];
    visitor.submit("/login", "/login", &form).await
}

/// Seconds until the row of `member`'s sessions expires, longest first.
async fn expiries(app: &TestApp, member: &str) -> Vec<i64> {
    let mut conn = app.pool.get_conn().await.unwrap();
    conn.exec(
        "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(6), expires_at) FROM sessions
         WHERE user_id = ? ORDER BY expires_at DESC",
        (member,),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_remembered_session_has_a_cookie_max_age_and_a_far_expiry_and_others_are_unchanged() {
    let app = spawn_app().await;
    let login = app.get_html("/login").await;
    assert!(login.contains(r#"name="remember" value="1""#));
    assert!(login.contains("Keep me signed in for 30 days"));
    app.register_elsewhere("cleo", "Cleo", "cleos long password")
        .await;

    let plain = app.new_visitor();
    let r = plain.sign_in("cleo", "cleos long password").await;
    let cookie = sid_cookie(&r).unwrap();
    assert_eq!(max_age(&cookie), None, "a browser-session cookie: {cookie}");

    let r = remembered_sign_in(&app, "cleo", "cleos long password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = sid_cookie(&r).unwrap();
    assert_eq!(max_age(&cookie), Some(THIRTY_DAYS), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let left = expiries(&app, "cleo").await;
    assert_eq!(left.len(), 3);
    assert!(left[0] > (THIRTY_DAYS - 60) as i64, "{left:?}");
    assert!(
        left[1] <= 1800 && left[2] <= 1800,
        "the others keep the idle timeout: {left:?}"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sessions WHERE ttl_seconds = 2592000")
            .await,
        1
    );

    // A due touch keeps the row's own TTL; a state change sends the cookie again, with its
    // Max-Age; the other sessions' cookies stay browser-session ones.
    app.exec("UPDATE sessions SET last_seen_at = last_seen_at - INTERVAL 2 MINUTE")
        .await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    assert_eq!(plain.get("/").await.status(), StatusCode::OK);
    let left = expiries(&app, "cleo").await;
    assert!(left[0] > (THIRTY_DAYS - 60) as i64, "{left:?}");
    assert!(left[1] <= 1800, "{left:?}");
    let form = [("name", "Cleo P."), ("profile", "")];
    let r = app
        .submit("/account/profile", "/account/profile", &form)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = sid_cookie(&r).unwrap();
    assert!(max_age(&cookie).unwrap() > THIRTY_DAYS - 60, "{cookie}");
    let r = plain
        .submit("/account/profile", "/account/profile", &form)
        .await;
    if let Some(cookie) = sid_cookie(&r) {
        assert_eq!(max_age(&cookie), None, "{cookie}");
    }

    // The devices page marks the remembered device.
    let devices = plain.get_html("/sessions").await;
    assert_eq!(devices.matches("data-remembered").count(), 1);
    assert!(devices.contains("Kept signed in for 30 days"));

    // Signing out clears the cookie and deletes the row, remembered or not.
    let r = app.sign_out().await;
    let cookie = sid_cookie(&r).unwrap();
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert_eq!(app.session_count("cleo").await, 2);
}

#[tokio::test]
async fn remember_for_zero_removes_the_option() {
    let app = spawn_app_with(|s| s.remember_for = None).await;
    assert!(!app.get_html("/login").await.contains(r#"name="remember""#));
    app.register_elsewhere("dora", "Dora", "doras long password")
        .await;
    let r = remembered_sign_in(&app, "dora", "doras long password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(max_age(&sid_cookie(&r).unwrap()), None);
    assert!(expiries(&app, "dora").await.iter().all(|&s| s <= 1800));
}

#[tokio::test]
async fn every_rule_that_ends_a_session_ends_a_remembered_one() {
    let app = spawn_app_with(|s| s.max_sessions_per_member = 3).await;
    app.register("eddy", "Ed", "eds long password").await;
    let remembered = || async {
        let visitor = app.new_visitor();
        let r = remembered_sign_in(&visitor, "eddy", "eds long password").await;
        let status = r.status();
        assert_eq!(status, StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
        visitor
    };

    // Revoked from another device.
    let device = remembered().await;
    let handle = {
        let mut conn = app.pool.get_conn().await.unwrap();
        let handle: Option<String> = conn
            .query_first("SELECT LOWER(HEX(id)) FROM sessions WHERE ttl_seconds IS NOT NULL")
            .await
            .unwrap();
        handle.unwrap()
    };
    let r = app
        .submit("/sessions", "/sessions/revoke", &[("session", &handle)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(device.get("/").await.status(), StatusCode::SEE_OTHER);

    // "Sign out all other devices".
    let device = remembered().await;
    app.submit("/sessions", "/sessions/revoke-others", &[])
        .await;
    assert_eq!(device.get("/").await.status(), StatusCode::SEE_OTHER);

    // The session cap: the least recently seen go first, remembered or not.
    let oldest = remembered().await;
    app.exec("UPDATE sessions SET last_seen_at = last_seen_at - INTERVAL 1 HOUR WHERE ttl_seconds IS NOT NULL")
        .await;
    app.sign_in_elsewhere("eddy", "eds long password").await;
    app.sign_in_elsewhere("eddy", "eds long password").await;
    assert_eq!(oldest.get("/").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.session_count("eddy").await, 3);

    // A password change, made on another remembered device.
    let device = remembered().await;
    let changer = remembered().await;
    let r = changer
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current_password", "eds long password"),
                ("new_password", "eds newer password"),
                ("new_password_confirm", "eds newer password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(device.get("/").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.session_count("eddy").await, 1);
}

#[tokio::test]
async fn a_remembered_session_outlives_the_absolute_timeout_and_ends_at_its_own() {
    let app = spawn_app_with(|s| {
        s.absolute_timeout = Duration::from_secs(2);
        s.touch_interval = Duration::from_secs(1);
        s.remember_for = Some(Duration::from_secs(5));
    })
    .await;
    app.register_elsewhere("fay", "Fay", "fays long password")
        .await;
    let plain = app.new_visitor();
    plain.sign_in("fay", "fays long password").await;
    let kept = app.new_visitor();
    let r = remembered_sign_in(&kept, "fay", "fays long password").await;
    assert_eq!(max_age(&sid_cookie(&r).unwrap()), Some(5));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        plain.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "2 s after sign-in"
    );
    assert_eq!(
        kept.get("/").await.status(),
        StatusCode::OK,
        "remembered: 5 s"
    );
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let r = kept.get("/").await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "past its own absolute timeout"
    );
    assert!(location(&r).starts_with("/login"));
}

#[tokio::test]
async fn the_two_factor_step_offers_remember_too() {
    let app = spawn_app().await;
    app.register("gil", "Gil", "gils long password").await;
    let (secret, _) = enrol(&app, "gils long password").await;
    // Ticked at the password: ticked on the code form, and the half signed-in cookie dies
    // with its row (five minutes).
    let visitor = app.new_visitor();
    let r = remembered_sign_in(&visitor, "gil", "gils long password").await;
    assert_eq!(location(&r), "/login/two-factor");
    assert_eq!(max_age(&sid_cookie(&r).unwrap()), Some(300));
    let page = visitor.get_html("/login/two-factor").await;
    assert!(page.contains(r#"name="remember" value="1" checked"#));
    let r = code_step(&visitor, &code(&secret, 1), true).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(max_age(&sid_cookie(&r).unwrap()), Some(THIRTY_DAYS));
    assert!(expiries(&app, "gil").await[0] > (THIRTY_DAYS - 60) as i64);

    // Unticked at the code: a browser session.
    let other = app.new_visitor();
    password_step(&other, "gil", "gils long password").await;
    app.exec("UPDATE two_factor SET last_step = 0").await;
    let r = code_step(&other, &code(&secret, 0), false).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(max_age(&sid_cookie(&r).unwrap()), None);
}
