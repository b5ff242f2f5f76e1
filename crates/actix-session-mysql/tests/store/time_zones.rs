//! The connection's `time_zone` changes nothing.

use actix_session::storage::SessionStore;
use actix_session_mysql::MySqlSessionStore;
use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, Pool};
use test_database::TestDatabase;

use crate::common::{count, expires_in_secs, set_row};
use crate::{user_state, TABLE};

async fn time_zone_independence(tz: &str) {
    let db = TestDatabase::create().await;
    // `init` runs on a new connection only; the pool resets a connection (COM_RESET_CONNECTION)
    // when it is returned, which restores the server's zone, and then runs `setup`. Both, so
    // that every statement of the store really runs in `tz`.
    let set_zone = vec![format!("SET time_zone = '{tz}'")];
    let zoned = Pool::new(
        OptsBuilder::from_opts(db.opts())
            .init(set_zone.clone())
            .setup(set_zone),
    );
    let store = MySqlSessionStore::builder(zoned.clone())
        .build()
        .await
        .unwrap();
    let admin = db.pool();
    let assert_zone = || {
        let zoned = zoned.clone();
        async move {
            let mut conn = zoned.get_conn().await.unwrap();
            let zone: String = conn
                .query_first("SELECT @@session.time_zone")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(zone, tz, "the store's connections run in {tz}");
        }
    };
    assert_zone().await;

    let ttl = time::Duration::seconds(60);
    let key = store.save(user_state("alice"), &ttl).await.unwrap();
    let left = expires_in_secs(&admin, TABLE, &key).await;
    assert!((50.0..=60.0).contains(&left), "{tz}: expires in {left} s");
    assert!(store.load(&key).await.unwrap().is_some());

    // The times a caller reads back are UTC.
    let records = store.list_user_sessions("alice").await.unwrap();
    assert_eq!(records.len(), 1);
    let now = time::OffsetDateTime::now_utc();
    for at in [records[0].created_at, records[0].last_seen_at] {
        assert!((now - at).abs() < time::Duration::seconds(30), "{tz}: {at}");
    }
    assert!((records[0].expires_at - now - ttl).abs() < time::Duration::seconds(30));

    // Live in UTC terms: must load whatever `NOW()` says in this zone.
    set_row(
        &admin,
        TABLE,
        &key,
        "expires_at = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR",
    )
    .await;
    assert!(store.load(&key).await.unwrap().is_some(), "{tz}: live row");

    // A due touch extends from UTC now.
    set_row(
        &admin,
        TABLE,
        &key,
        "last_seen_at = UTC_TIMESTAMP(6) - INTERVAL 5 MINUTE",
    )
    .await;
    assert!(store.load(&key).await.unwrap().is_some());
    store.update_ttl(&key, &ttl).await.unwrap();
    let left = expires_in_secs(&admin, TABLE, &key).await;
    assert!(
        (50.0..=60.0).contains(&left),
        "{tz}: touched, expires in {left} s"
    );

    // Expired in UTC terms: dead, and purged.
    let live = store.save(user_state("bob"), &ttl).await.unwrap();
    set_row(
        &admin,
        TABLE,
        &key,
        "expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 HOUR",
    )
    .await;
    assert_eq!(store.load(&key).await.unwrap(), None, "{tz}: expired row");
    assert_eq!(store.purge_expired().await.unwrap(), 1);
    assert!(store.load(&live).await.unwrap().is_some());
    assert_eq!(count(&admin, TABLE).await, 1);
    // Still in `tz` after the pool recycled its connections many times.
    assert_zone().await;
}

#[tokio::test]
async fn correct_with_connection_time_zone_plus_nine() {
    time_zone_independence("+09:00").await;
}

#[tokio::test]
async fn correct_with_connection_time_zone_minus_five() {
    time_zone_independence("-05:00").await;
}
