//! Many concurrent requests on one pool.

use std::collections::HashSet;

use actix_session::storage::SessionStore;
use test_database::TestDatabase;

use crate::common::count;
use crate::{dup, store, user_state, TABLE, TTL, USER_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_loads_and_updates() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let mut keys = Vec::new();
    for i in 0..10 {
        keys.push(
            store
                .save(user_state(&format!("user{i}")), &TTL)
                .await
                .unwrap(),
        );
    }
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..100_usize {
        let store = store.clone();
        let key = dup(&keys[n % 10]);
        let user = format!("user{}", n % 10);
        tasks.spawn(async move {
            let loaded = store.load(&key).await?.ok_or_else(|| anyhow_msg("lost"))?;
            if loaded.get(USER_KEY) != Some(&format!("\"{user}\"")) {
                return Err(anyhow_msg("wrong state"));
            }
            let mut next = loaded;
            next.insert("counter".to_owned(), n.to_string());
            let returned = store.update(dup(&key), next, &TTL).await?;
            if returned != key {
                return Err(anyhow_msg("key changed"));
            }
            store.update_ttl(&key, &TTL).await?;
            Ok::<usize, anyhow::Error>(n)
        });
    }
    let mut done = HashSet::new();
    while let Some(joined) = tasks.join_next().await {
        done.insert(joined.unwrap().unwrap());
    }
    assert_eq!(done.len(), 100);
    assert_eq!(count(store.pool(), TABLE).await, 10);
    for (i, key) in keys.iter().enumerate() {
        let state = store.load(key).await.unwrap().unwrap();
        let counter: usize = state["counter"].parse().unwrap();
        assert_eq!(
            counter % 10,
            i,
            "the last write for this session is one of its own"
        );
        assert_eq!(state[USER_KEY], format!("\"user{i}\""));
    }
}

fn anyhow_msg(msg: &'static str) -> anyhow::Error {
    anyhow::Error::msg(msg)
}
