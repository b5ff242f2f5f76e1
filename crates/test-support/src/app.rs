//! The app under test on a random port.

use std::ops::Deref;
use std::sync::Once;

use base64::Engine;
use member_portal::config::Settings;
use member_portal::startup::Application;
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, Pool};
use reqwest::{Response, StatusCode};
use test_database::TestDatabase;

use crate::visitor::{bare_client, KeepAlive, Visitor};

/// The app on a fresh database of its own, on a random port, with the test default settings
/// ([`test_settings`]).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The app on a fresh database, with the test's own changes to the test default settings,
/// e.g. `spawn_app_with(|s: &mut Settings| s.touch_interval = Duration::from_secs(1))`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDatabase::create().await;
    let url = db.url();
    let pool = db.pool();
    TestApp::start(&url, configure, pool, Some(db)).await
}

/// A running app and its first visitor: `app.get(..)`, `app.sign_in(..)` and the other
/// [`Visitor`] methods are what that visitor sees.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub port: u16,
    /// The metrics listener's port, when the settings have a `metrics_bind`.
    pub metrics_port: Option<u16>,
    /// The app's database, as the server's administrator: what the rows say, whatever the
    /// app's pages show.
    pub pool: Pool,
    visitor: Visitor,
    /// Dropped after the app's last use: the database goes with the test.
    _db: Option<TestDatabase>,
}

impl TestApp {
    /// The app on `db`, connecting with `database_url` (e.g. as a MySQL user of its own);
    /// `pool` reaches `db` as the administrator.
    pub async fn spawn_as(db: TestDatabase, database_url: &str) -> Self {
        let pool = db.pool();
        Self::start(database_url, |_| {}, pool, Some(db)).await
    }

    /// The app on `db`, connecting as a MySQL user of its own, named like the database (with
    /// the password `pw` and every right on that database only): what the server counts or
    /// refuses for that user is the app's alone. Returns the app and the user's name.
    pub async fn spawn_as_own_user(db: TestDatabase) -> (Self, String) {
        let user = db.name().to_owned();
        {
            let mut conn = db.pool().get_conn().await.unwrap();
            conn.query_drop(format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"))
                .await
                .unwrap();
            conn.query_drop(format!("GRANT ALL ON `{user}`.* TO '{user}'@'%'"))
                .await
                .unwrap();
        }
        let server = test_database::server_opts();
        let url = format!(
            "mysql://{user}:pw@{}:{}/{user}",
            server.ip_or_hostname(),
            server.tcp_port()
        );
        (Self::spawn_as(db, &url).await, user)
    }

    /// The app on `database_url` with the test's own changes to the test default settings
    /// (several instances on one database, say); `db`, if given, is dropped with it.
    pub async fn spawn_with(
        database_url: &str,
        configure: impl FnOnce(&mut Settings),
        db: Option<TestDatabase>,
    ) -> Self {
        let pool = match &db {
            Some(db) => db.pool(),
            None => Pool::new(Opts::from_url(database_url).unwrap()),
        };
        Self::start(database_url, configure, pool, db).await
    }

    /// The app on a database server the test runs itself (the database is created at start;
    /// it goes with the server).
    pub async fn spawn_on(database_url: &str) -> Self {
        Self::spawn_on_with(database_url, |_| {}).await
    }

    /// [`spawn_on`](Self::spawn_on), with the test's own changes to the test default settings.
    pub async fn spawn_on_with(database_url: &str, configure: impl FnOnce(&mut Settings)) -> Self {
        let opts = Opts::from_url(database_url).unwrap();
        Self::start(database_url, configure, Pool::new(opts), None).await
    }

    async fn start(
        database_url: &str,
        configure: impl FnOnce(&mut Settings),
        pool: Pool,
        db: Option<TestDatabase>,
    ) -> Self {
        init_tracing();
        let mut settings = test_settings(database_url);
        configure(&mut settings);
        let app = Application::build(settings)
            .await
            .unwrap_or_else(|e| panic!("the app did not start: {e:#}"));
        let port = app.port();
        let metrics_port = app.metrics_port();
        let address = format!("http://127.0.0.1:{port}");
        tokio::spawn(app.run_until_stopped());
        Self {
            visitor: Visitor::new(&address, KeepAlive::Yes),
            address,
            port,
            metrics_port,
            pool,
            _db: db,
        }
    }

    /// Another browser, with a cookie jar of its own.
    pub fn new_visitor(&self) -> Visitor {
        Visitor::new(&self.address, KeepAlive::Yes)
    }

    /// A browser that opens a new TCP connection for every request, so that its requests
    /// spread over all the app's workers (each has a database pool of its own) instead of
    /// sticking to one.
    pub fn new_visitor_without_keep_alive(&self) -> Visitor {
        Visitor::new(&self.address, KeepAlive::No)
    }

    /// Register a member from another browser, which stays signed in: a second device.
    pub async fn register_elsewhere(&self, username: &str, name: &str, password: &str) {
        let r = self.new_visitor().register(username, name, password).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "registering {username}");
    }

    /// Sign `username` in from yet another browser: one more device.
    pub async fn sign_in_elsewhere(&self, username: &str, password: &str) {
        let r = self.new_visitor().sign_in(username, password).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "signing {username} in");
    }

    /// A request with a `Cookie` header of the test's own making (no jar).
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> Response {
        bare_client()
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }

    /// Rows in the sessions table, anonymous or signed in.
    pub async fn session_rows(&self) -> u64 {
        self.scalar("SELECT COUNT(*) FROM sessions").await
    }

    /// Session rows of `member`, live or expired, whose `user_id` is the member id byte for
    /// byte (not merely equal under the column's collation).
    pub async fn session_count(&self, member: &str) -> u64 {
        let mut conn = self.pool.get_conn().await.unwrap();
        conn.exec_first(
            "SELECT COUNT(*) FROM sessions WHERE HEX(user_id) = HEX(?)",
            (member,),
        )
        .await
        .unwrap()
        .unwrap()
    }

    /// The handles `/sessions` shows for `member`'s sessions, oldest first.
    pub async fn session_handles(&self, member: &str) -> Vec<String> {
        let mut conn = self.pool.get_conn().await.unwrap();
        conn.exec(
            "SELECT LOWER(HEX(id)) FROM sessions WHERE user_id = ? ORDER BY created_at, id",
            (member,),
        )
        .await
        .unwrap()
    }

    /// Session rows whose stored state contains `text` anywhere.
    pub async fn session_rows_containing(&self, text: &str) -> u64 {
        let mut conn = self.pool.get_conn().await.unwrap();
        conn.exec_first(
            "SELECT COUNT(*) FROM sessions WHERE data LIKE CONCAT('%', ?, '%')",
            (text,),
        )
        .await
        .unwrap()
        .unwrap()
    }

    /// The one number `sql` selects.
    pub async fn scalar(&self, sql: &str) -> u64 {
        let mut conn = self.pool.get_conn().await.unwrap();
        conn.query_first(sql).await.unwrap().unwrap()
    }

    /// The one text `sql` selects.
    pub async fn text(&self, sql: &str) -> String {
        let mut conn = self.pool.get_conn().await.unwrap();
        conn.query_first(sql).await.unwrap().unwrap()
    }

    /// Change the database behind the app's back.
    pub async fn exec(&self, sql: &str) {
        let mut conn = self.pool.get_conn().await.unwrap();
        conn.query_drop(sql).await.unwrap();
    }
}

impl Deref for TestApp {
    type Target = Visitor;

    fn deref(&self) -> &Visitor {
        &self.visitor
    }
}

/// The settings a test app starts from: what `Settings::from_lookup` makes of `DATABASE_URL`
/// = `database_url`, `BIND` = `127.0.0.1:0` (a random port) and a `SESSION_KEY` of its own,
/// nothing else (no variable of this process, no `.env` file).
pub fn test_settings(database_url: &str) -> Settings {
    let key = session_key_b64();
    let defaults = [
        ("DATABASE_URL", database_url),
        ("BIND", "127.0.0.1:0"),
        ("SESSION_KEY", key.as_str()),
        // A test that reads mail starts an SMTP server of its own and points the app at it.
        ("SMTP_URL", "off"),
    ];
    Settings::from_lookup(|name| {
        defaults
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
}

/// A fresh `SESSION_KEY` value: 64 random bytes, base64.
pub fn session_key_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 64]>())
}

/// The app's logs, filtered by `RUST_LOG` (errors only by default), once per test binary;
/// a no-op if the binary has a subscriber of its own already.
pub fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    });
}
