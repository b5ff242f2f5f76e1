//! Expired-row cleanup: `purge_expired` and the background task.

use std::time::{Duration, Instant};

use actix_session::storage::SessionStore;
use actix_session_mysql::MySqlSessionStore;
use mysql_async::prelude::Queryable;
use test_database::TestDatabase;

use crate::common::{count, exec, expire, row_of, set_row};
use crate::{state, TABLE, TTL};

#[tokio::test]
async fn purge_expired_deletes_only_expired_rows_in_batches() {
    let db = TestDatabase::create().await;
    let store = MySqlSessionStore::builder(db.pool())
        .cleanup_batch_size(3)
        .build()
        .await
        .unwrap();
    let pool = store.pool().clone();
    let mut expired = Vec::new();
    for i in 0..10 {
        let key = store
            .save(state(&[("n", &i.to_string())]), &TTL)
            .await
            .unwrap();
        // Oldest first: i = 0 expired 10 minutes ago.
        let set = format!("expires_at = UTC_TIMESTAMP(6) - INTERVAL {} MINUTE", 10 - i);
        set_row(&pool, TABLE, &key, &set).await;
        expired.push(key);
    }
    let mut live = Vec::new();
    for i in 0..5 {
        live.push(
            store
                .save(state(&[("live", &i.to_string())]), &TTL)
                .await
                .unwrap(),
        );
    }
    // One almost-expired live row: a second still to go.
    set_row(
        &pool,
        TABLE,
        &live[0],
        "expires_at = UTC_TIMESTAMP(6) + INTERVAL 1 MINUTE",
    )
    .await;

    // Record, per deleted row, the start time of the statement that deleted it: `NOW(6)` is
    // constant within a statement, so each distinct value is one DELETE.
    exec(
        &pool,
        "CREATE TABLE purge_log (expires_at DATETIME(6) NOT NULL, stmt_at DATETIME(6) NOT NULL)",
        (),
    )
    .await;
    exec(
        &pool,
        "CREATE TRIGGER sessions_purge_log AFTER DELETE ON sessions FOR EACH ROW \
         INSERT INTO purge_log VALUES (OLD.expires_at, NOW(6))",
        (),
    )
    .await;

    assert_eq!(store.purge_expired().await.unwrap(), 10);
    assert_eq!(count(&pool, TABLE).await, 5);
    for key in &expired {
        assert!(row_of(&pool, TABLE, key).await.is_none());
    }
    for key in &live {
        assert!(store.load(key).await.unwrap().is_some());
    }

    let mut conn = pool.get_conn().await.unwrap();
    let batches: Vec<(u64, String, String)> = conn
        .query(
            "SELECT COUNT(*), CAST(MIN(expires_at) AS CHAR), CAST(MAX(expires_at) AS CHAR) \
             FROM purge_log GROUP BY stmt_at ORDER BY stmt_at",
        )
        .await
        .unwrap();
    let sizes: Vec<u64> = batches.iter().map(|b| b.0).collect();
    assert_eq!(sizes, [3, 3, 3, 1], "batches of 3, oldest first");
    for pair in batches.windows(2) {
        assert!(pair[0].2 < pair[1].1, "each batch is older than the next");
    }
    drop(conn);

    assert_eq!(
        store.purge_expired().await.unwrap(),
        0,
        "nothing left to do"
    );
}

#[tokio::test]
async fn cleanup_task_deletes_expired_rows_and_stops() {
    let db = TestDatabase::create().await;
    let store = MySqlSessionStore::builder_from_url(db.url())
        .cleanup_interval(Duration::from_millis(100))
        .cleanup_batch_size(2)
        .build()
        .await
        .unwrap();
    let pool = store.pool().clone();
    let mut keys = Vec::new();
    for i in 0..5 {
        keys.push(
            store
                .save(state(&[("n", &i.to_string())]), &TTL)
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        store.load(&keys[4]).await.unwrap(),
        Some(state(&[("n", "4")]))
    );
    for key in &keys[..3] {
        expire(&pool, TABLE, key).await;
    }

    let task = store.spawn_cleanup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&pool, TABLE).await != 2 {
        assert!(Instant::now() < deadline, "cleanup did not run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for key in &keys[3..] {
        assert!(store.load(key).await.unwrap().is_some());
    }
    tokio::time::timeout(Duration::from_secs(5), task.stop())
        .await
        .expect("stop() returns promptly");

    // Stopped means stopped: a newly expired row stays until the next purge.
    expire(&pool, TABLE, &keys[3]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&pool, TABLE).await, 2);
    assert_eq!(store.purge_expired().await.unwrap(), 1);
}
