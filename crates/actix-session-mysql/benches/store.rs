//! Benchmarks against a real MySQL/MariaDB at `TEST_DATABASE_URL` (default
//! `mysql://root@127.0.0.1:3306`), each in a throwaway database.
//!
//! `cargo bench -p actix-session-mysql` — about five minutes, most of it filling the
//! million-row table.

#![allow(clippy::unwrap_used, missing_debug_implementations)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_session::storage::{SessionKey, SessionStore};
use actix_session_mysql::MySqlSessionStore;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mysql_async::prelude::Queryable;
use test_database::TestDatabase;
use tokio::runtime::Runtime;

const TTL: time::Duration = time::Duration::minutes(30);

fn state(counter: u64) -> HashMap<String, String> {
    HashMap::from([
        ("actix_identity.user_id".to_owned(), "\"alice\"".to_owned()),
        (
            "actix_identity.logged_in_at".to_owned(),
            "1764028800000000".to_owned(),
        ),
        (
            "csrf".to_owned(),
            "\"0123456789abcdef0123456789abcdef\"".to_owned(),
        ),
        ("counter".to_owned(), counter.to_string()),
    ])
}

fn dup(key: &SessionKey) -> SessionKey {
    SessionKey::try_from(key.as_ref().to_owned()).unwrap()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn operations(c: &mut Criterion) {
    let rt = runtime();
    let db = rt.block_on(TestDatabase::create());
    let (store, key, eager) = rt.block_on(async {
        let store = MySqlSessionStore::builder(db.pool()).build().await.unwrap();
        let key = store.save(state(0), &TTL).await.unwrap();
        // A touch interval of 1 µs: every `update_ttl` writes.
        let eager = MySqlSessionStore::builder(db.pool())
            .touch_interval(Duration::from_micros(1))
            .build()
            .await
            .unwrap();
        (store, key, eager)
    });

    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));

    group.bench_function("load", |b| {
        b.to_async(&rt)
            .iter(|| async { store.load(&key).await.unwrap().unwrap() });
    });

    group.bench_function("save", |b| {
        b.to_async(&rt)
            .iter(|| async { store.save(state(1), &TTL).await.unwrap() });
    });

    let mut n = 0;
    group.bench_function("update", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            let state = state(n);
            let key = dup(&key);
            let store = &store;
            async move { store.update(key, state, &TTL).await.unwrap() }
        });
    });

    group.bench_function("update_ttl (due: one guarded UPDATE)", |b| {
        b.to_async(&rt)
            .iter(|| async { eager.update_ttl(&key, &TTL).await.unwrap() });
    });

    rt.block_on(async { store.load(&key).await.unwrap() });
    group.bench_function("update_ttl (within the interval: no I/O)", |b| {
        b.to_async(&rt)
            .iter(|| async { store.update_ttl(&key, &TTL).await.unwrap() });
    });

    // A read-only request as the middleware drives it: load, then a throttled touch.
    group.bench_function("read-only request (load + update_ttl)", |b| {
        b.to_async(&rt).iter(|| async {
            store.load(&key).await.unwrap().unwrap();
            store.update_ttl(&key, &TTL).await.unwrap();
        });
    });

    // Many requests at once on one pool (default: up to 100 connections).
    const CONCURRENT: u64 = 64;
    let keys: Vec<SessionKey> = rt.block_on(async {
        let mut keys = Vec::new();
        for i in 0..CONCURRENT {
            keys.push(store.save(state(i), &TTL).await.unwrap());
        }
        keys
    });
    group.throughput(Throughput::Elements(CONCURRENT));
    group.bench_function("load, 64 concurrent", |b| {
        b.to_async(&rt).iter(|| async {
            let mut tasks = tokio::task::JoinSet::new();
            for key in &keys {
                let store = store.clone();
                let key = dup(key);
                tasks.spawn(async move { store.load(&key).await.unwrap().unwrap() });
            }
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
        });
    });
    group.bench_function("update, 64 concurrent", |b| {
        b.to_async(&rt).iter(|| async {
            let mut tasks = tokio::task::JoinSet::new();
            for (i, key) in (0_u64..).zip(&keys) {
                let store = store.clone();
                let key = dup(key);
                tasks.spawn(async move { store.update(key, state(i), &TTL).await.unwrap() });
            }
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
        });
    });
    group.finish();

    rt.block_on(store.pool().clone().disconnect()).unwrap();
    drop(db);
}

/// Fill `table` with `rows` live sessions of random-looking ids, in one `INSERT … SELECT` over
/// a 1000-row sequence crossed with itself (portable: MySQL 8.0 and MariaDB 10.6).
async fn fill(store: &MySqlSessionStore, rows: u64) {
    let table = store.table_name();
    let mut conn = store.pool().get_conn().await.unwrap();
    let started = Instant::now();
    conn.query_drop("CREATE TEMPORARY TABLE seq (n INT NOT NULL PRIMARY KEY)")
        .await
        .unwrap();
    conn.query_drop(
        "INSERT INTO seq WITH RECURSIVE s (n) AS \
         (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < 999) SELECT n FROM s",
    )
    .await
    .unwrap();
    let outer = rows.div_ceil(1000);
    conn.exec_drop(
        format!(
            "INSERT INTO `{table}` (id, user_id, data, expires_at, created_at, last_seen_at) \
             SELECT UNHEX(SHA2(CONCAT('k', a.n * 1000 + b.n), 256)), \
                    CONCAT('user', (a.n * 1000 + b.n) % 100000), \
                    '{{\"actix_identity.user_id\":\"\\\"user\\\"\",\"counter\":\"1\"}}', \
                    UTC_TIMESTAMP(6) + INTERVAL 1 DAY, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) \
             FROM seq a JOIN seq b WHERE a.n < ?"
        ),
        (outer,),
    )
    .await
    .unwrap();
    let count: u64 = conn
        .query_first(format!("SELECT COUNT(*) FROM `{table}`"))
        .await
        .unwrap()
        .unwrap();
    conn.query_drop(format!("ANALYZE TABLE `{table}`"))
        .await
        .unwrap();
    eprintln!(
        "filled `{table}` with {count} rows in {:.1?}",
        started.elapsed()
    );
}

fn load_vs_table_size(c: &mut Criterion) {
    let rt = runtime();
    let db = rt.block_on(TestDatabase::create());
    let mut group = c.benchmark_group("load by table size");
    group.throughput(Throughput::Elements(1));
    for rows in [1_000_u64, 1_000_000] {
        let (store, key) = rt.block_on(async {
            let store = MySqlSessionStore::builder(db.pool())
                .table_name(format!("sessions_{rows}"))
                .build()
                .await
                .unwrap();
            fill(&store, rows).await;
            let key = store.save(state(0), &TTL).await.unwrap();
            (store, key)
        });
        group.bench_with_input(BenchmarkId::new("load", rows), &rows, |b, _| {
            b.to_async(&rt)
                .iter(|| async { store.load(&key).await.unwrap().unwrap() });
        });
        let missing = SessionKey::try_from("no-such-session".to_owned()).unwrap();
        group.bench_with_input(
            BenchmarkId::new("load (missing key)", rows),
            &rows,
            |b, _| {
                b.to_async(&rt)
                    .iter(|| async { store.load(&missing).await.unwrap() });
            },
        );
    }
    group.finish();
    drop(db);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = operations, load_vs_table_size
}
criterion_main!(benches);
