//! Browser test: real headless Chromium driven through chromedriver over the W3C WebDriver
//! protocol (spoken directly with `reqwest`), against the real server on a random port and a
//! fresh database. Registers, signs out, signs in, edits the profile, reads the activity page, and
//! takes screenshots of the main pages.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`apt-get install chromium
//! chromium-driver`); without them the test fails, it never skips. Screenshots go to
//! `target/screenshots/`, or to `$SCREENSHOT_DIR` when that is set.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use member_portal::config::Settings;
use member_portal::startup::Application;
use reqwest::Method;
use serde_json::{json, Value};
use test_database::TestDatabase;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key W3C WebDriver uses for element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_sign_out_sign_in_in_a_real_browser() {
    let started = Instant::now();
    let shots = Screenshots::new();
    let app = spawn_app().await;
    let driver = ChromeDriver::start().await;
    let browser = Browser::new(&driver).await;
    let member = ("ada.l", "Ada Lovelace", "analytical engine 1843");

    // The sign-in page, desktop and phone.
    browser.resize(PHONE).await;
    browser.goto(&app.url("/login")).await;
    shots.take(&browser, "login-phone").await;
    browser.resize(DESKTOP).await;
    browser.goto(&app.url("/login")).await;
    assert_eq!(browser.text("h1").await, "Sign in");
    shots.take(&browser, "login-desktop").await;

    // Registration with mismatched passwords: the 422 page names the problem, keeps the input.
    browser.goto(&app.url("/register")).await;
    browser.type_into("#username", member.0).await;
    browser.type_into("#name", member.1).await;
    browser.type_into("#password", member.2).await;
    browser
        .type_into("#password_confirm", "something else entirely")
        .await;
    browser
        .click("form[action='/register'] button[type=submit]")
        .await;
    browser.wait_for("p.alert.error").await;
    let error = browser.text("p.alert.error").await;
    assert!(
        error.to_lowercase().contains("match"),
        "the error should say the passwords do not match: {error:?}"
    );
    assert_eq!(browser.property("#username", "value").await, member.0);
    assert_eq!(browser.property("#name", "value").await, member.1);
    shots.take(&browser, "register-error-desktop").await;

    // Registration that works: signed in, on the home page.
    browser.clear("#username").await;
    browser.type_into("#username", member.0).await;
    browser.clear("#name").await;
    browser.type_into("#name", member.1).await;
    browser.type_into("#password", member.2).await;
    browser.type_into("#password_confirm", member.2).await;
    browser
        .click("form[action='/register'] button[type=submit]")
        .await;
    browser.wait_for_path(&app, "/").await;
    assert_eq!(browser.text("h1").await, format!("Welcome, {}", member.1));

    // Sign out with the header button.
    let sign_out = "header form[action='/logout'] button";
    assert_eq!(browser.text(sign_out).await, "Sign out");
    browser.click(sign_out).await;
    browser.wait_for_path(&app, "/login").await;
    assert!(
        browser.cookie("sid").await.is_none(),
        "signing out clears the session cookie"
    );

    // Sign in again.
    browser.type_into("#username", member.0).await;
    browser.type_into("#password", member.2).await;
    let sign_in = "form[action='/login'] button[type=submit]";
    assert_eq!(browser.text(sign_in).await, "Sign in");
    browser.click(sign_in).await;
    browser.wait_for_path(&app, "/").await;
    assert_eq!(browser.text("h1").await, format!("Welcome, {}", member.1));
    let sid = browser
        .cookie("sid")
        .await
        .expect("a sid cookie once signed in");
    assert_eq!(sid["httpOnly"], json!(true), "sid must be HttpOnly: {sid}");
    shots.take(&browser, "home-desktop").await;

    // The account pages and the 404 page.
    browser.goto(&app.url("/sessions")).await;
    assert!(browser
        .text(".device.current")
        .await
        .contains("This device"));
    shots.take(&browser, "devices-desktop").await;
    browser.goto(&app.url("/account/password")).await;
    assert_eq!(browser.text("h1").await, "Change password");
    shots.take(&browser, "change-password-desktop").await;

    // Profile: linked from the header; the new values show at once.
    browser.click("nav a[href='/account/profile']").await;
    browser.wait_for_path(&app, "/account/profile").await;
    assert_eq!(browser.text("h1").await, "Your profile");
    browser.clear("#name").await;
    browser.type_into("#name", "Ada King").await;
    browser
        .type_into("#profile", "Countess of Lovelace. Wrote the first program.")
        .await;
    shots.take(&browser, "profile-desktop").await;
    browser
        .click("form[action='/account/profile'] button[type=submit]")
        .await;
    browser.wait_for_path(&app, "/").await;
    assert_eq!(browser.text("h1").await, "Welcome, Ada King");
    assert!(browser
        .text(".profile")
        .await
        .contains("Countess of Lovelace"));

    // Security activity: newest first, the profile change on top.
    browser.click("nav a[href='/account/activity']").await;
    browser.wait_for_path(&app, "/account/activity").await;
    assert_eq!(browser.text("h1").await, "Security activity");
    assert_eq!(
        browser.text(".event:first-child strong").await,
        "Profile changed"
    );
    assert!(browser
        .text(".event[data-event='signout']")
        .await
        .contains("Signed out"));
    shots.take(&browser, "activity-desktop").await;

    browser.goto(&app.url("/no/such/page")).await;
    assert_eq!(browser.text(".status").await, "404");
    shots.take(&browser, "not-found-desktop").await;

    // The home page on a phone.
    browser.resize(PHONE).await;
    browser.goto(&app.url("/")).await;
    assert_eq!(browser.text("h1").await, "Welcome, Ada King");
    shots.take(&browser, "home-phone").await;

    browser.quit().await;
    eprintln!(
        "browser test done in {:.1?}; screenshots in {}",
        started.elapsed(),
        shots.dir.display()
    );
}

// ---------------------------------------------------------------------------------------------
// The app (the minimum of tests/app/helpers.rs).

struct TestApp {
    address: String,
    _db: TestDatabase,
}

impl TestApp {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

async fn spawn_app() -> TestApp {
    let db = TestDatabase::create().await;
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 64]>());
    let vars = [
        ("DATABASE_URL", db.url()),
        ("BIND", "127.0.0.1:0".to_owned()),
        ("SESSION_KEY", key),
    ];
    let settings = Settings::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let app = Application::build(settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp { address, _db: db }
}

// ---------------------------------------------------------------------------------------------
// chromedriver, killed on drop.

struct ChromeDriver {
    base: String,
    child: tokio::process::Child,
    profile: PathBuf,
}

impl ChromeDriver {
    async fn start() -> Self {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(path).exists(),
                "{path} not found: apt-get install chromium chromium-driver"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let profile = std::env::temp_dir().join(format!(
            "member-portal-chromium-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let child = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("could not start {CHROMEDRIVER} ({e}): apt-get install chromium chromium-driver")
            });
        let mut driver = Self {
            base: format!("http://127.0.0.1:{port}"),
            child,
            profile,
        };
        driver.wait_until_ready().await;
        driver
    }

    async fn wait_until_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("chromedriver exited at start ({status}): apt-get install chromium chromium-driver");
            }
            if let Ok(response) = client.get(format!("{}/status", self.base)).send().await {
                if let Ok(body) = response.json::<Value>().await {
                    if body["value"]["ready"] == json!(true) {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        self.child.start_kill().ok();
        std::fs::remove_dir_all(&self.profile).ok();
    }
}

// ---------------------------------------------------------------------------------------------
// A WebDriver session, deleted by `quit` or, failing that, on drop.

struct Browser {
    client: reqwest::Client,
    /// `http://127.0.0.1:port/session/{id}`
    session: String,
    quit: bool,
}

impl Browser {
    async fn new(driver: &ChromeDriver) -> Self {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--lang=en-US",
            &format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            &format!("--user-data-dir={}", driver.profile.display()),
        ];
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
                }
            }
        });
        let client = reqwest::Client::new();
        let response = client
            .post(format!("{}/session", driver.base))
            .json(&capabilities)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(
            status.is_success(),
            "could not start Chromium through chromedriver: {status} {body}"
        );
        let id = body["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Self {
            client,
            session: format!("{}/session/{id}", driver.base),
            quit: false,
        }
    }

    /// One WebDriver command; returns its `value`, panics on a WebDriver error.
    async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method.clone(), path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    async fn try_command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == Method::POST {
            request = request.json(&json!({}));
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(body["value"].clone())
        } else {
            Err(format!(
                "{status} {}: {}",
                body["value"]["error"], body["value"]["message"]
            ))
        }
    }

    async fn goto(&self, url: &str) {
        self.command(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn current_url(&self) -> String {
        self.command(Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Make the viewport (what screenshots show) `width` x `height` CSS pixels: size the
    /// window, then grow it by whatever the browser's own frame takes.
    async fn resize(&self, (width, height): (u32, u32)) {
        let set = |w: u64, h: u64| {
            self.command(
                Method::POST,
                "/window/rect",
                Some(json!({ "width": w, "height": h })),
            )
        };
        let (width, height) = (u64::from(width), u64::from(height));
        set(width, height).await;
        let inner = self
            .command(
                Method::POST,
                "/execute/sync",
                Some(json!({
                    "script": "return [window.innerWidth, window.innerHeight]",
                    "args": [],
                })),
            )
            .await;
        let (inner_w, inner_h) = (inner[0].as_u64().unwrap(), inner[1].as_u64().unwrap());
        if (inner_w, inner_h) != (width, height) {
            set(2 * width - inner_w, 2 * height - inner_h).await;
        }
    }

    async fn try_find(&self, css: &str) -> Result<String, String> {
        let found = self
            .try_command(
                Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await?;
        Ok(found[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("{found}"))
            .to_owned())
    }

    async fn find(&self, css: &str) -> String {
        match self.try_find(css).await {
            Ok(element) => element,
            Err(e) => panic!("no element {css:?} on {}: {e}", self.current_url().await),
        }
    }

    /// Wait up to ten seconds for an element to appear.
    async fn wait_for(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.try_find(css).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "{css:?} did not appear on {}",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait up to ten seconds for the browser to be at `path` of the app.
    async fn wait_for_path(&self, app: &TestApp, path: &str) {
        let want = app.url(path);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.current_url().await;
            if url == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected to land on {want}, still on {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(
            Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn clear(&self, css: &str) {
        let element = self.find(css).await;
        self.command(Method::POST, &format!("/element/{element}/clear"), None)
            .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(Method::POST, &format!("/element/{element}/click"), None)
            .await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.command(Method::GET, &format!("/element/{element}/text"), None)
            .await
            .as_str()
            .unwrap()
            .trim()
            .to_owned()
    }

    async fn property(&self, css: &str, name: &str) -> String {
        let element = self.find(css).await;
        self.command(
            Method::GET,
            &format!("/element/{element}/property/{name}"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The named cookie as WebDriver reports it, or `None` if the browser has none.
    async fn cookie(&self, name: &str) -> Option<Value> {
        self.try_command(Method::GET, &format!("/cookie/{name}"), None)
            .await
            .ok()
    }

    async fn screenshot_png(&self) -> Vec<u8> {
        let encoded = self.command(Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap()
    }

    async fn quit(mut self) {
        self.client
            .delete(&self.session)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        self.quit = true;
    }
}

impl Drop for Browser {
    /// After a failure: close Chromium. `drop` cannot await, so the `DELETE` gets a small
    /// runtime of its own on a plain thread.
    fn drop(&mut self) {
        if self.quit {
            return;
        }
        let session = self.session.clone();
        let deleted = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                reqwest::Client::new()
                    .delete(session)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .map(drop)
                    .map_err(std::io::Error::other)
            })
        })
        .join();
        if !matches!(deleted, Ok(Ok(()))) {
            eprintln!("warning: could not delete the WebDriver session");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Screenshots.

struct Screenshots {
    dir: PathBuf,
}

impl Screenshots {
    fn new() -> Self {
        let dir = std::env::var_os("SCREENSHOT_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots"));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("could not create {}: {e}", dir.display()));
        Self { dir }
    }

    async fn take(&self, browser: &Browser, name: &str) {
        let png = browser.screenshot_png().await;
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        let path = self.dir.join(format!("{name}.png"));
        std::fs::write(&path, png)
            .unwrap_or_else(|e| panic!("could not write {}: {e}", path.display()));
    }
}
