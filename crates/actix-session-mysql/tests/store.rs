//! The store's own conformance suite, against a real MySQL/MariaDB: each test gets a
//! throwaway database (see the `test-database` crate) and asserts on what is really in the
//! table, not on timing.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_session_mysql::{BuildError, MySqlSessionStore, SessionHandle, StoreError};
use common::{count, digest, exec, expires_in_secs, row_of, rows, set_row};
use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, Pool};
use rand::distr::{Alphanumeric, SampleString};
use test_database::TestDatabase;

const TABLE: &str = "sessions";
const TTL: time::Duration = time::Duration::minutes(30);
const USER_KEY: &str = "actix_identity.user_id";

fn state(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A state as actix-identity leaves it: the user id JSON-encoded under its key.
fn user_state(user: &str) -> HashMap<String, String> {
    state(&[(USER_KEY, &format!("\"{user}\"")), ("counter", "1")])
}

/// `SessionKey` is not `Clone`.
fn dup(key: &SessionKey) -> SessionKey {
    SessionKey::try_from(key.as_ref().to_owned()).unwrap()
}

async fn store(db: &TestDatabase) -> MySqlSessionStore {
    MySqlSessionStore::builder(db.pool()).build().await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// load / save basics
// ---------------------------------------------------------------------------------------------

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
    set_row(
        store.pool(),
        TABLE,
        &key,
        "expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
    )
    .await;
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

// ---------------------------------------------------------------------------------------------
// Key collisions
// ---------------------------------------------------------------------------------------------

fn fixed_key() -> SessionKey {
    SessionKey::try_from("F".repeat(64)).unwrap()
}

fn random_key() -> SessionKey {
    SessionKey::try_from(Alphanumeric.sample_string(&mut rand::rng(), 64)).unwrap()
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

// ---------------------------------------------------------------------------------------------
// update
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// update_ttl throttle
// ---------------------------------------------------------------------------------------------

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

async fn store_without_cache(db: &TestDatabase) -> MySqlSessionStore {
    MySqlSessionStore::builder(db.pool())
        .create_table_if_missing(false)
        .build()
        .await
        .unwrap()
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

// ---------------------------------------------------------------------------------------------
// Expired-row cleanup
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn purge_expired_deletes_only_expired_rows_in_batches() {
    let db = TestDatabase::create().await;
    let store = MySqlSessionStore::builder(db.pool())
        .cleanup_batch_size(3)
        .build()
        .await
        .unwrap();
    let pool = store.pool().clone();
    let mut expired = Vec::new();
    for i in 0..10 {
        let key = store
            .save(state(&[("n", &i.to_string())]), &TTL)
            .await
            .unwrap();
        // Oldest first: i = 0 expired 10 minutes ago.
        let set = format!("expires_at = UTC_TIMESTAMP(6) - INTERVAL {} MINUTE", 10 - i);
        set_row(&pool, TABLE, &key, &set).await;
        expired.push(key);
    }
    let mut live = Vec::new();
    for i in 0..5 {
        live.push(
            store
                .save(state(&[("live", &i.to_string())]), &TTL)
                .await
                .unwrap(),
        );
    }
    // One almost-expired live row: a second still to go.
    set_row(
        &pool,
        TABLE,
        &live[0],
        "expires_at = UTC_TIMESTAMP(6) + INTERVAL 1 MINUTE",
    )
    .await;

    // Record, per deleted row, the start time of the statement that deleted it: `NOW(6)` is
    // constant within a statement, so each distinct value is one DELETE.
    exec(
        &pool,
        "CREATE TABLE purge_log (expires_at DATETIME(6) NOT NULL, stmt_at DATETIME(6) NOT NULL)",
        (),
    )
    .await;
    exec(
        &pool,
        "CREATE TRIGGER sessions_purge_log AFTER DELETE ON sessions FOR EACH ROW \
         INSERT INTO purge_log VALUES (OLD.expires_at, NOW(6))",
        (),
    )
    .await;

    assert_eq!(store.purge_expired().await.unwrap(), 10);
    assert_eq!(count(&pool, TABLE).await, 5);
    for key in &expired {
        assert!(row_of(&pool, TABLE, key).await.is_none());
    }
    for key in &live {
        assert!(store.load(key).await.unwrap().is_some());
    }

    let mut conn = pool.get_conn().await.unwrap();
    let batches: Vec<(u64, String, String)> = conn
        .query(
            "SELECT COUNT(*), CAST(MIN(expires_at) AS CHAR), CAST(MAX(expires_at) AS CHAR) \
             FROM purge_log GROUP BY stmt_at ORDER BY stmt_at",
        )
        .await
        .unwrap();
    let sizes: Vec<u64> = batches.iter().map(|b| b.0).collect();
    assert_eq!(sizes, [3, 3, 3, 1], "batches of 3, oldest first");
    for pair in batches.windows(2) {
        assert!(pair[0].2 < pair[1].1, "each batch is older than the next");
    }
    drop(conn);

    assert_eq!(
        store.purge_expired().await.unwrap(),
        0,
        "nothing left to do"
    );
}

#[tokio::test]
async fn cleanup_task_deletes_expired_rows_and_stops() {
    let db = TestDatabase::create().await;
    let store = MySqlSessionStore::builder_from_url(db.url())
        .cleanup_interval(Duration::from_millis(100))
        .cleanup_batch_size(2)
        .build()
        .await
        .unwrap();
    let pool = store.pool().clone();
    let mut keys = Vec::new();
    for i in 0..5 {
        keys.push(
            store
                .save(state(&[("n", &i.to_string())]), &TTL)
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        store.load(&keys[4]).await.unwrap(),
        Some(state(&[("n", "4")]))
    );
    for key in &keys[..3] {
        set_row(
            &pool,
            TABLE,
            key,
            "expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
        )
        .await;
    }

    let task = store.spawn_cleanup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&pool, TABLE).await != 2 {
        assert!(Instant::now() < deadline, "cleanup did not run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for key in &keys[3..] {
        assert!(store.load(key).await.unwrap().is_some());
    }
    tokio::time::timeout(Duration::from_secs(5), task.stop())
        .await
        .expect("stop() returns promptly");

    // Stopped means stopped: a newly expired row stays until the next purge.
    set_row(
        &pool,
        TABLE,
        &keys[3],
        "expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&pool, TABLE).await, 2);
    assert_eq!(store.purge_expired().await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Time zones
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Per-user operations
// ---------------------------------------------------------------------------------------------

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
    set_row(
        store.pool(),
        TABLE,
        &dead,
        "expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
    )
    .await;
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

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Keys at rest
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Builder validation
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Outages
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Edge TTLs
// ---------------------------------------------------------------------------------------------

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
