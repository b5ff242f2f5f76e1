//! A database that is up but refuses the app: its user locked, over its connection limit.
//! Every route answers the 503 page with `Retry-After`, never a 500, and the app recovers by
//! itself when access comes back.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use test_database::TestDatabase;

use test_support::{TestApp, Visitor};

/// The app, on a fresh database, connecting as a MySQL user of its own.
async fn app_as_its_own_user() -> (TestApp, String) {
    TestApp::spawn_as_own_user(TestDatabase::create().await).await
}

/// Kill every connection `user` has open: the app's pools must open new ones.
async fn kill_connections(app: &TestApp, user: &str) {
    let mut conn = app.pool.get_conn().await.unwrap();
    let ids: Vec<u64> = conn
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?",
            (user,),
        )
        .await
        .unwrap();
    for id in ids {
        // A connection may end by itself meanwhile.
        let _ = conn.query_drop(format!("KILL {id}")).await;
    }
}

/// `response` is the 503 page: HTML, one `Retry-After` in seconds.
async fn assert_unavailable(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    let retry_after: Vec<_> = response.headers().get_all("retry-after").iter().collect();
    assert_eq!(retry_after.len(), 1, "{what}: Retry-After {retry_after:?}");
    assert!(
        retry_after[0]
            .to_str()
            .is_ok_and(|s| s.parse::<u32>().is_ok_and(|n| n > 0)),
        "{what}: Retry-After {retry_after:?}"
    );
    let html = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    let body = response.text().await.unwrap();
    assert!(html || what.contains("healthz"), "{what}: not HTML");
    assert!(
        !body.to_lowercase().contains("mysql") && !body.contains("4151"),
        "{what}: internals shown: {body}"
    );
}

/// Poll `GET /` until it greets the member; every answer on the way is a 200 or a 503.
async fn await_recovery(app: &Visitor, what: &str) {
    let since = Instant::now();
    loop {
        let r = app.get("/").await;
        match r.status() {
            StatusCode::OK => return,
            StatusCode::SERVICE_UNAVAILABLE => {}
            other => panic!("{what}: {other} while recovering"),
        }
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "{what}: no recovery"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_locked_database_user_gets_503_pages_from_every_route_and_recovers() {
    let (app, user) = app_as_its_own_user().await;
    app.register("lena", "Lena", "lenas password").await;
    let member = app.new_visitor();
    member.sign_in("lena", "lenas password").await;
    let newcomer = app.new_visitor();
    let newcomer_token = newcomer.csrf_token("/login").await;

    app.exec(&format!("ALTER USER '{user}'@'%' ACCOUNT LOCK"))
        .await;
    kill_connections(&app, &user).await;

    let r = newcomer
        .post(
            "/login",
            &[
                ("csrf_token", &newcomer_token),
                ("username", "lena"),
                ("password", "lenas password"),
            ],
        )
        .await;
    assert_unavailable(r, "POST /login while the user is locked").await;
    assert_unavailable(member.get("/").await, "GET / signed in").await;
    assert_unavailable(member.get("/sessions").await, "GET /sessions").await;
    assert_unavailable(app.get("/healthz").await, "GET /healthz").await;

    app.exec(&format!("ALTER USER '{user}'@'%' ACCOUNT UNLOCK"))
        .await;
    await_recovery(&member, "after the unlock").await;
    assert_eq!(member.get("/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_user_over_its_connection_limit_gets_503_pages_never_500() {
    let (app, user) = app_as_its_own_user().await;
    app.register("max", "Max", "maxs password").await;
    app.exec(&format!(
        "ALTER USER '{user}'@'%' WITH MAX_USER_CONNECTIONS 1"
    ))
    .await;
    kill_connections(&app, &user).await;
    // Many requests at once, on connections of their own so both workers (each with a pool
    // of its own) take part: some get the one connection, the others a refusal (1226).
    let visitor = app.new_visitor_without_keep_alive();
    let token = visitor.csrf_token("/login").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let request = visitor.client.post(visitor.url("/login")).form(&[
            ("csrf_token", token.as_str()),
            ("username", "max"),
            ("password", "wrong password"),
        ]);
        tasks.spawn(async move { request.send().await.unwrap().status() });
    }
    let mut answers = Vec::new();
    while let Some(status) = tasks.join_next().await {
        answers.push(status.unwrap());
    }
    for status in &answers {
        assert!(
            matches!(
                *status,
                StatusCode::UNAUTHORIZED
                    | StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::SERVICE_UNAVAILABLE
            ),
            "{answers:?}"
        );
    }
    app.exec(&format!(
        "ALTER USER '{user}'@'%' WITH MAX_USER_CONNECTIONS 0"
    ))
    .await;
    await_recovery(&app, "after lifting the limit").await;
}
