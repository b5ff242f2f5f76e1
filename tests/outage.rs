//! Design §2: "MySQL unreachable: 503 page with `Retry-After`, never an empty 500, and the app
//! recovers by itself when MySQL returns."
//!
//! The test runs a throwaway MariaDB of its own (a temp data dir, a spare port), signs a member
//! in, kills the database under the running app, checks the 503 pages, starts the database
//! again on the same data dir and port, and waits for the member's page to come back with the
//! session from before the outage, without restarting the app.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use member_portal::config::Settings;
use member_portal::startup::Application;
use reqwest::cookie::Jar;
use reqwest::redirect::Policy;
use reqwest::{Response, StatusCode};

const MARIADBD: &str = "/usr/sbin/mariadbd";
const INSTALL_DB: &str = "mariadb-install-db";

/// How long the database may take to accept connections, and the app to recover.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);
/// The most an answer may take while the database is down.
const OUTAGE_ANSWER_DEADLINE: Duration = Duration::from_secs(10);

/// A MariaDB server of the test's own. Dropping it kills the server and removes its data dir,
/// also when the test fails.
#[derive(Debug)]
struct ThrowawayMariaDb {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl ThrowawayMariaDb {
    /// A fresh data dir (system tables only) and a spare port; not started yet.
    fn install() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "member-portal-outage-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // From here on Drop cleans up the dir.
        let db = Self {
            port: spare_port(),
            dir,
            child: None,
        };
        let output = Command::new(INSTALL_DB)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", db.data_dir().display()))
            .arg("--user=root")
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("could not run {INSTALL_DB}: {e}"));
        assert!(
            output.status.success(),
            "{INSTALL_DB} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        db
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn error_log(&self) -> PathBuf {
        self.dir.join("error.log")
    }

    /// `mysql://root@127.0.0.1:PORT` (no database).
    fn server_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// Start `mariadbd` on the data dir and port, and wait until it accepts connections.
    async fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(MARIADBD)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg(format!("--pid-file={}", self.dir.join("pid").display()))
            .arg(format!("--log-error={}", self.error_log().display()))
            .arg("--user=root")
            .arg("--skip-name-resolve")
            .arg("--innodb-buffer-pool-size=16M")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {MARIADBD}: {e}"));
        self.child = Some(child);
        self.wait_until_ready().await;
    }

    async fn wait_until_ready(&mut self) {
        let opts = mysql_async::Opts::from_url(&self.server_url()).unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                self.child = None;
                panic!(
                    "mariadbd exited early ({status}):\n{}",
                    read_lossy(&self.error_log())
                );
            }
            match mysql_async::Conn::new(opts.clone()).await {
                Ok(conn) => {
                    conn.disconnect().await.ok();
                    return;
                }
                Err(e) if started.elapsed() > STARTUP_DEADLINE => panic!(
                    "mariadbd did not accept connections within {STARTUP_DEADLINE:?}: {e}\n{}",
                    read_lossy(&self.error_log())
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Send `signal` (`STOP` or `CONT`) to the server: a frozen server still completes TCP
    /// handshakes (the kernel does) but never answers, like a hung or unreachable host.
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}: {status}");
    }

    /// Kill the server (an outage, not a shutdown) and wait for it to exit.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for ThrowawayMariaDb {
    fn drop(&mut self) {
        self.kill();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A port nobody listens on right now: bind port 0, keep the number, release it.
fn spare_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Settings for the app on `database_url`, on a random port (as in `tests/app/helpers.rs`).
fn settings(database_url: &str) -> Settings {
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 64]>());
    let vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), database_url.into()),
        ("BIND".into(), "127.0.0.1:0".into()),
        ("SESSION_KEY".into(), key),
    ];
    Settings::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .unwrap()
}

/// A browser with a cookie jar. No idle keep-alive connections: every request opens a new
/// TCP connection, so requests spread over all the app's workers (each has a pool of its
/// own) instead of sticking to one.
fn client(jar: &Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_provider(Arc::clone(jar))
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36")
        .build()
        .unwrap()
}

/// The value of the hidden `csrf_token` input in `html`.
fn csrf_in(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("a csrf_token field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Status, headers and body of an answer, and how long it took.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    content_type: String,
    body: String,
    took: Duration,
}

impl Answer {
    async fn from(response: Response, started: Instant) -> Self {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let retry_after = header("retry-after");
        let content_type = header("content-type").unwrap_or_default();
        let status = response.status();
        let body = response.text().await.unwrap();
        Self {
            status,
            retry_after,
            content_type,
            body,
            took: started.elapsed(),
        }
    }

    /// The 503 page of §2: HTML, `Retry-After` in seconds, people's words, no internals.
    fn assert_unavailable_page(&self, what: &str) {
        assert_eq!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {self:?}"
        );
        assert!(
            self.took < OUTAGE_ANSWER_DEADLINE,
            "{what} took {:?}",
            self.took
        );
        let retry_after = self
            .retry_after
            .as_deref()
            .unwrap_or_else(|| panic!("{what}: no Retry-After: {self:?}"));
        assert!(
            retry_after.parse::<u32>().is_ok_and(|s| s > 0),
            "{what}: Retry-After {retry_after:?} is not a number of seconds"
        );
        assert!(
            self.content_type.starts_with("text/html"),
            "{what}: content-type {:?}",
            self.content_type
        );
        assert!(
            self.body.contains("Temporarily unavailable"),
            "{what}: not the 503 page: {}",
            self.body
        );
        let lower = self.body.to_lowercase();
        for internal in [
            "mysql",
            "mariadb",
            "io(",
            "connection refused",
            "driver",
            "error:",
            "timed out",
            "sessionstore",
            "storeerror",
        ] {
            assert!(
                !lower.contains(internal),
                "{what}: the page shows internal text {internal:?}: {}",
                self.body
            );
        }
    }
}

/// Poll the signed-in home page until it greets the member again. Every failed attempt on
/// the way must be the 503 page (never a 500); returns the attempts and what failed.
async fn await_recovery(
    browser: &reqwest::Client,
    home_url: &str,
    since: Instant,
    what: &str,
) -> (u32, Vec<String>) {
    let mut attempts = 0u32;
    let mut failures: Vec<String> = Vec::new();
    loop {
        attempts += 1;
        let home = get(browser, home_url).await;
        if home.status == StatusCode::OK && home.body.contains("Welcome, Ada Outage") {
            return (attempts, failures);
        }
        failures.push(format!(
            "#{attempts} at {:?}: {} in {:?}",
            since.elapsed(),
            home.status,
            home.took
        ));
        home.assert_unavailable_page(&format!("GET / while recovering from {what}"));
        assert!(
            since.elapsed() < RECOVERY_DEADLINE,
            "no recovery from {what} within {RECOVERY_DEADLINE:?}: {failures:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Twelve signed-in requests in a row, spread over every worker, all greeting the member.
async fn assert_steady(browser: &reqwest::Client, home_url: &str, what: &str) {
    let mut failed: Vec<String> = Vec::new();
    for i in 0..12 {
        let home = get(browser, home_url).await;
        if home.status != StatusCode::OK || !home.body.contains("Welcome, Ada Outage") {
            failed.push(format!("#{i}: {} in {:?}", home.status, home.took));
        }
    }
    assert!(failed.is_empty(), "failures {what}: {failed:#?}");
}

async fn get(client: &reqwest::Client, url: &str) -> Answer {
    let started = Instant::now();
    let response = client.get(url).send().await.unwrap();
    Answer::from(response, started).await
}

async fn post(client: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Answer {
    let started = Instant::now();
    let response = client.post(url).form(form).send().await.unwrap();
    Answer::from(response, started).await
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_outage_gives_503_pages_and_the_app_recovers_by_itself() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();

    // 1. A database of our own.
    let mut db = ThrowawayMariaDb::install();
    db.start().await;

    // 2. The app on it, and a member signed in.
    let app = Application::build(settings(&format!("{}/outage_test", db.server_url())))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let url = |path: &str| format!("{base}{path}");

    let jar = Arc::new(Jar::default());
    let browser = client(&jar);
    let token = csrf_in(&get(&browser, &url("/register")).await.body);
    let password = "correct horse battery staple";
    let registered = post(
        &browser,
        &url("/register"),
        &[
            ("csrf_token", token.as_str()),
            ("username", "outage_member"),
            ("name", "Ada Outage"),
            ("password", password),
            ("password_confirm", password),
        ],
    )
    .await;
    assert_eq!(registered.status, StatusCode::SEE_OTHER, "{registered:?}");
    // Several requests over new connections: every worker's pool holds live connections
    // when the database goes away (the stale ones are what recovery must get past).
    for _ in 0..6 {
        let home = get(&browser, &url("/")).await;
        assert_eq!(home.status, StatusCode::OK, "{home:?}");
        assert!(home.body.contains("Welcome, Ada Outage"), "{}", home.body);
    }
    // An anonymous browser's sign-in form, fetched while the database is up.
    let anonymous = client(&Arc::new(Jar::default()));
    let login_form = get(&anonymous, &url("/login")).await;
    assert_eq!(login_form.status, StatusCode::OK);

    // 3. The outage.
    db.kill();
    let outage_started = Instant::now();

    let mut worst = Duration::ZERO;
    for i in 0..4 {
        let home = get(&browser, &url("/")).await;
        home.assert_unavailable_page(&format!("GET / #{i} (signed in) during the outage"));
        worst = worst.max(home.took);
    }
    let health = get(&browser, &url("/healthz")).await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{health:?}");
    assert!(health.retry_after.is_some(), "/healthz: {health:?}");
    assert!(health.took < OUTAGE_ANSWER_DEADLINE, "/healthz: {health:?}");
    worst = worst.max(health.took);

    // The sign-in form needs no database (for a browser without a session cookie).
    let form = get(&anonymous, &url("/login")).await;
    assert_eq!(
        form.status,
        StatusCode::OK,
        "GET /login in the outage: {form:?}"
    );
    assert!(form.took < OUTAGE_ANSWER_DEADLINE, "GET /login: {form:?}");
    let token = csrf_in(&form.body);
    let sign_in = post(
        &anonymous,
        &url("/login"),
        &[
            ("csrf_token", token.as_str()),
            ("username", "outage_member"),
            ("password", password),
            ("next", "/"),
        ],
    )
    .await;
    sign_in.assert_unavailable_page("POST /login during the outage");
    worst = worst.max(sign_in.took);

    // The signed-in browser's GET /login: its session cannot be read, so a 503 page too
    // (not an empty 500).
    let signed_in_form = get(&browser, &url("/login")).await;
    assert_ne!(
        signed_in_form.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{signed_in_form:?}"
    );
    if signed_in_form.status != StatusCode::OK {
        signed_in_form.assert_unavailable_page("GET /login (signed in) during the outage");
    }
    eprintln!(
        "outage: slowest 503 answer {worst:?} (GET /healthz {:?}, POST /login {:?}); \
         GET /login without a session cookie: {} in {:?}, with one: {} in {:?}",
        health.took,
        sign_in.took,
        form.status,
        form.took,
        signed_in_form.status,
        signed_in_form.took
    );

    // 4. The database returns, on the same data dir and port; the app is not restarted.
    db.start().await;
    let db_back = Instant::now();
    eprintln!(
        "outage lasted {:?}; database accepting connections again",
        outage_started.elapsed()
    );

    let (attempts, failures) = await_recovery(&browser, &url("/"), db_back, "the outage").await;
    let recovered_in = db_back.elapsed();
    eprintln!(
        "recovered: GET / answered 200 after {attempts} request(s), {recovered_in:?} after the \
         database came back; failed attempts: {failures:#?}"
    );

    // Recovered for good, on every worker: no stale pooled connection left anywhere.
    assert_steady(&browser, &url("/"), "after recovery").await;
    let health = get(&browser, &url("/healthz")).await;
    assert_eq!(health.status, StatusCode::OK, "{health:?}");
    assert_eq!(health.body, "ok");

    // And signing in works again.
    let form = get(&anonymous, &url("/login")).await;
    let token = csrf_in(&form.body);
    let sign_in = post(
        &anonymous,
        &url("/login"),
        &[
            ("csrf_token", token.as_str()),
            ("username", "outage_member"),
            ("password", password),
            ("next", "/"),
        ],
    )
    .await;
    assert_eq!(sign_in.status, StatusCode::SEE_OTHER, "{sign_in:?}");
    let home = get(&anonymous, &url("/")).await;
    assert_eq!(home.status, StatusCode::OK, "{home:?}");
    assert!(home.body.contains("Welcome, Ada Outage"));

    // 5. A blip: the database restarts while every pool holds connections to the old server
    // and no request comes in between. The first requests afterwards meet only stale pooled
    // connections; they may answer 503, never 500, and the app must be back at once.
    for _ in 0..6 {
        let home = get(&browser, &url("/")).await;
        assert_eq!(home.status, StatusCode::OK, "{home:?}");
    }
    db.kill();
    db.start().await;
    let blip_back = Instant::now();
    let (attempts, failures) = await_recovery(&browser, &url("/"), blip_back, "a blip").await;
    eprintln!(
        "blip: GET / answered 200 after {attempts} request(s), {:?} after the database came \
         back; failed attempts: {failures:#?}",
        blip_back.elapsed()
    );
    assert_steady(&browser, &url("/"), "after the blip").await;

    // 6. A database that hangs instead of refusing: the bounded waits must still give a 503
    // page in seconds, and the app must recover when it answers again (pooled connections
    // were abandoned mid-statement by the timeouts).
    db.signal("STOP");
    let mut slowest = Duration::ZERO;
    for i in 0..3 {
        let home = get(&browser, &url("/")).await;
        home.assert_unavailable_page(&format!("GET / #{i} while the database hangs"));
        slowest = slowest.max(home.took);
    }
    let health = get(&browser, &url("/healthz")).await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{health:?}");
    assert!(health.took < OUTAGE_ANSWER_DEADLINE, "/healthz: {health:?}");
    // (`anonymous` is signed in by now: a browser of its own, without a session cookie.)
    let stranger = client(&Arc::new(Jar::default()));
    let form = get(&stranger, &url("/login")).await;
    assert_eq!(
        form.status,
        StatusCode::OK,
        "GET /login while hung: {form:?}"
    );
    let token = csrf_in(&form.body);
    let sign_in = post(
        &stranger,
        &url("/login"),
        &[
            ("csrf_token", token.as_str()),
            ("username", "outage_member"),
            ("password", password),
        ],
    )
    .await;
    eprintln!(
        "hang: GET / 503 in at most {slowest:?}, GET /healthz {} in {:?}, POST /login {} in {:?}",
        health.status, health.took, sign_in.status, sign_in.took
    );
    sign_in.assert_unavailable_page("POST /login while the database hangs");
    db.signal("CONT");
    let thawed = Instant::now();
    let (attempts, failures) = await_recovery(&browser, &url("/"), thawed, "the hang").await;
    eprintln!(
        "hang over: GET / answered 200 after {attempts} request(s), {:?}; failed attempts: \
         {failures:#?}",
        thawed.elapsed()
    );
    assert_steady(&browser, &url("/"), "after the hang").await;
}
