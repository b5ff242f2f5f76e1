//! The devices page: listing, revoking one, revoking the others.

use reqwest::StatusCode;

use crate::helpers::{csrf_in, spawn_app, spawn_app_with};

#[tokio::test]
async fn members_see_and_revoke_their_own_sessions_only() {
    let app = spawn_app().await;
    // Two devices of kim (one registered elsewhere), one of leo.
    app.member("kim", "Kim", "kims password").await;
    app.login("kim", "kims password").await;
    app.member("leo", "Leo", "leos password").await;

    let page = app.get_html("/sessions").await;
    assert_eq!(
        page.matches("class=\"device-main\"").count(),
        2,
        "kim's two sessions"
    );
    assert!(page.contains("This device"));
    assert!(
        page.contains("Chrome 130 on Linux"),
        "browser and OS from the user agent"
    );
    assert!(page.contains("127.0.0.1"));
    let token = csrf_in(&page);

    // leo's handle, taken from the table, has no effect on kim's page.
    let mut conn = app.pool.get_conn().await.unwrap();
    use mysql_async::prelude::Queryable;
    let leo: String = conn
        .query_first("SELECT LOWER(HEX(id)) FROM sessions WHERE user_id = 'leo'")
        .await
        .unwrap()
        .unwrap();
    let r = app
        .post(
            "/sessions/revoke",
            &[("csrf_token", &token), ("session", &leo)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE user_id = 'leo'")
            .await,
        1
    );

    // kim revokes her other device by its handle.
    let other: String = conn
        .query_first(
            "SELECT LOWER(HEX(id)) FROM sessions WHERE user_id = 'kim' ORDER BY created_at LIMIT 1",
        )
        .await
        .unwrap()
        .unwrap();
    assert!(page.contains(&other), "the handle is on the page");
    app.post(
        "/sessions/revoke",
        &[("csrf_token", &token), ("session", &other)],
    )
    .await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE user_id = 'kim'")
            .await,
        1
    );
    assert!(app
        .get_html("/sessions")
        .await
        .contains("That device has been signed out."));

    // Garbage handles are a 400, not a 500.
    let r = app
        .post(
            "/sessions/revoke",
            &[("csrf_token", &token), ("session", "zz")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn revoke_others_keeps_this_device() {
    let app = spawn_app().await;
    app.member("mia", "Mia", "mias password").await;
    app.member_again("mia", "mias password").await;
    app.login("mia", "mias password").await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE user_id = 'mia'")
            .await,
        3
    );
    let token = csrf_in(&app.get_html("/sessions").await);
    let r = app
        .post("/sessions/revoke-others", &[("csrf_token", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE user_id = 'mia'")
            .await,
        1
    );
    let page = app.get_html("/sessions").await;
    assert!(page.contains("2 other devices have been signed out."));
    assert!(page.contains("This device"));
}

#[tokio::test]
async fn signing_in_beyond_the_cap_ends_the_least_recently_seen_sessions() {
    let app = spawn_app_with(&[("MAX_SESSIONS_PER_MEMBER", "3")]).await;
    app.member("nico", "Nico", "nicos password").await;
    app.member("olaf", "Olaf", "olafs password").await;
    let sessions_of = |user: &'static str| {
        let app = &app;
        async move {
            app.count(&format!(
                "SELECT COUNT(*) FROM sessions WHERE user_id = '{user}'"
            ))
            .await
        }
    };
    // Three devices, kept; the registration's session is the oldest.
    let mut devices = Vec::new();
    for _ in 0..3 {
        let device = app.other_client();
        let r = app
            .submit_as(
                &device,
                "/login",
                "/login",
                &[("username", "nico"), ("password", "nicos password")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        devices.push(device);
        assert!(sessions_of("nico").await <= 3, "never over the cap");
    }
    assert_eq!(sessions_of("nico").await, 3);
    // The first device was seen last a while ago, the others just now.
    app.exec(
        "UPDATE sessions SET last_seen_at = last_seen_at - INTERVAL 10 MINUTE
         WHERE user_id = 'nico' ORDER BY created_at LIMIT 1",
    )
    .await;

    // A fourth sign-in: still three, and the least recently seen device is the one signed out.
    app.login("nico", "nicos password").await;
    assert_eq!(sessions_of("nico").await, 3);
    let statuses = {
        let mut v = Vec::new();
        for device in &devices {
            v.push(device.get(app.url("/")).send().await.unwrap().status());
        }
        v
    };
    assert_eq!(
        statuses,
        [StatusCode::SEE_OTHER, StatusCode::OK, StatusCode::OK]
    );
    assert_eq!(app.get("/").await.status(), StatusCode::OK, "the new one");
    assert_eq!(sessions_of("olaf").await, 1, "other members keep theirs");
}
