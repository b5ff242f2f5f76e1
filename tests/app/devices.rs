//! The devices page: listing, revoking one, revoking the others.

use reqwest::StatusCode;
use test_support::{csrf_in, spawn_app, spawn_app_with, TestApp};

#[tokio::test]
async fn members_see_and_revoke_their_own_sessions_only() {
    let app = spawn_app().await;
    // Two devices of kim (one registered elsewhere), one of leo.
    app.register_elsewhere("kim", "Kim", "kims password").await;
    app.sign_in("kim", "kims password").await;
    app.register_elsewhere("leo", "Leo", "leos password").await;

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
    let leo = app.session_handles("leo").await;
    assert_eq!(leo.len(), 1, "one device of leo");
    let r = app
        .post(
            "/sessions/revoke",
            &[("csrf_token", &token), ("session", &leo[0])],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.session_count("leo").await, 1);

    // kim revokes her other device by its handle.
    let other = app.session_handles("kim").await.swap_remove(0);
    assert!(page.contains(&other), "the handle is on the page");
    app.post(
        "/sessions/revoke",
        &[("csrf_token", &token), ("session", &other)],
    )
    .await;
    assert_eq!(app.session_count("kim").await, 1);
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
    app.register_elsewhere("mia", "Mia", "mias password").await;
    app.sign_in_elsewhere("mia", "mias password").await;
    app.sign_in("mia", "mias password").await;
    assert_eq!(app.session_count("mia").await, 3);
    let token = app.csrf_token("/sessions").await;
    let r = app
        .post("/sessions/revoke-others", &[("csrf_token", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.session_count("mia").await, 1);
    let page = app.get_html("/sessions").await;
    assert!(page.contains("2 other devices have been signed out."));
    assert!(page.contains("This device"));
}

#[tokio::test]
async fn signing_in_beyond_the_cap_ends_the_least_recently_seen_sessions() {
    let app = spawn_app_with(|s| s.max_sessions_per_member = 3).await;
    app.register_elsewhere("nico", "Nico", "nicos password")
        .await;
    app.register_elsewhere("olaf", "Olaf", "olafs password")
        .await;
    // Three devices, kept; the registration's session is the oldest.
    let mut devices = Vec::new();
    for _ in 0..3 {
        let device = app.new_visitor();
        let r = device.sign_in("nico", "nicos password").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        devices.push(device);
        assert!(app.session_count("nico").await <= 3, "never over the cap");
    }
    assert_eq!(app.session_count("nico").await, 3);
    // The first device was seen last a while ago, the others just now.
    app.exec(
        "UPDATE sessions SET last_seen_at = last_seen_at - INTERVAL 10 MINUTE
         WHERE user_id = 'nico' ORDER BY created_at LIMIT 1",
    )
    .await;

    // A fourth sign-in: still three, and the least recently seen device is the one signed out.
    app.sign_in("nico", "nicos password").await;
    assert_eq!(app.session_count("nico").await, 3);
    let statuses = {
        let mut v = Vec::new();
        for device in &devices {
            v.push(device.get("/").await.status());
        }
        v
    };
    assert_eq!(
        statuses,
        [StatusCode::SEE_OTHER, StatusCode::OK, StatusCode::OK]
    );
    assert_eq!(app.get("/").await.status(), StatusCode::OK, "the new one");
    assert_eq!(
        app.session_count("olaf").await,
        1,
        "other members keep theirs"
    );
}

/// Sign `username` in from `n` new browsers at the same moment; their statuses.
async fn sign_in_at_once(
    app: &TestApp,
    username: &'static str,
    password: &'static str,
    n: usize,
) -> Vec<StatusCode> {
    let mut visitors = Vec::new();
    for _ in 0..n {
        let visitor = app.new_visitor_without_keep_alive();
        let token = visitor.csrf_token("/login").await;
        visitors.push((visitor, token));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (visitor, token) in visitors {
        tasks.spawn(async move {
            let form = [
                ("csrf_token", token.as_str()),
                ("username", username),
                ("password", password),
            ];
            visitor.post("/login", &form).await.status()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses
}

#[tokio::test]
async fn parallel_sign_ins_all_get_in_and_end_with_exactly_the_cap() {
    let app = spawn_app_with(|s| s.max_sessions_per_member = 3).await;
    app.register("pia", "Pia", "pias password").await;
    let statuses = sign_in_at_once(&app, "pia", "pias password", 10).await;
    assert_eq!(
        statuses,
        vec![StatusCode::SEE_OTHER; 10],
        "no 429 for correct sign-ins"
    );
    assert_eq!(app.session_count("pia").await, 3, "exactly the cap");
    // The registration's session is the oldest: it went first, the new ones stayed.
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_double_click_on_sign_in_signs_in_twice() {
    let app = spawn_app().await;
    app.register_elsewhere("quin", "Quin", "quins password")
        .await;
    // Four failures first: the fifth attempt locks the name, so two clicks counted at the
    // same moment would be one sign-in and one 429.
    for _ in 0..4 {
        app.sign_in("quin", "wrong password").await;
    }
    let statuses = sign_in_at_once(&app, "quin", "quins password", 2).await;
    assert_eq!(statuses, vec![StatusCode::SEE_OTHER; 2]);
}
