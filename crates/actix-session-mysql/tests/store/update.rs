//! `update`: writes a live row, never resurrects a dead one.

use actix_session::storage::SessionStore;
use actix_session_mysql::MySqlSessionStore;
use test_database::TestDatabase;

use crate::common::{count, expires_in_secs, rows, set_row};
use crate::{dup, state, store, user_state, TABLE, TTL, USER_KEY};

#[tokio::test]
async fn update_writes_a_live_row() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let key = store.save(user_state("alice"), &TTL).await.unwrap();
    set_row(
        store.pool(),
        TABLE,
        &key,
        "expires_at = UTC_TIMESTAMP(6) + INTERVAL 10 SECOND",
    )
    .await;
    let new_state = state(&[(USER_KEY, "\"alice\""), ("counter", "2")]);
    let returned = store
        .update(dup(&key), new_state.clone(), &TTL)
        .await
        .unwrap();
    assert_eq!(returned, key, "update keeps the key");
    assert_eq!(store.load(&key).await.unwrap(), Some(new_state));
    let left = expires_in_secs(store.pool(), TABLE, &key).await;
    assert!(left > 29.0 * 60.0, "expiry extended to the TTL: {left}");
    assert_eq!(count(store.pool(), TABLE).await, 1);
}

#[tokio::test]
async fn update_after_delete_does_not_resurrect() {
    let db = TestDatabase::create().await;
    // Both with the driver's default (changed-rows counts) and with CLIENT_FOUND_ROWS, which a
    // URL-built store turns on.
    let by_pool = store(&db).await;
    let by_url = MySqlSessionStore::builder_from_url(db.url())
        .build()
        .await
        .unwrap();
    for store in [by_pool, by_url] {
        let key = store.save(user_state("alice"), &TTL).await.unwrap();
        store.delete(&key).await.unwrap();
        let returned = store
            .update(dup(&key), user_state("mallory"), &TTL)
            .await
            .unwrap();
        assert_eq!(returned, key, "the dead key is returned, no fresh one");
        assert_eq!(store.load(&key).await.unwrap(), None);
        assert_eq!(count(store.pool(), TABLE).await, 0, "no row was written");
    }
}

#[tokio::test]
async fn update_of_an_expired_row_changes_nothing() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let key = store.save(user_state("alice"), &TTL).await.unwrap();
    set_row(
        store.pool(),
        TABLE,
        &key,
        "expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
    )
    .await;
    let before = rows(store.pool(), TABLE).await;
    store
        .update(dup(&key), user_state("mallory"), &TTL)
        .await
        .unwrap();
    assert_eq!(
        rows(store.pool(), TABLE).await,
        before,
        "still expired, untouched"
    );
    assert_eq!(store.load(&key).await.unwrap(), None);
}
