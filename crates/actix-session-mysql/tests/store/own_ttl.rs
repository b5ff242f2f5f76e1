//! Per-session TTLs: a session whose state carries the TTL key lives that long after every
//! save, update and touch, on any instance; the others keep actix-session's TTL.

use std::time::Duration;

use actix_session::storage::SessionStore;
use actix_session_mysql::{MySqlSessionStore, TTL_KEY};
use mysql_async::prelude::Queryable;
use test_database::TestDatabase;

use crate::common::{expires_in_secs, set_row};
use crate::{state, store, store_without_cache, user_state, TABLE, TTL, USER_KEY};

const THIRTY_DAYS: i64 = 30 * 24 * 60 * 60;
const BACKDATE: &str = "last_seen_at = UTC_TIMESTAMP(6) - INTERVAL 5 MINUTE";

/// A signed-in state that asks for `ttl` seconds of its own.
fn remembered(user: &str, ttl: &str) -> std::collections::HashMap<String, String> {
    let mut state = user_state(user);
    state.insert(TTL_KEY.to_owned(), ttl.to_owned());
    state
}

async fn ttl_column(db: &TestDatabase) -> Vec<Option<u64>> {
    let mut conn = db.pool().get_conn().await.unwrap();
    conn.query(format!(
        "SELECT ttl_seconds FROM `{TABLE}` ORDER BY created_at, id"
    ))
    .await
    .unwrap()
}

#[tokio::test]
async fn a_session_with_a_ttl_of_its_own_keeps_it_through_save_update_and_touch() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = db.pool();
    let days = THIRTY_DAYS.to_string();
    let long = store.save(remembered("alice", &days), &TTL).await.unwrap();
    let short = store.save(user_state("bob"), &TTL).await.unwrap();
    let day = 24.0 * 3600.0;
    assert!(expires_in_secs(&pool, TABLE, &long).await > 29.9 * day);
    let left = expires_in_secs(&pool, TABLE, &short).await;
    assert!(left > 29.0 * 60.0 && left <= 30.0 * 60.0, "{left}");
    assert_eq!(ttl_column(&db).await, [Some(2_592_000), None]);

    // An update with actix-session's TTL keeps the session's own.
    let mut changed = remembered("alice", &days);
    changed.insert("counter".to_owned(), "2".to_owned());
    let long = store.update(long, changed, &TTL).await.unwrap();
    assert!(expires_in_secs(&pool, TABLE, &long).await > 29.9 * day);

    // A due touch, from an instance that never loaded the session (no cache): the statement
    // itself keeps the row's TTL.
    for key in [&long, &short] {
        set_row(&pool, TABLE, key, BACKDATE).await;
        set_row(
            &pool,
            TABLE,
            key,
            "expires_at = UTC_TIMESTAMP(6) + INTERVAL 1 MINUTE",
        )
        .await;
    }
    let other = store_without_cache(&db).await;
    other.update_ttl(&long, &TTL).await.unwrap();
    other.update_ttl(&short, &TTL).await.unwrap();
    assert!(expires_in_secs(&pool, TABLE, &long).await > 29.9 * day);
    let left = expires_in_secs(&pool, TABLE, &short).await;
    assert!(left > 29.0 * 60.0 && left <= 30.0 * 60.0, "{left}");

    // The listing says which sessions have a TTL of their own.
    let listed = store.list_user_sessions("alice").await.unwrap();
    assert_eq!(
        listed[0].ttl,
        Some(Duration::from_secs(THIRTY_DAYS.unsigned_abs()))
    );
    assert_eq!(store.list_user_sessions("bob").await.unwrap()[0].ttl, None);

    // Dropping the key goes back to actix-session's TTL at the next write.
    let long = store.update(long, user_state("alice"), &TTL).await.unwrap();
    let left = expires_in_secs(&pool, TABLE, &long).await;
    assert!(left <= 30.0 * 60.0, "{left}");
    assert_eq!(ttl_column(&db).await, [None, None]);
}

#[tokio::test]
async fn a_short_ttl_of_its_own_ends_a_session_early_and_touches_stay_within_it() {
    let db = TestDatabase::create().await;
    let store = MySqlSessionStore::builder(db.pool())
        .touch_interval(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let pool = db.pool();
    // Half signed in, say: two seconds, whatever actix-session's TTL is.
    let key = store
        .save(state(&[("pending", "1"), (TTL_KEY, "2")]), &TTL)
        .await
        .unwrap();
    assert!(expires_in_secs(&pool, TABLE, &key).await <= 2.0);
    assert!(store.load(&key).await.unwrap().is_some());
    // The touch interval is at most half the session's own TTL, not actix-session's.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(store.load(&key).await.unwrap().is_some());
    store.update_ttl(&key, &TTL).await.unwrap();
    let left = expires_in_secs(&pool, TABLE, &key).await;
    assert!(left > 1.5 && left <= 2.0, "touched by its own TTL: {left}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(store.load(&key).await.unwrap().is_none(), "expired");
}

#[tokio::test]
async fn ttl_values_are_clamped_or_ignored_and_the_key_can_be_renamed() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    for (value, expect) in [
        ("0", Some(1)),
        ("-5", Some(1)),
        ("99999999999", Some(100 * 366 * 24 * 3600)),
        ("\"soon\"", None),
        ("1.5", None),
    ] {
        store
            .save(state(&[(USER_KEY, "\"x\""), (TTL_KEY, value)]), &TTL)
            .await
            .unwrap();
        let mut conn = db.pool().get_conn().await.unwrap();
        let stored: Option<Option<u64>> = conn
            .query_first(format!(
                "SELECT ttl_seconds FROM `{TABLE}` ORDER BY created_at DESC, id LIMIT 1"
            ))
            .await
            .unwrap();
        assert_eq!(stored, Some(expect), "{value}");
        conn.query_drop(format!("DELETE FROM `{TABLE}`"))
            .await
            .unwrap();
    }

    let renamed = MySqlSessionStore::builder(db.pool())
        .ttl_key("remember_for")
        .build()
        .await
        .unwrap();
    let key = renamed
        .save(state(&[("remember_for", "86400"), (TTL_KEY, "5")]), &TTL)
        .await
        .unwrap();
    assert!(expires_in_secs(&db.pool(), TABLE, &key).await > 86_000.0);
}

#[tokio::test]
async fn a_table_from_before_per_session_ttls_gets_the_column() {
    let db = TestDatabase::create().await;
    let mut conn = db.pool().get_conn().await.unwrap();
    // The table as earlier builds created it.
    conn.query_drop(format!(
        "CREATE TABLE `{TABLE}` (
            id BINARY(32) NOT NULL, user_id VARBINARY(255) NULL, data MEDIUMTEXT NOT NULL,
            expires_at DATETIME(6) NOT NULL, created_at DATETIME(6) NOT NULL,
            last_seen_at DATETIME(6) NOT NULL, PRIMARY KEY (id), KEY (user_id), KEY (expires_at)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    ))
    .await
    .unwrap();
    // Two instances starting at once: both find the column missing, one adds it.
    let (a, b) = tokio::join!(
        MySqlSessionStore::builder(db.pool()).build(),
        MySqlSessionStore::builder(db.pool()).build()
    );
    let (a, _b) = (a.unwrap(), b.unwrap());
    let key = a.save(remembered("carol", "3600"), &TTL).await.unwrap();
    assert!(expires_in_secs(&db.pool(), TABLE, &key).await > 3500.0);
    assert_eq!(ttl_column(&db).await, [Some(3600)]);
}
