//! Per-user operations: listing, revoking, the plain `user_id` column.

use std::collections::HashSet;

use actix_session::storage::{SaveError, SessionKey, SessionStore, UpdateError};
use actix_session_mysql::{MySqlSessionStore, SessionHandle, StoreError};
use test_database::TestDatabase;

use crate::common::{count, expire, row_of, rows, set_row};
use crate::{dup, state, store, user_state, TABLE, TTL, USER_KEY};

#[tokio::test]
async fn per_user_list_and_revoke() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let alice: Vec<SessionKey> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(store.save(user_state("alice"), &TTL).await.unwrap());
        }
        v
    };
    let bob = store.save(user_state("bob"), &TTL).await.unwrap();
    let anon = store.save(state(&[("counter", "1")]), &TTL).await.unwrap();

    let listed = store.list_user_sessions("alice").await.unwrap();
    let handles: HashSet<String> = listed.iter().map(|r| r.handle.to_string()).collect();
    let expected: HashSet<String> = alice
        .iter()
        .map(|k| SessionHandle::of(k).to_string())
        .collect();
    assert_eq!(handles, expected);
    for record in &listed {
        assert_eq!(record.get::<String>(USER_KEY).as_deref(), Some("alice"));
        assert_eq!(record.get::<i64>("counter"), Some(1));
        assert!(record.created_at <= record.last_seen_at);
        assert!(record.last_seen_at < record.expires_at);
        // Handles survive a round trip through a form field.
        let parsed: SessionHandle = record.handle.to_string().parse().unwrap();
        assert_eq!(parsed, record.handle);
    }
    assert_eq!(store.list_user_sessions("bob").await.unwrap().len(), 1);
    assert!(store.list_user_sessions("nobody").await.unwrap().is_empty());

    // Most recently seen first.
    set_row(
        store.pool(),
        TABLE,
        &alice[1],
        "last_seen_at = UTC_TIMESTAMP(6) + INTERVAL 1 SECOND",
    )
    .await;
    let listed = store.list_user_sessions("alice").await.unwrap();
    assert_eq!(listed[0].handle, SessionHandle::of(&alice[1]));

    // Another user's handle has no effect.
    let before = rows(store.pool(), TABLE).await;
    assert!(!store
        .revoke_session("bob", &SessionHandle::of(&alice[0]))
        .await
        .unwrap());
    assert!(!store
        .revoke_session("alice", &SessionHandle::of(&bob))
        .await
        .unwrap());
    assert_eq!(rows(store.pool(), TABLE).await, before);

    // One's own handle revokes that session only.
    assert!(store
        .revoke_session("alice", &SessionHandle::of(&alice[0]))
        .await
        .unwrap());
    assert_eq!(store.load(&alice[0]).await.unwrap(), None);
    assert!(store.load(&alice[1]).await.unwrap().is_some());
    assert!(!store
        .revoke_session("alice", &SessionHandle::of(&alice[0]))
        .await
        .unwrap());

    // Sign out every other device.
    assert_eq!(
        store
            .revoke_other_sessions("alice", &alice[1])
            .await
            .unwrap(),
        1
    );
    assert!(store.load(&alice[1]).await.unwrap().is_some());
    assert_eq!(store.load(&alice[2]).await.unwrap(), None);
    assert!(store.load(&bob).await.unwrap().is_some());

    // Everything of one user, nobody else's.
    assert_eq!(store.revoke_user_sessions("bob").await.unwrap(), 1);
    assert_eq!(store.load(&bob).await.unwrap(), None);
    assert!(store.load(&alice[1]).await.unwrap().is_some());
    assert!(store.load(&anon).await.unwrap().is_some());
    assert_eq!(store.revoke_user_sessions("alice").await.unwrap(), 1);
    assert_eq!(
        count(store.pool(), TABLE).await,
        1,
        "only the anonymous row is left"
    );
}

#[tokio::test]
async fn expired_sessions_are_not_listed() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let live = store.save(user_state("alice"), &TTL).await.unwrap();
    let dead = store.save(user_state("alice"), &TTL).await.unwrap();
    expire(store.pool(), TABLE, &dead).await;
    let listed = store.list_user_sessions("alice").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].handle, SessionHandle::of(&live));
}

#[tokio::test]
async fn user_id_column_holds_the_plain_id() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = store.pool().clone();
    let user_column = |key: SessionKey| {
        let pool = pool.clone();
        async move { row_of(&pool, TABLE, &key).await.unwrap().1 }
    };

    let key = store.save(user_state("alice"), &TTL).await.unwrap();
    assert_eq!(user_column(dup(&key)).await.as_deref(), Some("alice"));
    store
        .update(dup(&key), user_state("bob"), &TTL)
        .await
        .unwrap();
    assert_eq!(user_column(dup(&key)).await.as_deref(), Some("bob"));
    store
        .update(dup(&key), state(&[("counter", "1")]), &TTL)
        .await
        .unwrap();
    assert_eq!(user_column(dup(&key)).await, None, "signed out: NULL");

    let numeric = store.save(state(&[(USER_KEY, "42")]), &TTL).await.unwrap();
    assert_eq!(user_column(numeric).await.as_deref(), Some("42"));
    let escaped = store
        .save(state(&[(USER_KEY, r#""a\"b""#)]), &TTL)
        .await
        .unwrap();
    assert_eq!(user_column(escaped).await.as_deref(), Some("a\"b"));

    // Another state key.
    let custom = MySqlSessionStore::builder(db.pool())
        .user_id_key("uid")
        .build()
        .await
        .unwrap();
    let key = custom
        .save(state(&[("uid", "\"carol\"")]), &TTL)
        .await
        .unwrap();
    assert_eq!(user_column(dup(&key)).await.as_deref(), Some("carol"));
    assert_eq!(custom.list_user_sessions("carol").await.unwrap().len(), 1);

    // Too long for the column: refused, nothing written.
    let before = count(&pool, TABLE).await;
    let long = "x".repeat(256);
    match store.save(user_state(&long), &TTL).await {
        Err(SaveError::Other(e)) => assert!(matches!(
            e.downcast_ref::<StoreError>(),
            Some(StoreError::UserIdTooLong { max: 255 })
        )),
        other => panic!("expected UserIdTooLong, got {other:?}"),
    }
    match store.update(dup(&key), user_state(&long), &TTL).await {
        Err(UpdateError::Other(_)) => {}
        other => panic!("expected an update error, got {other:?}"),
    }
    assert_eq!(count(&pool, TABLE).await, before);
}

#[tokio::test]
async fn trimming_keeps_the_most_recently_seen_live_sessions() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    // alice's five sessions, seen 5, 4, 3, 2 and 1 minutes ago, and an expired one seen now.
    let mut alice = Vec::new();
    for minutes_ago in (1..=5).rev() {
        let key = store.save(user_state("alice"), &TTL).await.unwrap();
        set_row(
            store.pool(),
            TABLE,
            &key,
            &format!("last_seen_at = UTC_TIMESTAMP(6) - INTERVAL {minutes_ago} MINUTE"),
        )
        .await;
        alice.push(key);
    }
    let expired = store.save(user_state("alice"), &TTL).await.unwrap();
    expire(store.pool(), TABLE, &expired).await;
    let bob = store.save(user_state("bob"), &TTL).await.unwrap();
    let anon = store.save(state(&[("counter", "1")]), &TTL).await.unwrap();

    // Room for more: nothing goes.
    assert_eq!(store.trim_user_sessions("alice", 6).await.unwrap(), 0);

    // Keep three: the two least recently seen and the expired row go.
    assert_eq!(store.trim_user_sessions("alice", 3).await.unwrap(), 3);
    assert!(row_of(store.pool(), TABLE, &expired).await.is_none());
    let left: HashSet<String> = store
        .list_user_sessions("alice")
        .await
        .unwrap()
        .iter()
        .map(|r| r.handle.to_string())
        .collect();
    let newest: HashSet<String> = alice[2..]
        .iter()
        .map(|k| SessionHandle::of(k).to_string())
        .collect();
    assert_eq!(left, newest);
    assert_eq!(store.load(&alice[0]).await.unwrap(), None);
    assert!(store.load(&alice[4]).await.unwrap().is_some());

    // Nobody else's sessions are touched; keep 0 empties the user.
    assert_eq!(store.trim_user_sessions("alice", 0).await.unwrap(), 3);
    assert!(store.load(&bob).await.unwrap().is_some());
    assert!(store.load(&anon).await.unwrap().is_some());
    assert_eq!(count(store.pool(), TABLE).await, 2);
    assert_eq!(store.trim_user_sessions("nobody", 0).await.unwrap(), 0);
}

/// Set when `key`'s row was created and last seen, each as an SQL interval ago.
async fn created_and_seen(store: &MySqlSessionStore, key: &SessionKey, created: &str, seen: &str) {
    let times = format!(
        "created_at = UTC_TIMESTAMP(6) - INTERVAL {created}, \
         last_seen_at = UTC_TIMESTAMP(6) - INTERVAL {seen}"
    );
    set_row(store.pool(), TABLE, key, &times).await;
}

#[tokio::test]
async fn a_session_created_a_moment_ago_outlives_an_older_one_touched_since() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    // An old device, created ten minutes ago and touched just now; a sign-in a second ago
    // (A), so the old device was seen after it; and a sign-in now (B), which trims to two.
    let old = store.save(user_state("alice"), &TTL).await.unwrap();
    created_and_seen(&store, &old, "10 MINUTE", "0 SECOND").await;
    let a = store.save(user_state("alice"), &TTL).await.unwrap();
    created_and_seen(&store, &a, "1 SECOND", "1 SECOND").await;
    let b = store.save(user_state("alice"), &TTL).await.unwrap();

    assert_eq!(store.trim_user_sessions("alice", 2).await.unwrap(), 1);
    assert!(
        store.load(&a).await.unwrap().is_some(),
        "A, a moment old, stays"
    );
    assert!(store.load(&b).await.unwrap().is_some());
    assert_eq!(
        store.load(&old).await.unwrap(),
        None,
        "the older device goes"
    );

    // Past the touch interval, creation no longer counts: the least recently seen goes.
    created_and_seen(&store, &a, "5 MINUTE", "2 MINUTE").await;
    created_and_seen(&store, &b, "5 MINUTE", "3 MINUTE").await;
    assert_eq!(store.trim_user_sessions("alice", 1).await.unwrap(), 1);
    assert!(
        store.load(&a).await.unwrap().is_some(),
        "seen more recently"
    );
    assert_eq!(store.load(&b).await.unwrap(), None);
}

#[tokio::test]
async fn revocations_inside_a_transaction_commit_and_roll_back_with_it() {
    use mysql_async::TxOpts;

    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let keep = store.save(user_state("alice"), &TTL).await.unwrap();
    let other = store.save(user_state("alice"), &TTL).await.unwrap();
    let bob = store.save(user_state("bob"), &TTL).await.unwrap();
    let before = rows(store.pool(), TABLE).await;
    let mut conn = store.pool().get_conn().await.unwrap();

    // Rolled back: nothing changes.
    let mut tx = conn.start_transaction(TxOpts::default()).await.unwrap();
    assert_eq!(
        store
            .revoke_user_sessions_in(&mut tx, "alice", Some(&keep))
            .await
            .unwrap(),
        1
    );
    assert!(store
        .revoke_session_in(&mut tx, "alice", &SessionHandle::of(&keep))
        .await
        .unwrap());
    tx.rollback().await.unwrap();
    assert_eq!(rows(store.pool(), TABLE).await, before);

    // Committed.
    let mut tx = conn.start_transaction(TxOpts::default()).await.unwrap();
    assert!(!store
        .revoke_session_in(&mut tx, "alice", &SessionHandle::of(&bob))
        .await
        .unwrap());
    assert_eq!(
        store
            .revoke_user_sessions_in(&mut tx, "alice", Some(&keep))
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
    assert!(store.load(&keep).await.unwrap().is_some());
    assert_eq!(store.load(&other).await.unwrap(), None);

    let mut tx = conn.start_transaction(TxOpts::default()).await.unwrap();
    assert_eq!(
        store
            .revoke_user_sessions_in(&mut tx, "alice", None)
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
    assert_eq!(store.load(&keep).await.unwrap(), None);
    assert!(store.load(&bob).await.unwrap().is_some());
}

#[tokio::test]
async fn live_sessions_are_counted_expired_ones_are_not() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    assert_eq!(store.count_live_sessions().await.unwrap(), 0);
    let alice = store.save(user_state("alice"), &TTL).await.unwrap();
    store.save(user_state("bob"), &TTL).await.unwrap();
    store.save(state(&[("counter", "1")]), &TTL).await.unwrap();
    assert_eq!(store.count_live_sessions().await.unwrap(), 3);
    expire(store.pool(), TABLE, &alice).await;
    assert_eq!(
        store.count_live_sessions().await.unwrap(),
        2,
        "an expired row is dead before cleanup removes it"
    );
}
