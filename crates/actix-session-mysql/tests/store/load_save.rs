//! load, save and delete: round trips, TTL storage, corrupt state, expiry in SQL.

use actix_session::storage::{LoadError, SessionKey, SessionStore};
use mysql_async::prelude::Queryable;
use test_database::TestDatabase;

use crate::common::{count, digest, expire, row_of, set_row};
use actix_session_mysql::MySqlSessionStore;

use crate::{dup, state, store, TABLE, TTL};

#[tokio::test]
async fn missing_key_loads_none() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let key = SessionKey::try_from("no-such-session".to_owned()).unwrap();
    assert_eq!(store.load(&key).await.unwrap(), None);
    assert_eq!(count(store.pool(), TABLE).await, 0);
}

#[tokio::test]
async fn save_then_load_round_trips() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let saved = state(&[("counter", "100"), ("name", "\"ünïcødé ✓\"")]);
    let key = store.save(saved.clone(), &TTL).await.unwrap();
    assert_eq!(store.load(&key).await.unwrap(), Some(saved));
    assert_eq!(count(store.pool(), TABLE).await, 1);
}

#[tokio::test]
async fn ttl_is_stored_exactly_and_never_below_one_second() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = store.pool().clone();
    // `expires_at - created_at` is computed within one statement: exact, not a timing guess.
    let span = |key: SessionKey| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.get_conn().await.unwrap();
            let us: i64 = conn
                .exec_first(
                    "SELECT TIMESTAMPDIFF(MICROSECOND, created_at, expires_at) FROM sessions \
                     WHERE id = ?",
                    (digest(&key).to_vec(),),
                )
                .await
                .unwrap()
                .unwrap();
            us
        }
    };
    let key = store
        .save(state(&[("a", "1")]), &time::Duration::seconds(90))
        .await
        .unwrap();
    assert_eq!(span(key).await, 90_000_000);
    let key = store
        .save(state(&[("a", "1")]), &time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(span(key).await, 1_000_000, "a zero TTL is clamped to 1 s");
}

#[tokio::test]
async fn corrupt_state_is_a_deserialization_error() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let key = store.save(state(&[("a", "1")]), &TTL).await.unwrap();
    for corrupt in ["{not json", "", "[1,2,3]", r#"{"a": 1}"#] {
        set_row(store.pool(), TABLE, &key, &format!("data = '{corrupt}'")).await;
        match store.load(&key).await {
            Err(LoadError::Deserialization(_)) => {}
            other => panic!("{corrupt:?}: expected a deserialization error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn both_state_formats_are_read_and_compact_state_writes_the_second() {
    let db = TestDatabase::create().await;
    let plain = store(&db).await;
    let compact = MySqlSessionStore::builder(plain.pool().clone())
        .table_name(TABLE)
        .compact_state(true)
        .build()
        .await
        .unwrap();
    let s = state(&[("a", "1"), ("b", r#"{"x":[true]}"#)]);
    let data = |key: SessionKey| {
        let pool = plain.pool().clone();
        async move {
            let mut conn = pool.get_conn().await.unwrap();
            let row: Option<String> = conn
                .exec_first(
                    format!("SELECT data FROM `{TABLE}` WHERE id = ?"),
                    (digest(&key).to_vec(),),
                )
                .await
                .unwrap();
            row.unwrap()
        }
    };
    // Written by default in the first format, which every version reads.
    let key = plain.save(s.clone(), &TTL).await.unwrap();
    assert!(data(dup(&key)).await.starts_with('{'));
    assert_eq!(compact.load(&key).await.unwrap(), Some(s.clone()));
    // Rewritten in format 2 by a compact store, and still read by both.
    let key = compact.update(key, s.clone(), &TTL).await.unwrap();
    let stored = data(dup(&key)).await;
    assert!(stored.starts_with("[2,{"), "{stored}");
    assert!(stored.contains(r#""b":{"x":[true]}"#), "{stored}");
    assert_eq!(compact.load(&key).await.unwrap(), Some(s.clone()));
    assert_eq!(plain.load(&key).await.unwrap(), Some(s));
}

#[tokio::test]
async fn expired_row_is_not_loaded_before_cleanup() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let key = store.save(state(&[("a", "1")]), &TTL).await.unwrap();
    set_row(
        store.pool(),
        TABLE,
        &key,
        "expires_at = UTC_TIMESTAMP(6) + INTERVAL 5 SECOND",
    )
    .await;
    assert!(store.load(&key).await.unwrap().is_some(), "still live");
    expire(store.pool(), TABLE, &key).await;
    assert_eq!(store.load(&key).await.unwrap(), None);
    assert_eq!(
        count(store.pool(), TABLE).await,
        1,
        "the row is still there"
    );
}

#[tokio::test]
async fn delete_removes_the_row() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let key = store.save(state(&[("a", "1")]), &TTL).await.unwrap();
    let other = store.save(state(&[("b", "2")]), &TTL).await.unwrap();
    store.delete(&key).await.unwrap();
    assert_eq!(store.load(&key).await.unwrap(), None);
    assert!(row_of(store.pool(), TABLE, &key).await.is_none());
    assert!(store.load(&other).await.unwrap().is_some());
    // Deleting again is not an error.
    store.delete(&key).await.unwrap();
}
