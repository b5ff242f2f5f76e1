//! The app under test on a random port, and visitors that drive it over real HTTP.

use std::ops::Deref;
use std::sync::{Arc, Once};
use std::time::Duration;

use base64::Engine;
use member_portal::config::Settings;
use member_portal::startup::Application;
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, Pool};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use reqwest::{Response, StatusCode};
use test_database::TestDatabase;

/// Desktop Chrome on Linux: what `/sessions` should name "Chrome 130 on Linux".
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                          Chrome/130.0.0.0 Safari/537.36";
/// A hung app fails the test instead of hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The app on a fresh database of its own, on a random port.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The app on a fresh database, with settings of the test's own (`("SESSION_TOUCH_INTERVAL",
/// "1s")`) on top of the test defaults.
pub async fn spawn_app_with(env: &[(&str, &str)]) -> TestApp {
    let db = TestDatabase::create().await;
    let url = db.url();
    let pool = db.pool();
    TestApp::start(&url, env, pool, Some(db)).await
}

/// A running app and its first visitor: `app.get(..)`, `app.sign_in(..)` and the other
/// [`Visitor`] methods are what that visitor sees.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub port: u16,
    /// The metrics listener's port, with `METRICS_BIND` set.
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
        Self::start(database_url, &[], pool, Some(db)).await
    }

    /// The app on `database_url` with settings of the test's own on top of the defaults
    /// (several instances on one database, say); `db`, if given, is dropped with it.
    pub async fn spawn_with(
        database_url: &str,
        env: &[(&str, &str)],
        db: Option<TestDatabase>,
    ) -> Self {
        let pool = match &db {
            Some(db) => db.pool(),
            None => Pool::new(Opts::from_url(database_url).unwrap()),
        };
        Self::start(database_url, env, pool, db).await
    }

    /// The app on a database server the test runs itself (the database is created at start).
    pub async fn spawn_on(database_url: &str) -> Self {
        let opts = Opts::from_url(database_url).unwrap();
        Self::start(database_url, &[], Pool::new(opts), None).await
    }

    async fn start(
        database_url: &str,
        env: &[(&str, &str)],
        pool: Pool,
        db: Option<TestDatabase>,
    ) -> Self {
        init_tracing();
        let app = Application::build(settings(database_url, env))
            .await
            .unwrap();
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeepAlive {
    Yes,
    No,
}

/// A browser: an HTTP client with a cookie jar of its own that does not follow redirects
/// (tests check where they point).
pub struct Visitor {
    address: String,
    jar: Arc<Jar>,
    /// For requests the methods below do not make (odd headers, bodies that are no form).
    pub client: reqwest::Client,
}

impl Visitor {
    /// A browser of the app at `address` (`http://127.0.0.1:PORT`), e.g. the real binary.
    pub fn at(address: &str) -> Self {
        Self::new(address, KeepAlive::Yes)
    }

    fn new(address: &str, keep_alive: KeepAlive) -> Self {
        Self::with_jar(address, keep_alive, Arc::new(Jar::default()))
    }

    /// Another client on this visitor's cookie jar: another tab of the same browser.
    pub fn sharing_jar(&self) -> Self {
        Self::with_jar(&self.address, KeepAlive::Yes, Arc::clone(&self.jar))
    }

    fn with_jar(address: &str, keep_alive: KeepAlive, jar: Arc<Jar>) -> Self {
        let mut builder = reqwest::Client::builder()
            .redirect(Policy::none())
            .cookie_provider(Arc::clone(&jar))
            .timeout(REQUEST_TIMEOUT)
            .user_agent(USER_AGENT);
        if keep_alive == KeepAlive::No {
            builder = builder.pool_max_idle_per_host(0);
        }
        Self {
            address: address.to_owned(),
            jar,
            client: builder.build().unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_html(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// POST a raw `application/x-www-form-urlencoded` body (for bodies `.form()` cannot make).
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// POST `form` as it is: no token added.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token of the form on the page at `form_page`.
    pub async fn csrf_token(&self, form_page: &str) -> String {
        csrf_in(&self.get_html(form_page).await)
    }

    /// Fill in the form on the page at `form_page` and POST it to `path`, with its token.
    pub async fn submit(&self, form_page: &str, path: &str, form: &[(&str, &str)]) -> Response {
        let token = self.csrf_token(form_page).await;
        let mut fields = vec![("csrf_token", token.as_str())];
        fields.extend_from_slice(form);
        self.post(path, &fields).await
    }

    pub async fn register(&self, username: &str, name: &str, password: &str) -> Response {
        let form = [
            ("username", username),
            ("name", name),
            ("password", password),
            ("password_confirm", password),
        ];
        self.submit("/register", "/register", &form).await
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Response {
        let form = [("username", username), ("password", password)];
        self.submit("/login", "/login", &form).await
    }

    /// Sign out through the header form of the home page.
    pub async fn sign_out(&self) -> Response {
        self.submit("/", "/logout", &[]).await
    }

    /// The raw `sid` cookie value, if the jar has one.
    pub fn sid(&self) -> Option<String> {
        let url = self.address.parse().unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .unwrap()
            .split("; ")
            .find_map(|c| c.strip_prefix("sid=").map(str::to_owned))
    }

    /// Drop the `sid` cookie from the jar, as a browser does when the server expires it.
    pub fn forget_sid(&self) {
        let url = self.address.parse().unwrap();
        self.jar.add_cookie_str("sid=; Max-Age=0", &url);
    }
}

/// A client that sends only the headers it is given: no cookie jar, no user agent.
pub fn bare_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap()
}

/// A fresh `SESSION_KEY`: 64 random bytes, base64.
pub fn session_key_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 64]>())
}

/// The value of the hidden `csrf_token` input in `html`.
pub fn csrf_in(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("a csrf_token field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Where a redirect points (empty if it is none).
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Settings for an app on `database_url`, on a random port, with a session key of its own;
/// `env` comes on top.
fn settings(database_url: &str, env: &[(&str, &str)]) -> Settings {
    let key = session_key_b64();
    let defaults = [
        ("DATABASE_URL", database_url),
        ("BIND", "127.0.0.1:0"),
        ("SESSION_KEY", key.as_str()),
    ];
    Settings::from_lookup(|name| {
        env.iter()
            .chain(&defaults)
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
}

/// The app's logs, filtered by `RUST_LOG` (errors only by default), once per test binary.
fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .init();
    });
}
