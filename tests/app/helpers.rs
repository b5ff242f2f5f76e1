//! The harness: spawn the app against a fresh database, drive it over HTTP.

#![allow(dead_code)]

use std::sync::Arc;

use base64::Engine;
use member_portal::config::Settings;
use member_portal::startup::Application;
use mysql_async::prelude::Queryable;
use mysql_async::Pool;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use reqwest::{Response, StatusCode};
use test_database::TestDatabase;

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub db: TestDatabase,
    pub pool: Pool,
    pub jar: Arc<Jar>,
    pub client: reqwest::Client,
}

pub fn session_key_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 64]>())
}

/// Settings for a test app on `database_url`, on a random port.
pub fn settings(database_url: &str, extra: &[(&str, &str)]) -> Settings {
    let key = session_key_b64();
    let mut vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), database_url.into()),
        ("BIND".into(), "127.0.0.1:0".into()),
        ("SESSION_KEY".into(), key),
    ];
    vars.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    Settings::from_lookup(|name| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let db = TestDatabase::create().await;
    let app = Application::build(settings(&db.url(), extra))
        .await
        .unwrap();
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let jar = Arc::new(Jar::default());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        pool: db.pool(),
        db,
        client: client(&jar),
        jar,
    }
}

pub fn client(jar: &Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_provider(Arc::clone(jar))
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36")
        .build()
        .unwrap()
}

/// The value of the hidden `csrf_token` input in `html`.
pub fn csrf_in(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("a csrf_token field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_html(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// POST `form` to `path` with the CSRF token of the page at `form_page`.
    pub async fn submit(&self, form_page: &str, path: &str, form: &[(&str, &str)]) -> Response {
        self.submit_as(&self.client, form_page, path, form).await
    }

    pub async fn register(&self, username: &str, name: &str, password: &str) -> Response {
        self.submit(
            "/register",
            "/register",
            &[
                ("username", username),
                ("name", name),
                ("password", password),
                ("password_confirm", password),
            ],
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.submit(
            "/login",
            "/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    /// Sign out through the header form of the home page.
    pub async fn logout(&self) -> Response {
        self.submit("/", "/logout", &[]).await
    }

    /// POST `form` to `path` from `client`, with the CSRF token of its page at `form_page`.
    pub async fn submit_as(
        &self,
        client: &reqwest::Client,
        form_page: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Response {
        let page = client.get(self.url(form_page)).send().await.unwrap();
        let token = csrf_in(&page.text().await.unwrap());
        let mut fields = vec![("csrf_token", token.as_str())];
        fields.extend_from_slice(form);
        client
            .post(self.url(path))
            .form(&fields)
            .send()
            .await
            .unwrap()
    }

    /// Register a member from another client, which stays signed in: a second device.
    pub async fn member(&self, username: &str, name: &str, password: &str) {
        let form = [
            ("username", username),
            ("name", name),
            ("password", password),
            ("password_confirm", password),
        ];
        let r = self
            .submit_as(&self.other_client(), "/register", "/register", &form)
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }

    /// Sign `username` in from yet another client: one more device.
    pub async fn member_again(&self, username: &str, password: &str) {
        let form = [("username", username), ("password", password)];
        let r = self
            .submit_as(&self.other_client(), "/login", "/login", &form)
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }

    /// A client with a cookie jar of its own: another browser.
    pub fn other_client(&self) -> reqwest::Client {
        client(&Arc::new(Jar::default()))
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

    pub async fn session_rows(&self) -> u64 {
        self.count("SELECT COUNT(*) FROM sessions").await
    }

    pub async fn count(&self, sql: &str) -> u64 {
        let mut conn = self.pool.get_conn().await.unwrap();
        conn.query_first::<u64, _>(sql).await.unwrap().unwrap()
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

    /// The anonymous CSRF token of this client's sign-in form.
    pub async fn login_token(&self) -> String {
        csrf_in(&self.get_html("/login").await)
    }

    pub async fn exec(&self, sql: &str) {
        let mut conn = self.pool.get_conn().await.unwrap();
        conn.query_drop(sql).await.unwrap();
    }
}

/// Send a request with a `Cookie` header of our own making (no jar).
pub async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> Response {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}
