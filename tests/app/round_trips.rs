//! Database round trips per request, counted by the server itself.
//!
//! The app runs as a MySQL user of its own, and MariaDB's `USER_STATISTICS` (enabled with
//! `userstat`) counts that user's statements, so nothing else on the server disturbs the count.

use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use test_database::TestDatabase;
use test_support::TestApp;

/// What `POST /login` costs for a member without two-factor sign-in: (SELECTs, writes,
/// other statements), as the server counts them.
const SIGN_IN_STATEMENTS: (u64, u64, u64) = (5, 5, 0);

struct Counts {
    selects: u64,
    updates: u64,
    other: u64,
}

async fn counts(admin: &mysql_async::Pool, user: &str) -> Counts {
    let mut conn = admin.get_conn().await.unwrap();
    let row: Option<(u64, u64, u64)> = conn
        .exec_first(
            "SELECT SELECT_COMMANDS, UPDATE_COMMANDS, OTHER_COMMANDS
             FROM information_schema.USER_STATISTICS WHERE USER = ?",
            (user,),
        )
        .await
        .unwrap();
    let (selects, updates, other) = row.unwrap_or_default();
    Counts {
        selects,
        updates,
        other,
    }
}

#[tokio::test]
async fn signed_in_home_costs_one_point_read_and_login_page_none() {
    let db = TestDatabase::create().await;
    db.pool()
        .get_conn()
        .await
        .unwrap()
        .query_drop("SET GLOBAL userstat = 1")
        .await
        .unwrap();
    let (app, user) = TestApp::spawn_as_own_user(db).await;
    let r = app.register("rita", "Rita", "ritas password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Warm up: every worker opens its connections and prepares its statements.
    for _ in 0..20 {
        assert_eq!(app.get("/").await.status(), StatusCode::OK);
    }

    // The member is in the session: one read (the session row) per page view. The member row
    // is re-read at most once per touch interval, and a due touch writes once.
    let before = counts(&app.pool, &user).await;
    for _ in 0..300 {
        assert_eq!(app.get("/").await.status(), StatusCode::OK);
    }
    let after = counts(&app.pool, &user).await;
    let selects = after.selects - before.selects;
    assert!(
        (300..=306).contains(&selects),
        "300 signed-in GET / cost {selects} SELECTs"
    );
    let writes = after.updates - before.updates;
    assert!(writes <= 2, "300 signed-in GET / cost {writes} writes");
    assert_eq!(after.other - before.other, 0);

    let before = counts(&app.pool, &user).await;
    for _ in 0..10 {
        let r = app.new_visitor().get("/login").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let after = counts(&app.pool, &user).await;
    assert_eq!(
        (after.selects + after.updates + after.other)
            - (before.selects + before.updates + before.other),
        0,
        "GET /login needs no database"
    );

    // A touch that is due costs exactly one write, once.
    app.exec("UPDATE sessions SET last_seen_at = last_seen_at - INTERVAL 2 MINUTE")
        .await;
    let before = counts(&app.pool, &user).await;
    for _ in 0..5 {
        assert_eq!(app.get("/").await.status(), StatusCode::OK);
    }
    let after = counts(&app.pool, &user).await;
    assert_eq!(
        after.updates - before.updates,
        1,
        "one touch in five requests"
    );

    // A sign-in of a member without two-factor: the throttle upsert, the member read, the
    // throttle clear, the `signin` event, the session trim (the cap) and the session insert
    // (MariaDB counts an `INSERT … SELECT` and a `DELETE … JOIN (SELECT …)` as a SELECT too),
    // measured before two-factor sign-in existed.
    let visitor = app.new_visitor();
    let before = counts(&app.pool, &user).await;
    let r = visitor.sign_in("rita", "ritas password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let after = counts(&app.pool, &user).await;
    let signin = (
        after.selects - before.selects,
        after.updates - before.updates,
        after.other - before.other,
    );
    eprintln!("sign-in statements (select, write, other): {signin:?}");
    assert_eq!(signin, SIGN_IN_STATEMENTS, "what a sign-in costs");

    app.exec(&format!("DROP USER '{user}'@'%'")).await;
}
