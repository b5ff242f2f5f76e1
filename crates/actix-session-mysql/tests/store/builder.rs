//! Builder validation: table names, zero settings, URLs, create-table off.

use std::time::Duration;

use actix_session::storage::{LoadError, SessionKey, SessionStore};
use actix_session_mysql::{BuildError, MySqlSessionStore, StoreError};
use mysql_async::prelude::Queryable;
use test_database::TestDatabase;

use crate::common::count;
use crate::{state, store_without_cache, TTL};

#[tokio::test]
async fn bad_table_names_are_refused() {
    let db = TestDatabase::create().await;
    let long = "x".repeat(65);
    for bad in [
        "bad-name",
        "x; DROP TABLE y",
        "",
        "1abc",
        "a`b",
        "db.sessions",
        long.as_str(),
    ] {
        match MySqlSessionStore::builder(db.pool())
            .table_name(bad)
            .build()
            .await
        {
            Err(BuildError::InvalidTableName(name)) => assert_eq!(name, bad),
            other => panic!("{bad:?} should be refused, got {other:?}"),
        }
    }
    let mut conn = db.pool().get_conn().await.unwrap();
    let tables: Vec<String> = conn.query("SHOW TABLES").await.unwrap();
    assert!(tables.is_empty(), "nothing was created: {tables:?}");

    // A good custom name works, and building twice is harmless.
    for _ in 0..2 {
        let store = MySqlSessionStore::builder(db.pool())
            .table_name("app_sessions_2")
            .build()
            .await
            .unwrap();
        assert_eq!(store.table_name(), "app_sessions_2");
        let key = store.save(state(&[("a", "1")]), &TTL).await.unwrap();
        assert!(store.load(&key).await.unwrap().is_some());
    }
    assert_eq!(count(&db.pool(), "app_sessions_2").await, 2);
}

#[tokio::test]
async fn zero_settings_and_bad_urls_are_refused() {
    let db = TestDatabase::create().await;
    let builders = [
        MySqlSessionStore::builder(db.pool()).touch_interval(Duration::ZERO),
        MySqlSessionStore::builder(db.pool()).cleanup_interval(Duration::ZERO),
        MySqlSessionStore::builder(db.pool()).cleanup_batch_size(0),
        MySqlSessionStore::builder(db.pool()).operation_timeout(Duration::ZERO),
    ];
    for builder in builders {
        assert!(matches!(builder.build().await, Err(BuildError::Zero(_))));
    }
    assert!(matches!(
        MySqlSessionStore::builder_from_url("postgres://nope")
            .build()
            .await,
        Err(BuildError::InvalidUrl(_))
    ));
}

#[tokio::test]
async fn without_create_table_the_table_is_not_created() {
    let db = TestDatabase::create().await;
    let store = store_without_cache(&db).await;
    let key = SessionKey::try_from("k".to_owned()).unwrap();
    // The table is missing: a server error, not "unavailable".
    match store.load(&key).await {
        Err(LoadError::Other(e)) => {
            let e = e.downcast_ref::<StoreError>().unwrap();
            assert!(!e.is_unavailable(), "{e:?}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    store.create_table().await.unwrap();
    assert_eq!(store.load(&key).await.unwrap(), None);
}
