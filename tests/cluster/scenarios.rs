//! The cluster scenarios. Each takes a fresh database on the shared cluster.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_session::storage::{SessionKey, SessionStore};
use actix_session_mysql::retry::{self, Replay};
use actix_session_mysql::MySqlSessionStore;
use actix_web::cookie::Key;
use member_portal::config::MailTransport;
use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use test_support::{bare_client, hidden_value, Answer, SmtpServer, TestApp, Visitor};

use crate::galera::Cluster;

/// Every member's password here.
const PASSWORD: &str = "correct horse battery staple";

/// How long a page may take while the app is cut off from its database (503 expected).
const OUTAGE_ANSWER_DEADLINE: Duration = Duration::from_secs(10);
/// How long the app may take to come back after its node rejoined.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);

/// A database name of its own for one scenario.
fn database_name(scenario: &str) -> String {
    format!("cluster_{scenario}_{:08x}", rand::random::<u32>())
}

/// An app instance on `database_url` (database included) with session key `key`: instances
/// that share one accept each other's cookies.
async fn start_instance(database_url: &str, key: &Key) -> TestApp {
    TestApp::spawn_on_with(database_url, |s| {
        s.session_key = key.clone();
        // Every browser here comes from 127.0.0.1: the per-IP limit on failed sign-ins would
        // soon refuse them all, and it is not what these tests are about.
        s.login_ip_limit = 0;
    })
    .await
}

/// Two instances sharing one session key on nodes 0 and 1, both sending mail to `smtp`.
async fn mail_instances(cluster: &Cluster, db: &str, smtp: &SmtpServer) -> Vec<TestApp> {
    let key = Key::generate();
    let mut instances = Vec::new();
    for node in [0, 1] {
        let (key, url) = (key.clone(), smtp.url());
        let app = TestApp::spawn_on_with(&format!("{}/{db}", cluster.node_url(node)), |s| {
            s.session_key = key;
            s.login_ip_limit = 0;
            s.mail.transport = MailTransport::Smtp(url);
        })
        .await;
        instances.push(app);
    }
    instances
}

/// Start `count` instances sharing one session key, instance `i` on node `nodes[i % len]`.
async fn instances_on_nodes(cluster: &Cluster, db: &str, nodes: &[usize]) -> Vec<TestApp> {
    let key = Key::generate();
    let mut instances = Vec::new();
    // One after the other: each runs the migrations, which must not race on an empty schema.
    for &node in nodes {
        instances.push(start_instance(&format!("{}/{db}", cluster.node_url(node)), &key).await);
    }
    instances
}

/// Register `username` as `browser` and insist on success: the browser stays signed in.
async fn register(browser: &Visitor, username: &str, name: &str) {
    let answer = browser.try_register(username, name, PASSWORD).await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "register {username}: {}",
        answer.brief()
    );
}

/// Sign `username` in as `browser` and insist on success.
async fn sign_in(browser: &Visitor, username: &str) {
    let answer = browser.try_sign_in(username, PASSWORD).await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "sign in {username} through {}: {}",
        browser.address(),
        answer.brief()
    );
}

/// Fetch `form_page` for its CSRF token, then POST `form` (plus the token) to `path`; fails
/// the scenario if the page has no form.
async fn submit(browser: &Visitor, form_page: &str, path: &str, form: &[(&str, &str)]) -> Answer {
    browser
        .try_submit(form_page, path, form)
        .await
        .unwrap_or_else(|page| panic!("GET {form_page} for its form: {}", page.brief()))
}

/// `GET /` of `instance` with a `Cookie` header of `cookie` and nothing else: a stolen or
/// kept cookie replayed.
async fn replay(cookie: &str, instance: &TestApp) -> Answer {
    Answer::send(
        bare_client()
            .get(instance.url("/"))
            .header("cookie", cookie),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Background traffic

/// What a traffic worker saw.
#[derive(Debug, Default)]
struct Tally {
    page_views: u32,
    failed_page_views: Vec<String>,
    slowest_page_view: Duration,
    writes: u32,
    failed_writes: Vec<String>,
    slowest_write: Duration,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.page_views += other.page_views;
        self.failed_page_views.extend(other.failed_page_views);
        self.slowest_page_view = self.slowest_page_view.max(other.slowest_page_view);
        self.writes += other.writes;
        self.failed_writes.extend(other.failed_writes);
        self.slowest_write = self.slowest_write.max(other.slowest_write);
    }
}

/// Members browsing (signed-in page views over all instances) and, every few page views,
/// writing: signing out and in again, and a failed sign-in on a name nobody has.
struct Traffic {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Tally>>,
}

impl Traffic {
    async fn start(instances: &[TestApp], workers: usize, tag: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for w in 0..workers {
            let instances: Vec<String> = instances.iter().map(|i| i.address.clone()).collect();
            let username = format!("{tag}_w{w}");
            let name = format!("Worker {w}");
            let browser = Visitor::at_without_keep_alive(&instances[w % instances.len()]);
            register(&browser, &username, &name).await;
            let stop = Arc::clone(&stop);
            handles.push(tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut record = |what: &str, via: &str, answer: &Answer, ok: bool| {
                    tally.writes += 1;
                    tally.slowest_write = tally.slowest_write.max(answer.took);
                    if !ok {
                        tally
                            .failed_writes
                            .push(format!("{username} {what} via {via}: {}", answer.brief()));
                    }
                };
                let mut page_views = Tally::default();
                let mut signed_in = true;
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let instance = &instances[i % instances.len()];
                    let here = browser.on(instance);
                    if !signed_in {
                        // After a sign-out, or a write whose outcome is unknown. "303 to /"
                        // is a success, also from the form page of a browser still signed in.
                        let back = here.try_sign_in(&username, PASSWORD).await;
                        signed_in = back.status == StatusCode::SEE_OTHER && back.location == "/";
                        record("sign-in", instance, &back, signed_in);
                        if !signed_in {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        continue;
                    }
                    let home = Answer::get(&here, "/").await;
                    page_views.page_views += 1;
                    page_views.slowest_page_view = page_views.slowest_page_view.max(home.took);
                    if !home.greets(&name) {
                        page_views
                            .failed_page_views
                            .push(format!("{username} GET / via {instance}: {}", home.brief()));
                        signed_in = !home.is_redirect_to_login();
                        continue;
                    }
                    if i % 8 == 0 {
                        let out = here
                            .try_submit("/", "/logout", &[])
                            .await
                            .unwrap_or_else(|page| page);
                        let ok = out.is_redirect_to_login();
                        record("sign-out", instance, &out, ok);
                        signed_in = false;
                        let wrong = Visitor::at_without_keep_alive(instance)
                            .try_sign_in(&format!("nobody_{w}"), "wrong password!")
                            .await;
                        let ok = matches!(
                            wrong.status,
                            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
                        );
                        record("failed sign-in", instance, &wrong, ok);
                    }
                }
                page_views.add(tally);
                page_views
            }));
        }
        Self {
            stop,
            workers: handles,
        }
    }

    async fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Tally::default();
        for worker in self.workers {
            total.add(worker.await.unwrap());
        }
        total
    }
}

// ---------------------------------------------------------------------------------------------
// Consistency across nodes

/// Sign in through one node and use the session through another at once, many times, with
/// other members browsing and signing in and out meanwhile; then sign out through that other
/// node and check the session is dead through the third at once.
pub async fn read_your_writes_across_nodes(cluster: &Cluster) {
    let db = database_name("ryw");
    let instances = instances_on_nodes(cluster, &db, &[0, 1, 2]).await;
    let traffic = Traffic::start(&instances, 4, "ryw").await;
    register(
        &instances[0].new_visitor_without_keep_alive(),
        "ada",
        "Ada Lovelace",
    )
    .await;

    let mut stale = Vec::new();
    let rounds = 30;
    for round in 0..rounds {
        let [first, second, third] = [0, 1, 2].map(|k| &instances[(round + k) % instances.len()]);
        let browser = first.new_visitor_without_keep_alive();
        sign_in(&browser, "ada").await;
        let browser = browser.on(&second.address);
        let home = Answer::get(&browser, "/").await;
        if !home.greets("Ada Lovelace") {
            stale.push(format!(
                "round {round}: signed in via {}, GET / via {}: {}",
                first.address,
                second.address,
                home.brief()
            ));
            continue;
        }
        let cookie = browser.cookie_header();
        let out = submit(&browser, "/", "/logout", &[]).await;
        assert_eq!(
            out.status,
            StatusCode::SEE_OTHER,
            "sign-out: {}",
            out.brief()
        );
        let replay = replay(&cookie, third).await;
        if !replay.is_redirect_to_login() {
            stale.push(format!(
                "round {round}: signed out via {}, old cookie via {} still works: {}",
                second.address,
                third.address,
                replay.brief()
            ));
        }
    }
    let tally = traffic.stop().await;
    eprintln!(
        "read-your-writes: {rounds} rounds; background: {} page views, {} writes",
        tally.page_views, tally.writes
    );
    assert!(
        stale.is_empty(),
        "stale reads across nodes ({} of {rounds} rounds): {stale:#?}",
        stale.len()
    );
    assert!(
        tally.failed_page_views.is_empty() && tally.failed_writes.is_empty(),
        "background traffic failed: {:#?} {:#?}",
        tally.failed_page_views,
        tally.failed_writes
    );
}

/// Revoking a device, changing the password and signing out, each through one node, are
/// effective through the other nodes at once.
pub async fn revocations_across_nodes(cluster: &Cluster) {
    let db = database_name("revoke");
    let nodes = instances_on_nodes(cluster, &db, &[0, 1, 2]).await;
    let [a, b, c] = [&nodes[0], &nodes[1], &nodes[2]];
    let x = a.new_visitor_without_keep_alive();
    register(&x, "bob", "Bob Builder").await;

    // Revoke one device through A: dead through B and C at once.
    let y = b.new_visitor_without_keep_alive();
    sign_in(&y, "bob").await;
    let devices = Answer::get(&x, "/sessions").await;
    assert_eq!(devices.status, StatusCode::OK, "{}", devices.brief());
    let handle = hidden_value(&devices.body, "session").expect("the other device's handle");
    let revoked = submit(&x, "/sessions", "/sessions/revoke", &[("session", &handle)]).await;
    assert_eq!(
        revoked.status,
        StatusCode::SEE_OTHER,
        "revoke: {}",
        revoked.brief()
    );
    for via in [c, b] {
        let home = Answer::get(&y.on(&via.address), "/").await;
        assert!(
            home.is_redirect_to_login(),
            "revoked through {} but still signed in through {}: {}",
            a.address,
            via.address,
            home.brief()
        );
    }

    // Change the password through A: the other devices are signed out through B and C at
    // once, this one stays signed in everywhere, and the new password works through C.
    let y = b.new_visitor_without_keep_alive();
    sign_in(&y, "bob").await;
    let z = c.new_visitor_without_keep_alive();
    sign_in(&z, "bob").await;
    let new_password = "a brand new passphrase";
    let changed = submit(
        &x,
        "/account/password",
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", new_password),
            ("new_password_confirm", new_password),
        ],
    )
    .await;
    assert_eq!(
        changed.status,
        StatusCode::SEE_OTHER,
        "password change: {}",
        changed.brief()
    );
    for (who, browser, via) in [("y", &y, c), ("z", &z, b)] {
        let home = Answer::get(&browser.on(&via.address), "/").await;
        assert!(
            home.is_redirect_to_login(),
            "password changed through {} but device {who} still signed in through {}: {}",
            a.address,
            via.address,
            home.brief()
        );
    }
    for via in [b, c] {
        let home = Answer::get(&x.on(&via.address), "/").await;
        assert!(
            home.greets("Bob Builder"),
            "the device that changed the password is signed out through {}: {}",
            via.address,
            home.brief()
        );
    }
    let old = b
        .new_visitor_without_keep_alive()
        .try_sign_in("bob", PASSWORD)
        .await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "old password through {} right after the change: {}",
        b.address,
        old.brief()
    );
    let w = c.new_visitor_without_keep_alive();
    let fresh = w.try_sign_in("bob", new_password).await;
    assert_eq!(
        fresh.status,
        StatusCode::SEE_OTHER,
        "new password through {} right after the change: {}",
        c.address,
        fresh.brief()
    );

    // "Sign out all other devices" through A: W is signed out through B at once.
    let others = submit(&x, "/sessions", "/sessions/revoke-others", &[]).await;
    assert_eq!(others.status, StatusCode::SEE_OTHER, "{}", others.brief());
    let home = Answer::get(&w.on(&b.address), "/").await;
    assert!(
        home.is_redirect_to_login(),
        "other devices signed out through {} but W still signed in through {}: {}",
        a.address,
        b.address,
        home.brief()
    );

    // Sign out through B: the old cookie is dead through A and C at once.
    let x_on_b = x.on(&b.address);
    let cookie = x_on_b.cookie_header();
    let out = submit(&x_on_b, "/", "/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.brief());
    for via in [a, c] {
        let home = replay(&cookie, via).await;
        assert!(
            home.is_redirect_to_login(),
            "signed out through {} but the old cookie works through {}: {}",
            b.address,
            via.address,
            home.brief()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Write conflicts

/// Failed sign-ins on one account name through two nodes at once all update one throttle row:
/// Galera certification conflicts (error 1213 at commit) must be retried, never shown.
pub async fn throttle_row_conflicts(cluster: &Cluster) {
    let db = database_name("throttle");
    let nodes = instances_on_nodes(cluster, &db, &[0, 1]).await;
    let per_node = 12;
    let mut attempts = Vec::new();
    for i in 0..per_node * 2 {
        let instance = nodes[i % 2].address.clone();
        attempts.push(tokio::spawn(async move {
            let answer = Visitor::at_without_keep_alive(&instance)
                .try_sign_in("mallory", "not the password")
                .await;
            (instance, answer)
        }));
    }
    let mut shown = Vec::new();
    let mut refused = 0;
    for attempt in attempts {
        let (via, answer) = attempt.await.unwrap();
        match answer.status {
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS => refused += 1,
            _ => shown.push(format!("via {via}: {}", answer.brief())),
        }
    }
    assert!(
        shown.is_empty(),
        "failed sign-ins through two nodes at once must be 401 or 429, never an error: {shown:#?}"
    );
    let mut conn = cluster.node_conn(2).await;
    let failures: Option<u32> = conn
        .exec_first(
            format!("SELECT failures FROM `{db}`.login_throttle WHERE account = ?"),
            ("mallory",),
        )
        .await
        .unwrap();
    eprintln!("throttle: {refused} refused sign-ins, {failures:?} failures counted");
    assert!(
        failures.is_some_and(|f| f >= 1),
        "the failures were not counted (read through the third node): {failures:?}"
    );
}

/// One session written through two nodes at once (state updates and expiry touches): every
/// write succeeds, conflicts are retried, and the row ends as one of the written states.
pub async fn session_row_conflicts(cluster: &Cluster) {
    let db = database_name("session");
    let stores = stores_on_nodes(cluster, &db, &[0, 1], |b| b).await;
    let mut state = HashMap::new();
    state.insert("actix_identity.user_id".to_owned(), "\"carol\"".to_owned());
    state.insert("n".to_owned(), "0".to_owned());
    let ttl = actix_web::cookie::time::Duration::minutes(30);
    let key: String = stores[0]
        .save(state.clone(), &ttl)
        .await
        .unwrap()
        .as_ref()
        .to_owned();
    let session_key = |k: &str| SessionKey::try_from(k.to_owned()).unwrap();

    let writes_per_node = 25;
    let mut tasks = Vec::new();
    for n in 0..writes_per_node * 2 {
        let store = stores[n % 2].clone();
        let key = session_key(&key);
        let mut state = state.clone();
        state.insert("n".to_owned(), (n + 1).to_string());
        tasks.push(tokio::spawn(async move {
            let updated = store.update(key, state, &ttl).await;
            let touched = match &updated {
                Ok(key) => store.update_ttl(key, &ttl).await,
                Err(_) => Ok(()),
            };
            let updated = updated.map(drop);
            (
                n,
                updated.map_err(|e| format!("{e:?}")),
                touched.map_err(|e| format!("{e:?}")),
            )
        }));
    }
    let mut failed = Vec::new();
    for task in tasks {
        let (n, updated, touched) = task.await.unwrap();
        if let Err(e) = updated {
            failed.push(format!("update #{n} via node {}: {e}", n % 2));
        }
        if let Err(e) = touched {
            failed.push(format!("touch #{n} via node {}: {e}", n % 2));
        }
    }
    assert!(
        failed.is_empty(),
        "writes to one session through two nodes at once failed: {failed:#?}"
    );
    let third = stores_on_nodes(cluster, &db, &[2], |b| b.create_table_if_missing(false)).await;
    let loaded = third[0]
        .load(&session_key(&key))
        .await
        .unwrap()
        .expect("the session is alive, read through the third node");
    let n: usize = loaded["n"].parse().unwrap();
    assert!(
        (1..=writes_per_node * 2).contains(&n),
        "the row holds a state nobody wrote: {loaded:?}"
    );
}

/// Stores of their own on `db` (created here), one per node, each with its own pool.
async fn stores_on_nodes(
    cluster: &Cluster,
    db: &str,
    nodes: &[usize],
    configure: impl Fn(
        actix_session_mysql::MySqlSessionStoreBuilder,
    ) -> actix_session_mysql::MySqlSessionStoreBuilder,
) -> Vec<MySqlSessionStore> {
    let mut conn = cluster.node_conn(nodes[0]).await;
    conn.query_drop(format!(
        "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    ))
    .await
    .unwrap();
    let mut stores = Vec::new();
    for &node in nodes {
        // The other nodes run the `CREATE DATABASE` a moment later: wait until this one has.
        let mut conn = cluster.node_conn(node).await;
        conn.query_drop("SET SESSION wsrep_sync_wait = 15")
            .await
            .unwrap();
        let found: Option<String> = conn
            .exec_first(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (db,),
            )
            .await
            .unwrap();
        assert!(found.is_some(), "database {db} not on node {node}");
        let url = format!("{}/{db}?client_found_rows=true", cluster.node_url(node));
        let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&url).unwrap());
        let builder = configure(MySqlSessionStore::builder(pool));
        stores.push(builder.build().await.unwrap());
    }
    stores
}

// ---------------------------------------------------------------------------------------------
// Cleanup

/// The expired-row cleanup running on every node at once shares the work: all expired rows
/// go, no live row does, and no instance sees an error.
pub async fn cleanup_everywhere(cluster: &Cluster) {
    let db = database_name("cleanup");
    let stores = stores_on_nodes(cluster, &db, &[0, 1, 2], |b| {
        b.cleanup_batch_size(50)
            .cleanup_interval(Duration::from_millis(200))
    })
    .await;
    let ttl = actix_web::cookie::time::Duration::minutes(30);
    let mut live = Vec::new();
    for i in 0..30 {
        let mut state = HashMap::new();
        state.insert("actix_identity.user_id".to_owned(), format!("\"live{i}\""));
        live.push(stores[i % 3].save(state, &ttl).await.unwrap());
    }
    let expired_rows = 1500;
    insert_expired(cluster, &db, 0, expired_rows).await;

    // Three purges at once, one per node, deleting the same oldest rows first: conflicts.
    let mut purges = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        let store = store.clone();
        purges.push(tokio::spawn(
            async move { (i, store.purge_expired().await) },
        ));
    }
    let mut deleted = 0;
    let mut failed = Vec::new();
    for purge in purges {
        match purge.await.unwrap() {
            (_, Ok(n)) => deleted += n,
            (i, Err(e)) => failed.push(format!("purge via node {i}: {e:?}")),
        }
    }
    assert!(failed.is_empty(), "concurrent purges failed: {failed:#?}");
    assert_eq!(
        deleted, expired_rows,
        "the three purges together must delete each expired row once"
    );

    // The background tasks, on every node at once, while more rows expire.
    let tasks: Vec<_> = stores
        .iter()
        .map(MySqlSessionStore::spawn_cleanup)
        .collect();
    insert_expired(cluster, &db, expired_rows, 600).await;
    let started = Instant::now();
    let mut conn = cluster.node_conn(2).await;
    loop {
        let left: u64 = conn
            .query_first(format!(
                "SELECT COUNT(*) FROM `{db}`.sessions WHERE expires_at <= UTC_TIMESTAMP(6)"
            ))
            .await
            .unwrap()
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{left} expired rows left 20 s after the cleanup tasks started"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for task in tasks {
        task.stop().await;
    }
    for (i, key) in live.iter().enumerate() {
        assert!(
            stores[(i + 1) % 3].load(key).await.unwrap().is_some(),
            "live session {i} was deleted by the cleanup"
        );
    }
}

/// `count` expired rows, straight in SQL (ids that no key hashes to). While cleanup tasks
/// delete expired rows, InnoDB can pick this insert as a deadlock victim (1213); it was rolled
/// back, so it runs again, under the store's own retry policy.
async fn insert_expired(cluster: &Cluster, db: &str, from: u64, count: u64) {
    let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&cluster.node_url(0)).unwrap());
    let sql = format!(
        "INSERT INTO `{db}`.sessions (id, user_id, data, expires_at, created_at, last_seen_at)
         SELECT UNHEX(SHA2(CONCAT('expired-', seq), 256)), NULL, '{{}}',
                UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE, UTC_TIMESTAMP(6) - INTERVAL 1 HOUR,
                UTC_TIMESTAMP(6) - INTERVAL 1 HOUR
         FROM `{db}`.seq_{}_to_{}",
        from + 1,
        from + count
    );
    let sql = sql.as_str();
    let inserted: Result<(), mysql_async::Error> = retry::run(
        &pool,
        "insert expired rows",
        Replay::NotTwice,
        |mut conn| async move { conn.query_drop(sql).await },
    )
    .await;
    inserted.unwrap();
    pool.disconnect().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Node failures

/// How many nodes the failover scenario kills (`CLUSTER_FAILOVER_TRIES`, default 2).
fn failover_tries() -> usize {
    std::env::var("CLUSTER_FAILOVER_TRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// Two instances behind HAProxy under mixed traffic; a node is killed, traffic goes on, the
/// node rejoins. No page view may fail. A write in flight when the node died, or stalled while
/// the cluster evicts it, may fail, but only with the 503 page and `Retry-After`.
pub async fn node_killed_behind_haproxy(cluster: &mut Cluster) {
    let db = database_name("failover");
    let key = Key::generate();
    let url = format!("{}/{db}", cluster.haproxy_url());
    let mut instances = Vec::new();
    for _ in 0..2 {
        instances.push(start_instance(&url, &key).await);
    }
    let tries = failover_tries();
    let mut summary = Vec::new();
    let mut failed_page_views = Vec::new();
    let mut failed_writes = Vec::new();
    for t in 0..tries {
        let victim = t % 3;
        let traffic = Traffic::start(&instances, 4, &format!("fo{t}")).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        cluster.kill_node(victim);
        let killed = Instant::now();
        // The failover is over in about 2 s; the rejoin runs under traffic too.
        tokio::time::sleep(Duration::from_secs(3)).await;
        cluster.restart_node(victim).await;
        let rejoined = killed.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let tally = traffic.stop().await;
        let line = format!(
            "failover try {}: node{} killed; {} page views, {} failed, slowest {:?}; {} writes, \
             {} failed, slowest {:?}; node rejoined after {:?}",
            t + 1,
            victim + 1,
            tally.page_views,
            tally.failed_page_views.len(),
            tally.slowest_page_view,
            tally.writes,
            tally.failed_writes.len(),
            tally.slowest_write,
            rejoined
        );
        eprintln!("{line}");
        summary.push(line);
        failed_page_views.extend(tally.failed_page_views);
        // A write caught by the failover may have committed or not; it is not repeated, and
        // the user gets the 503 page with Retry-After, never anything else.
        failed_writes.extend(
            tally
                .failed_writes
                .into_iter()
                .filter(|w| !(w.contains(": 503 ") && w.contains("retry-after=Some"))),
        );
    }
    assert!(
        failed_page_views.is_empty() && failed_writes.is_empty(),
        "requests failed while nodes died behind HAProxy:\n{}\npage views: {failed_page_views:#?}\n\
         writes answered other than 503 + Retry-After: {failed_writes:#?}",
        summary.join("\n")
    );
}

/// An instance attached to one node directly (no HAProxy): when the node dies, its pages are
/// 503 with `Retry-After` within seconds; when the node rejoins, it recovers by itself, with
/// its sessions.
pub async fn node_killed_under_direct_instance(cluster: &mut Cluster) {
    let db = database_name("direct");
    let node = 2;
    let instance = &instances_on_nodes(cluster, &db, &[node]).await[0];
    let browser = instance.new_visitor_without_keep_alive();
    register(&browser, "dora", "Dora Direct").await;
    for _ in 0..4 {
        let home = Answer::get(&browser, "/").await;
        assert!(home.greets("Dora Direct"), "{}", home.brief());
    }

    cluster.kill_node(node);
    for i in 0..3 {
        let home = Answer::get(&browser, "/").await;
        assert_eq!(
            home.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "GET / #{i} with the node down: {}",
            home.brief()
        );
        assert!(
            home.retry_after.is_some() && home.took < OUTAGE_ANSWER_DEADLINE,
            "GET / #{i} with the node down: {}",
            home.brief()
        );
    }
    let health = Answer::get(&browser, "/healthz").await;
    assert_eq!(
        health.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        health.brief()
    );

    cluster.restart_node(node).await;
    let back = Instant::now();
    loop {
        let home = Answer::get(&browser, "/").await;
        if home.greets("Dora Direct") {
            break;
        }
        assert!(
            home.status == StatusCode::SERVICE_UNAVAILABLE && home.retry_after.is_some(),
            "while the node rejoins: {}",
            home.brief()
        );
        assert!(
            back.elapsed() < RECOVERY_DEADLINE,
            "no recovery within {RECOVERY_DEADLINE:?} after the node rejoined: {}",
            home.brief()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "direct instance: recovered {:?} after its node rejoined",
        back.elapsed()
    );
    for i in 0..8 {
        let home = Answer::get(&browser, "/").await;
        assert!(
            home.greets("Dora Direct"),
            "GET / #{i} after recovery: {}",
            home.brief()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Figures (`bench/cluster.sh`; not part of the test run)

/// Page views a second through one instance and through two, all behind HAProxy, and what the
/// causal session read costs on Galera. Prints figures and checks only that every page view
/// succeeded: timings are not asserted.
pub async fn throughput(cluster: &Cluster) {
    let db = database_name("bench");
    let key = Key::generate();
    let url = format!("{}/{db}", cluster.haproxy_url());
    let instances = [
        start_instance(&url, &key).await,
        start_instance(&url, &key).await,
    ];
    let browsers = 16;
    let mut signed_in = Vec::new();
    for b in 0..browsers {
        // Keeping its connections open: measuring throughput, not spreading over workers.
        let browser = Visitor::at(&instances[b % 2].address);
        let username = format!("bench{b}");
        register(&browser, &username, &format!("Bench {b}")).await;
        signed_in.push((browser, format!("Bench {b}")));
    }
    let window = Duration::from_secs(8);
    for count in [1, 2] {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for (b, (browser, name)) in signed_in.iter().enumerate() {
            let browser = browser.on(&instances[b % count].address);
            let name = name.clone();
            let stop = Arc::clone(&stop);
            tasks.push(tokio::spawn(async move {
                let (mut ok, mut failed) = (0_u64, 0_u64);
                while !stop.load(Ordering::Relaxed) {
                    if Answer::get(&browser, "/").await.greets(&name) {
                        ok += 1;
                    } else {
                        failed += 1;
                    }
                }
                (ok, failed)
            }));
        }
        tokio::time::sleep(window).await;
        stop.store(true, Ordering::Relaxed);
        let (mut ok, mut failed) = (0, 0);
        for task in tasks {
            let (o, f) = task.await.unwrap();
            ok += o;
            failed += f;
        }
        eprintln!(
            "figures: {count} instance(s), {browsers} browsers: {:.0} page views/s ({failed} failed)",
            ok as f64 / window.as_secs_f64()
        );
        assert_eq!(failed, 0, "page views failed while measuring");
    }

    // The session read alone, through HAProxy, with and without waiting for the cluster.
    let sessions = stores_on_haproxy(cluster, &db, true).await;
    let ttl = actix_web::cookie::time::Duration::minutes(30);
    let mut keys = Vec::new();
    for i in 0..64 {
        let mut state = HashMap::new();
        state.insert("actix_identity.user_id".to_owned(), format!("\"bench{i}\""));
        keys.push(
            sessions
                .save(state, &ttl)
                .await
                .unwrap()
                .as_ref()
                .to_owned(),
        );
    }
    let keys = Arc::new(keys);
    for causal in [false, true] {
        let store = stores_on_haproxy(cluster, &db, causal).await;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..8 {
            let (store, keys) = (store.clone(), Arc::clone(&keys));
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                for i in 0..400 {
                    let key =
                        SessionKey::try_from(keys[(t * 400 + i) % keys.len()].clone()).unwrap();
                    let one = Instant::now();
                    assert!(store.load(&key).await.unwrap().is_some());
                    latencies.push(one.elapsed());
                }
                latencies
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed();
        latencies.sort();
        eprintln!(
            "figures: session loads, causal reads {}: {:.0}/s, median {:?}, p99 {:?}",
            if causal { "on " } else { "off" },
            latencies.len() as f64 / elapsed.as_secs_f64(),
            latencies[latencies.len() / 2],
            latencies[latencies.len() * 99 / 100]
        );
    }
}

/// A store on `db` through HAProxy, causal reads on or off.
async fn stores_on_haproxy(cluster: &Cluster, db: &str, causal: bool) -> MySqlSessionStore {
    let url = format!("{}/{db}?pool_min=0&pool_max=8", cluster.haproxy_url());
    let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&url).unwrap());
    MySqlSessionStore::builder(pool)
        .causal_reads(causal)
        .build()
        .await
        .unwrap()
}

/// Two instances, on two nodes, deliver one outbox: every mail once. Their senders claim rows
/// of the same table at the same moments, so claims meet on both nodes; the later of two
/// conflicting claims fails certification and is retried, finding the rows taken.
pub async fn mail_once_across_nodes(cluster: &Cluster) {
    const MAILS: usize = 30;
    let smtp = SmtpServer::start().await;
    let db = database_name("mail");
    let conflicts_before = cert_failures(cluster).await;
    let instances = mail_instances(cluster, &db, &smtp).await;
    let mut registrations = tokio::task::JoinSet::new();
    for i in 0..MAILS {
        let browser = instances[i % 2].new_visitor();
        registrations.spawn(async move {
            let name = format!("mia{i}");
            let email = format!("{name}@example.com");
            let password = PASSWORD.to_owned();
            let answer = browser
                .try_submit(
                    "/register",
                    "/register",
                    &[
                        ("username", name.as_str()),
                        ("name", name.as_str()),
                        ("password", password.as_str()),
                        ("password_confirm", password.as_str()),
                        ("email", email.as_str()),
                    ],
                )
                .await
                .unwrap_or_else(|page| panic!("GET /register: {}", page.brief()));
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.brief());
        });
    }
    while let Some(done) = registrations.join_next().await {
        done.unwrap();
    }
    smtp.wait_for(MAILS, Duration::from_secs(60)).await;
    // Long enough for a second delivery of any mail (a retry comes 5 s after an attempt).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mails = smtp.messages();
    let mut recipients: Vec<String> = mails.iter().map(|m| m.to.join(",")).collect();
    recipients.sort();
    let total = recipients.len();
    recipients.dedup();
    assert_eq!(total, MAILS, "each mail once: {recipients:?}");
    assert_eq!(recipients.len(), MAILS);
    let mut conn = cluster.node_conn(2).await;
    let left: u64 = conn
        .query_first(format!("SELECT COUNT(*) FROM `{db}`.mail_outbox"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left, 0, "sent rows are deleted, on every node");
    eprintln!(
        "mail: {MAILS} mails, each once; {} certification conflicts on the two nodes meanwhile",
        cert_failures(cluster).await - conflicts_before
    );
}

/// Transactions nodes 0 and 1 have rolled back for a certification conflict, so far.
async fn cert_failures(cluster: &Cluster) -> u64 {
    let mut total = 0;
    for node in [0, 1] {
        let mut conn = cluster.node_conn(node).await;
        let row: Option<(String, u64)> = conn
            .query_first("SHOW GLOBAL STATUS LIKE 'wsrep_local_cert_failures'")
            .await
            .unwrap();
        total += row.map_or(0, |(_, n)| n);
    }
    total
}
