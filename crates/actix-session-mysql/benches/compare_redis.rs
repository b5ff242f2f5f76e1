//! This store next to actix-session's own `RedisSessionStore`, through the `SessionStore`
//! trait, for the operations a session store does per request.
//!
//! Needs MySQL/MariaDB at `TEST_DATABASE_URL` (default `mysql://root@127.0.0.1:3306`; a
//! throwaway database is created and dropped) and Redis at `redis://127.0.0.1:6379` (the keys
//! the benchmarks create are deleted at the end).
//!
//! `cargo bench -p actix-session-mysql --bench compare_redis` — under a minute once built.

// A benchmark that cannot reach its servers should stop at once: panics are the failure mode.
#![allow(clippy::unwrap_used, missing_debug_implementations)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use actix_session::storage::{RedisSessionStore, SessionKey, SessionStore};
use actix_session_mysql::MySqlSessionStore;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use futures_util::future::join_all;
use mysql_async::{OptsBuilder, Pool, PoolOpts};
use test_database::TestDatabase;
use tokio::runtime::Runtime;

const REDIS_URL: &str = "redis://127.0.0.1:6379";
const TTL: time::Duration = time::Duration::minutes(30);
const CONCURRENT: usize = 32;

/// A signed-in session as actix-identity leaves it (values are JSON, as actix-session stores
/// them), plus a CSRF token and the user agent.
fn state(counter: u64) -> HashMap<String, String> {
    HashMap::from([
        ("actix_identity.user_id".to_owned(), "\"alice\"".to_owned()),
        (
            "actix_identity.logged_in_at".to_owned(),
            (1_764_028_800_000_000_u64 + counter).to_string(),
        ),
        (
            "csrf".to_owned(),
            "\"0123456789abcdef0123456789abcdef\"".to_owned(),
        ),
        (
            "user_agent".to_owned(),
            "\"Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0\"".to_owned(),
        ),
    ])
}

fn dup(key: &SessionKey) -> SessionKey {
    SessionKey::try_from(key.as_ref().to_owned()).unwrap()
}

/// What actix-session does for a request that only reads its session, with
/// `TtlExtensionPolicy::OnEveryRequest`: load the state, then extend its TTL.
async fn read_only_request<S: SessionStore>(store: &S, key: &SessionKey) {
    store.load(key).await.unwrap().unwrap();
    store.update_ttl(key, &TTL).await.unwrap();
}

/// Every benchmark for one store; `saved` collects the keys `save` creates.
fn bench_store<S: SessionStore>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    store: &S,
    saved: &RefCell<Vec<SessionKey>>,
) {
    let key = rt.block_on(store.save(state(0), &TTL)).unwrap();
    saved.borrow_mut().push(dup(&key));
    let keys: Vec<SessionKey> = rt.block_on(async {
        let mut keys = Vec::new();
        for i in 0..CONCURRENT {
            keys.push(store.save(state(i as u64), &TTL).await.unwrap());
        }
        keys
    });
    saved.borrow_mut().extend(keys.iter().map(dup));

    group.throughput(Throughput::Elements(1));

    group.bench_function(format!("{name}/load"), |b| {
        b.to_async(rt)
            .iter(|| async { store.load(&key).await.unwrap().unwrap() });
    });

    group.bench_function(
        format!("{name}/read-only request (load + update_ttl)"),
        |b| {
            b.to_async(rt).iter(|| read_only_request(store, &key));
        },
    );

    group.bench_function(format!("{name}/save (new session)"), |b| {
        b.to_async(rt).iter(|| async {
            let new = store.save(state(1), &TTL).await.unwrap();
            saved.borrow_mut().push(new);
        });
    });

    let mut n = 0;
    group.bench_function(format!("{name}/update"), |b| {
        b.to_async(rt).iter(|| {
            n += 1;
            let state = state(n);
            let key = dup(&key);
            async move { store.update(key, state, &TTL).await.unwrap() }
        });
    });

    // 32 requests at once, each on a session of its own, all on one store.
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    group.bench_function(format!("{name}/read-only request, 32 concurrent"), |b| {
        b.to_async(rt)
            .iter(|| join_all(keys.iter().map(|key| read_only_request(store, key))));
    });
}

fn compare(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(TestDatabase::create());
    let (mysql, redis) = rt.block_on(async {
        // Pool options as the member-portal app sets them: no `COM_RESET_CONNECTION` each time
        // a connection goes back to the pool (the store keeps no per-connection state, and a
        // reset is one more round trip), and idle connections kept for 60 s (with the default
        // of 0, every connection beyond `min` is closed as soon as it is returned, so bursts
        // reconnect). Default sizes: 10 to 100 connections.
        let pool_opts = PoolOpts::default()
            .with_reset_connection(false)
            .with_inactive_connection_ttl(Duration::from_secs(60));
        let pool = Pool::new(
            OptsBuilder::from_opts(db.opts())
                .client_found_rows(true)
                .pool_opts(pool_opts),
        );
        let mysql = MySqlSessionStore::builder(pool)
            .build()
            .await
            .expect("MySQL/MariaDB session store");
        let redis = RedisSessionStore::new(REDIS_URL)
            .await
            .expect("Redis at redis://127.0.0.1:6379");
        (mysql, redis)
    });

    let mut group = c.benchmark_group("compare");
    let mysql_saved = RefCell::new(Vec::new());
    bench_store(&mut group, &rt, "mysql", &mysql, &mysql_saved);
    let redis_saved = RefCell::new(Vec::new());
    bench_store(&mut group, &rt, "redis", &redis, &redis_saved);
    group.finish();

    rt.block_on(async {
        // The MySQL rows go with the throwaway database; Redis keys are deleted one by one.
        let keys = redis_saved.into_inner();
        eprintln!("deleting {} Redis keys", keys.len());
        for chunk in keys.chunks(256) {
            for done in join_all(chunk.iter().map(|key| redis.delete(key))).await {
                done.unwrap();
            }
        }
        mysql.pool().clone().disconnect().await.unwrap();
    });
    drop(db);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = compare
}
criterion_main!(benches);
