//! `update_ttl`: the touch throttle, and TTLs at the edges.

use std::time::Duration;

use actix_session::storage::SessionStore;
use actix_session_mysql::MySqlSessionStore;
use test_database::TestDatabase;

use crate::common::{count, expires_in_secs, row_of, rows, set_row};
use crate::{dup, store, store_without_cache, user_state, TABLE, TTL};

const BACKDATE: &str = "last_seen_at = UTC_TIMESTAMP(6) - INTERVAL 5 MINUTE, \
                        expires_at = UTC_TIMESTAMP(6) + INTERVAL 10 MINUTE";

#[tokio::test]
async fn update_ttl_writes_at_most_once_per_interval() {
    let db = TestDatabase::create().await;
    let store = MySqlSessionStore::builder(db.pool())
        .touch_interval(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let pool = store.pool().clone();
    let key = store.save(user_state("alice"), &TTL).await.unwrap();

    set_row(&pool, TABLE, &key, BACKDATE).await;
    let backdated = row_of(&pool, TABLE, &key).await.unwrap();
    assert!(store.load(&key).await.unwrap().is_some());
    store.update_ttl(&key, &TTL).await.unwrap();
    let touched = row_of(&pool, TABLE, &key).await.unwrap();
    assert_ne!(touched, backdated, "a due touch writes");
    assert_eq!(touched.2, backdated.2, "the state is not rewritten");
    assert_eq!(touched.4, backdated.4, "created_at is kept");
    assert!(touched.5 > backdated.5, "last_seen_at moved forward");
    let left = expires_in_secs(&pool, TABLE, &key).await;
    assert!(left > 29.0 * 60.0, "expiry is now + TTL: {left}");

    // Within the interval: no write, whatever the path.
    store.update_ttl(&key, &TTL).await.unwrap();
    assert_eq!(row_of(&pool, TABLE, &key).await.unwrap(), touched);
    assert!(store.load(&key).await.unwrap().is_some());
    store.update_ttl(&key, &TTL).await.unwrap();
    assert_eq!(row_of(&pool, TABLE, &key).await.unwrap(), touched);

    // `with_pool` shares the throttle.
    store
        .with_pool(db.pool())
        .update_ttl(&key, &TTL)
        .await
        .unwrap();
    assert_eq!(row_of(&pool, TABLE, &key).await.unwrap(), touched);

    // Another instance knows nothing of this one's cache: the guarded UPDATE holds the line.
    let other = MySqlSessionStore::builder(db.pool())
        .touch_interval(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    other.update_ttl(&key, &TTL).await.unwrap();
    assert_eq!(row_of(&pool, TABLE, &key).await.unwrap(), touched);
    assert!(other.load(&key).await.unwrap().is_some());
    other.update_ttl(&key, &TTL).await.unwrap();
    assert_eq!(row_of(&pool, TABLE, &key).await.unwrap(), touched);
}

#[tokio::test]
async fn update_ttl_without_a_cache_entry_still_writes_when_due() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = store.pool().clone();
    let key = store.save(user_state("alice"), &TTL).await.unwrap();
    set_row(&pool, TABLE, &key, BACKDATE).await;
    let backdated = row_of(&pool, TABLE, &key).await.unwrap();

    // A fresh instance, no `load` first: the SQL guard alone decides.
    let other = store_without_cache(&db).await;
    other.update_ttl(&key, &TTL).await.unwrap();
    let touched = row_of(&pool, TABLE, &key).await.unwrap();
    assert!(touched.5 > backdated.5, "last_seen_at moved forward");
    assert!(expires_in_secs(&pool, TABLE, &key).await > 29.0 * 60.0);

    // A `load` that sees an old `last_seen_at` makes the next touch due on that instance too.
    set_row(&pool, TABLE, &key, BACKDATE).await;
    let backdated = row_of(&pool, TABLE, &key).await.unwrap();
    assert!(other.load(&key).await.unwrap().is_some());
    other.update_ttl(&key, &TTL).await.unwrap();
    assert_ne!(row_of(&pool, TABLE, &key).await.unwrap(), backdated);
}

#[tokio::test]
async fn update_ttl_does_not_revive_a_dead_session() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = store.pool().clone();
    let key = store.save(user_state("alice"), &TTL).await.unwrap();
    set_row(
        &pool,
        TABLE,
        &key,
        "expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND, \
         last_seen_at = UTC_TIMESTAMP(6) - INTERVAL 1 HOUR",
    )
    .await;
    let before = rows(&pool, TABLE).await;
    store_without_cache(&db)
        .await
        .update_ttl(&key, &TTL)
        .await
        .unwrap();
    assert_eq!(rows(&pool, TABLE).await, before);
    store.delete(&key).await.unwrap();
    store.update_ttl(&key, &TTL).await.unwrap();
    assert_eq!(count(&pool, TABLE).await, 0);
}

#[tokio::test]
async fn a_ttl_shorter_than_the_touch_interval_still_slides() {
    let db = TestDatabase::create().await;
    let store = MySqlSessionStore::builder(db.pool())
        .touch_interval(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let pool = store.pool().clone();
    let ttl = time::Duration::seconds(20);
    let key = store.save(user_state("alice"), &ttl).await.unwrap();
    // Touched 15 s ago, 5 s to live: with a 60 s throttle the session would die in use.
    set_row(
        &pool,
        TABLE,
        &key,
        "last_seen_at = UTC_TIMESTAMP(6) - INTERVAL 15 SECOND, \
         expires_at = UTC_TIMESTAMP(6) + INTERVAL 5 SECOND",
    )
    .await;
    assert!(store.load(&key).await.unwrap().is_some());
    store.update_ttl(&key, &ttl).await.unwrap();
    let left = expires_in_secs(&pool, TABLE, &key).await;
    assert!(left > 15.0, "touched at half the TTL: {left}");
    // And still throttled right after.
    let touched = row_of(&pool, TABLE, &key).await.unwrap();
    store.update_ttl(&key, &ttl).await.unwrap();
    assert_eq!(row_of(&pool, TABLE, &key).await.unwrap(), touched);
}

#[tokio::test]
async fn a_practically_infinite_ttl_is_stored() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    for ttl in [time::Duration::days(365 * 20_000), time::Duration::MAX] {
        let key = store.save(user_state("alice"), &ttl).await.unwrap();
        assert!(store.load(&key).await.unwrap().is_some());
        store
            .update(dup(&key), user_state("alice"), &ttl)
            .await
            .unwrap();
        assert!(store.load(&key).await.unwrap().is_some());
        let years = expires_in_secs(store.pool(), TABLE, &key).await / (366.0 * 86_400.0);
        assert!((99.0..=100.0).contains(&years), "{years}");
    }
}
