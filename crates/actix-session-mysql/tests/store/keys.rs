//! Session keys: collisions on `save`, and what is stored instead of the key.

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_session::storage::{SaveError, SessionKey, SessionStore};
use actix_session_mysql::{MySqlSessionStore, SessionHandle, StoreError};
use mysql_async::prelude::Queryable;
use test_database::TestDatabase;

use crate::common::{count, digest, row_of, rows};
use crate::{random_key, store, user_state, TABLE, TTL};

fn fixed_key() -> SessionKey {
    SessionKey::try_from("F".repeat(64)).unwrap()
}

static FIXED_FIRST_CALLS: AtomicUsize = AtomicUsize::new(0);

/// The fixed key on the first call, random keys afterwards.
fn fixed_then_random() -> SessionKey {
    if FIXED_FIRST_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        fixed_key()
    } else {
        random_key()
    }
}

#[tokio::test]
async fn colliding_key_gets_a_new_key_and_never_overwrites() {
    let db = TestDatabase::create().await;
    let first = MySqlSessionStore::builder(db.pool())
        .key_generator_for_tests(fixed_key)
        .build()
        .await
        .unwrap();
    let victim = user_state("alice");
    let key = first.save(victim.clone(), &TTL).await.unwrap();
    assert_eq!(key, fixed_key());
    let before = row_of(first.pool(), TABLE, &key).await.unwrap();

    // The second store's first draw collides with the row above; it must draw again.
    let second = MySqlSessionStore::builder(db.pool())
        .key_generator_for_tests(fixed_then_random)
        .build()
        .await
        .unwrap();
    let attacker = user_state("mallory");
    let new_key = second.save(attacker.clone(), &TTL).await.unwrap();
    assert_ne!(new_key, fixed_key());
    assert!(
        FIXED_FIRST_CALLS.load(Ordering::SeqCst) >= 2,
        "a second key was drawn"
    );

    assert_eq!(row_of(first.pool(), TABLE, &key).await.unwrap(), before);
    assert_eq!(first.load(&key).await.unwrap(), Some(victim));
    assert_eq!(second.load(&new_key).await.unwrap(), Some(attacker));
    assert_eq!(count(first.pool(), TABLE).await, 2);
}

#[tokio::test]
async fn a_key_source_that_always_collides_gives_up() {
    let db = TestDatabase::create().await;
    let store = MySqlSessionStore::builder(db.pool())
        .key_generator_for_tests(fixed_key)
        .build()
        .await
        .unwrap();
    let key = store.save(user_state("alice"), &TTL).await.unwrap();
    let before = rows(store.pool(), TABLE).await;
    match store.save(user_state("mallory"), &TTL).await {
        Err(SaveError::Other(e)) => assert!(
            matches!(
                e.downcast_ref::<StoreError>(),
                Some(StoreError::KeySpaceExhausted { .. })
            ),
            "{e:?}"
        ),
        other => panic!("expected KeySpaceExhausted, got {other:?}"),
    }
    assert_eq!(rows(store.pool(), TABLE).await, before);
    assert_eq!(store.load(&key).await.unwrap(), Some(user_state("alice")));
}

#[tokio::test]
async fn stored_id_is_sha256_of_the_key_and_the_key_is_nowhere() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let key = store.save(user_state("alice"), &TTL).await.unwrap();
    assert_eq!(key.as_ref().len(), 64);
    assert!(key.as_ref().bytes().all(|b| b.is_ascii_alphanumeric()));

    let mut conn = store.pool().get_conn().await.unwrap();
    let ids: Vec<Vec<u8>> = conn.query("SELECT id FROM sessions").await.unwrap();
    assert_eq!(ids, vec![digest(&key).to_vec()]);
    assert_eq!(
        SessionHandle::of(&key).to_string(),
        hex::encode(digest(&key))
    );

    // Every column, whatever the schema grows into, as text and as hex.
    let columns: Vec<String> = conn
        .exec(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'sessions'",
            (),
        )
        .await
        .unwrap();
    assert!(columns.len() >= 6, "{columns:?}");
    let as_text: Vec<String> = columns
        .iter()
        .map(|c| format!("IFNULL(CAST(`{c}` AS CHAR), ''), IFNULL(HEX(`{c}`), '')"))
        .collect();
    let dump: Vec<String> = conn
        .query(format!(
            "SELECT CONCAT_WS('|', {}) FROM sessions",
            as_text.join(", ")
        ))
        .await
        .unwrap();
    assert_eq!(dump.len(), 1);
    let hex_key = hex::encode_upper(key.as_ref());
    for text in &dump {
        assert!(
            text.contains("alice"),
            "the dump really holds the row: {text}"
        );
        assert!(!text.contains(key.as_ref()), "the raw key is stored");
        assert!(
            !text.to_uppercase().contains(&hex_key),
            "the hex key is stored"
        );
    }
}
