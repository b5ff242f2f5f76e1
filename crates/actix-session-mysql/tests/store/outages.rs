//! Outages: a closed port and a silent server give errors in bounded time, never panics.

use std::time::{Duration, Instant};

use actix_session::storage::{LoadError, SaveError, SessionStore, UpdateError};
use actix_session_mysql::{BuildError, MySqlSessionStore, SessionHandle, StoreError};
use mysql_async::{OptsBuilder, Pool};

use crate::{dup, random_key, user_state, TTL};

const OP_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs every operation against `store` and checks each fails, as a value, in bounded time.
async fn every_operation_fails(store: &MySqlSessionStore, expect_timeout: bool) {
    let key = random_key();
    let check = |op: &str, started: Instant, err: Option<&StoreError>| {
        let took = started.elapsed();
        assert!(
            took < OP_TIMEOUT + Duration::from_secs(2),
            "{op} took {took:?}"
        );
        if let Some(err) = err {
            assert!(err.is_unavailable(), "{op}: {err:?}");
            if expect_timeout {
                assert!(matches!(err, StoreError::Timeout { .. }), "{op}: {err:?}");
            }
        }
    };
    let t = Instant::now();
    match store.load(&key).await {
        Err(LoadError::Other(e)) => check("load", t, e.downcast_ref()),
        other => panic!("load: {other:?}"),
    }
    let t = Instant::now();
    match store.save(user_state("alice"), &TTL).await {
        Err(SaveError::Other(e)) => check("save", t, e.downcast_ref()),
        other => panic!("save: {other:?}"),
    }
    let t = Instant::now();
    match store.update(dup(&key), user_state("alice"), &TTL).await {
        Err(UpdateError::Other(e)) => check("update", t, e.downcast_ref()),
        other => panic!("update: {other:?}"),
    }
    let t = Instant::now();
    let e = store.update_ttl(&key, &TTL).await.unwrap_err();
    check("update_ttl", t, e.downcast_ref());
    let t = Instant::now();
    let e = store.delete(&key).await.unwrap_err();
    check("delete", t, e.downcast_ref());
    let t = Instant::now();
    let e = store.list_user_sessions("alice").await.unwrap_err();
    check("list_user_sessions", t, Some(&e));
    let t = Instant::now();
    let e = store
        .revoke_session("alice", &SessionHandle::of(&key))
        .await
        .unwrap_err();
    check("revoke_session", t, Some(&e));
    let t = Instant::now();
    let e = store
        .revoke_other_sessions("alice", &key)
        .await
        .unwrap_err();
    check("revoke_other_sessions", t, Some(&e));
    let t = Instant::now();
    let e = store.revoke_user_sessions("alice").await.unwrap_err();
    check("revoke_user_sessions", t, Some(&e));
    let t = Instant::now();
    let e = store.purge_expired().await.unwrap_err();
    check("purge_expired", t, Some(&e));
    let t = Instant::now();
    let e = store.create_table().await.unwrap_err();
    check("create_table", t, Some(&e));
}

#[tokio::test]
async fn closed_port_gives_errors_not_panics() {
    let opts = OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(1)
        .user(Some("root"));
    let store = MySqlSessionStore::builder(Pool::new(opts.clone()))
        .create_table_if_missing(false)
        .operation_timeout(OP_TIMEOUT)
        .build()
        .await
        .unwrap();
    every_operation_fails(&store, false).await;

    let t = Instant::now();
    let built = MySqlSessionStore::builder(Pool::new(opts))
        .operation_timeout(OP_TIMEOUT)
        .build()
        .await;
    assert!(
        matches!(built, Err(BuildError::CreateTable(_))),
        "{built:?}"
    );
    assert!(t.elapsed() < OP_TIMEOUT + Duration::from_secs(2));
}

#[tokio::test]
async fn silent_server_times_out() {
    // Accepts TCP connections (the kernel does, from the backlog) but never speaks MySQL.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let opts = OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("root"));
    let store = MySqlSessionStore::builder(Pool::new(opts))
        .create_table_if_missing(false)
        .operation_timeout(OP_TIMEOUT)
        .build()
        .await
        .unwrap();
    every_operation_fails(&store, true).await;
    drop(listener);
}
