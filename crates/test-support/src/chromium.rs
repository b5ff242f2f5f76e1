//! Real headless Chromium, driven through chromedriver (WebDriver) with `fantoccini`.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::spare_port;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL: &str = "apt-get install chromium chromium-driver";
/// How long chromedriver may take to start, and a page to show what a test waits for.
const DRIVER_DEADLINE: Duration = Duration::from_secs(20);
const PAGE_DEADLINE: Duration = Duration::from_secs(10);

/// A headless Chromium of the test's own: chromedriver on a spare port, a fresh profile.
/// Dropping it (also when the test fails) closes the browser, stops chromedriver and removes
/// the profile.
#[derive(Debug)]
pub struct Chromium {
    client: fantoccini::Client,
    _driver: ChromeDriver,
}

impl Chromium {
    /// Start chromedriver and, through it, Chromium with a `window`-sized viewport.
    pub async fn start(window: (u32, u32)) -> Self {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(Path::new(path).exists(), "{path} not found: {INSTALL}");
        }
        let mut driver = ChromeDriver::start();
        driver.wait_until_ready().await;
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities(window, &driver.profile));
        let client = builder
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| panic!("could not start Chromium through chromedriver: {e}"));
        let chromium = Self {
            client,
            _driver: driver,
        };
        chromium.resize(window).await;
        chromium
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("could not open {url}: {e}"));
    }

    pub async fn current_url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Make the viewport (what screenshots show) `width` x `height` CSS pixels: size the
    /// window, then grow it by whatever the browser's own frame takes.
    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.client.set_window_size(width, height).await.unwrap();
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight]", vec![])
            .await
            .unwrap();
        let inner = |i: usize| u32::try_from(inner[i].as_u64().unwrap()).unwrap();
        let (inner_width, inner_height) = (inner(0), inner(1));
        if (inner_width, inner_height) != (width, height) {
            self.client
                .set_window_size(2 * width - inner_width, 2 * height - inner_height)
                .await
                .unwrap();
        }
    }

    async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no element {css:?} on {}: {e}", self.current_url().await),
        }
    }

    /// Wait for an element to appear.
    pub async fn wait_for(&self, css: &str) {
        if let Err(e) = self
            .client
            .wait()
            .at_most(PAGE_DEADLINE)
            .for_element(Locator::Css(css))
            .await
        {
            panic!(
                "{css:?} did not appear on {}: {e}",
                self.current_url().await
            );
        }
    }

    /// Wait for the browser to land on `url`.
    pub async fn wait_for_url(&self, url: &str) {
        let deadline = Instant::now() + PAGE_DEADLINE;
        loop {
            let current = self.current_url().await;
            if current == url {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected to land on {url}, still on {current}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.unwrap();
    }

    pub async fn clear(&self, css: &str) {
        self.find(css).await.clear().await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// The element's text as shown, trimmed.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap().trim().to_owned()
    }

    /// A DOM property, such as an input's current `value`.
    pub async fn property(&self, css: &str, name: &str) -> String {
        self.find(css)
            .await
            .prop(name)
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// The named cookie as the browser keeps it, or `None` if it has none.
    pub async fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        match self.client.get_named_cookie(name).await {
            Ok(cookie) => Some(cookie),
            Err(e) if e.is_no_such_cookie() => None,
            Err(e) => panic!("could not read cookie {name}: {e}"),
        }
    }

    /// The viewport as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        png
    }

    /// End the WebDriver session: Chromium exits.
    pub async fn quit(&self) {
        self.client.clone().close().await.unwrap();
    }
}

/// The chromedriver process and Chromium's profile dir.
#[derive(Debug)]
struct ChromeDriver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl ChromeDriver {
    fn start() -> Self {
        let profile = std::env::temp_dir().join(format!(
            "member-portal-chromium-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let port = spare_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {CHROMEDRIVER} ({e}): {INSTALL}"));
        Self {
            child,
            port,
            profile,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_until_ready(&mut self) {
        let client = reqwest::Client::new();
        let status = format!("{}/status", self.url());
        let started = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!("chromedriver exited at start ({exit}): {INSTALL}");
            }
            if let Ok(response) = client.get(&status).send().await {
                let body = response.text().await.unwrap_or_default();
                let body: Value = serde_json::from_str(&body).unwrap_or_default();
                if body["value"]["ready"] == json!(true) {
                    return;
                }
            }
            assert!(
                started.elapsed() < DRIVER_DEADLINE,
                "chromedriver was not ready within {DRIVER_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ChromeDriver {
    /// After a failure the WebDriver session is still open, and the test's runtime no longer
    /// runs the task that would end it: chromedriver's own shutdown command closes every
    /// browser it started, then it exits.
    fn drop(&mut self) {
        let shutdown = format!(
            "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        let asked = TcpStream::connect(("127.0.0.1", self.port))
            .and_then(|mut stream| stream.write_all(shutdown.as_bytes()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while asked.is_ok() && Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.profile).ok();
    }
}

/// Headless Chromium at `CHROMIUM` with a fresh `profile`, quiet (no first-run pages, no
/// background traffic), in English.
fn capabilities(window: (u32, u32), profile: &Path) -> serde_json::Map<String, Value> {
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--hide-scrollbars".to_owned(),
        "--lang=en-US".to_owned(),
        format!("--window-size={},{}", window.0, window.1),
        format!("--user-data-dir={}", profile.display()),
    ];
    let Value::Object(capabilities) = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    }) else {
        unreachable!("a JSON object literal")
    };
    capabilities
}
