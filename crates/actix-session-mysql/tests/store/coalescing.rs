//! Loads asked for at the same moment share one statement (`coalesce_loads`, on by default),
//! and each still gets exactly its own row.
//!
//! The store runs on a one-connection pool, so that connection's own `Com_stmt_execute`
//! counts every statement the loads sent. `#[tokio::test]` is a current-thread runtime, as an
//! actix-web worker is: tasks spawned together are polled in one pass.

use std::collections::HashMap;

use actix_session::storage::{SessionKey, SessionStore};
use actix_session_mysql::MySqlSessionStore;
use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, Pool, PoolConstraints, PoolOpts};
use test_database::TestDatabase;

use crate::common::expire;
use crate::{dup, random_key, user_state, TABLE, TTL, USER_KEY};

/// A store on a one-connection pool, coalescing loads or not.
async fn store_on_one_connection(db: &TestDatabase, coalesce: bool) -> MySqlSessionStore {
    // No reset on return to the pool: it would zero the session's counters.
    let pool = PoolOpts::default()
        .with_constraints(PoolConstraints::new(1, 1).unwrap())
        .with_reset_connection(false);
    MySqlSessionStore::builder(Pool::new(OptsBuilder::from_opts(db.opts()).pool_opts(pool)))
        .coalesce_loads(coalesce)
        .build()
        .await
        .unwrap()
}

/// Statements executed so far on the pool's one connection.
async fn executed(pool: &Pool) -> u64 {
    let mut conn = pool.get_conn().await.unwrap();
    let row: Option<(String, u64)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Com_stmt_execute'")
        .await
        .unwrap();
    row.unwrap().1
}

/// Ten signed-in sessions (each loaded twice), one expired, one never saved: 22 loads at once.
/// Returns how many statements they cost.
async fn load_all_at_once(store: &MySqlSessionStore) -> u64 {
    let mut keys: Vec<(SessionKey, Option<String>)> = Vec::new();
    for i in 0..10 {
        let key = store
            .save(user_state(&format!("user{i}")), &TTL)
            .await
            .unwrap();
        keys.push((dup(&key), Some(format!("\"user{i}\""))));
        keys.push((key, Some(format!("\"user{i}\""))));
    }
    let expired = store.save(user_state("gone"), &TTL).await.unwrap();
    expire(store.pool(), TABLE, &expired).await;
    keys.push((expired, None));
    keys.push((random_key(), None));

    let before = executed(store.pool()).await;
    let mut loads = tokio::task::JoinSet::new();
    for (n, (key, _)) in keys.iter().enumerate() {
        let (store, key) = (store.clone(), dup(key));
        loads.spawn(async move { (n, store.load(&key).await) });
    }
    let mut answers: HashMap<usize, Option<String>> = HashMap::new();
    while let Some(joined) = loads.join_next().await {
        let (n, loaded) = joined.unwrap();
        let state = loaded.unwrap();
        answers.insert(n, state.and_then(|s| s.get(USER_KEY).cloned()));
    }
    for (n, (_, expected)) in keys.iter().enumerate() {
        assert_eq!(&answers[&n], expected, "load {n} got its own session");
    }
    executed(store.pool()).await - before
}

#[tokio::test]
async fn concurrent_loads_share_statements_and_each_gets_its_own_row() {
    let db = TestDatabase::create().await;
    let store = store_on_one_connection(&db, true).await;
    // 22 loads: a batch of 16 and one of 6.
    assert_eq!(load_all_at_once(&store).await, 2);
}

#[tokio::test]
async fn without_coalescing_each_load_is_a_statement() {
    let db = TestDatabase::create().await;
    let store = store_on_one_connection(&db, false).await;
    assert_eq!(load_all_at_once(&store).await, 22);
}

#[tokio::test]
async fn a_failed_batch_fails_each_of_its_loads() {
    let db = TestDatabase::create().await;
    let store = store_on_one_connection(&db, true).await;
    let key = store.save(user_state("alice"), &TTL).await.unwrap();
    store
        .pool()
        .get_conn()
        .await
        .unwrap()
        .query_drop(format!("DROP TABLE {TABLE}"))
        .await
        .unwrap();
    let mut loads = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (store, key) = (store.clone(), dup(&key));
        loads.spawn(async move { store.load(&key).await });
    }
    let mut failed = 0;
    while let Some(joined) = loads.join_next().await {
        let error = joined.unwrap().expect_err("the table is gone");
        let cause = format!("{error:?}");
        assert!(
            cause.contains("load failed"),
            "the operation is named: {cause}"
        );
        failed += 1;
    }
    assert_eq!(failed, 5);
}
