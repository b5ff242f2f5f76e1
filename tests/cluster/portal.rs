//! App instances on the cluster, and browsers to drive them over real HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use member_portal::config::Settings;
use member_portal::startup::Application;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

pub const PASSWORD: &str = "correct horse battery staple";

/// A `SESSION_KEY` value: instances that share one accept each other's cookies.
pub fn session_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 64]>())
}

/// A database name of its own for one scenario.
pub fn database_name(scenario: &str) -> String {
    format!("cluster_{scenario}_{:08x}", rand::random::<u32>())
}

/// A running app instance.
#[derive(Debug, Clone)]
pub struct Instance {
    pub base: String,
}

impl Instance {
    /// Build and start an instance on `database_url` (database included) with `key`.
    pub async fn start(database_url: &str, key: &str, extra: &[(&str, &str)]) -> Self {
        let mut vars: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database_url.into()),
            ("BIND".into(), "127.0.0.1:0".into()),
            ("SESSION_KEY".into(), key.into()),
            // Every browser here comes from 127.0.0.1: the per-IP limit on failed sign-ins
            // would soon refuse them all, and it is not what these tests are about.
            ("LOGIN_IP_LIMIT".into(), "0".into()),
        ];
        vars.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        let settings = Settings::from_lookup(|name| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap();
        let app = Application::build(settings)
            .await
            .unwrap_or_else(|e| panic!("app instance on the cluster did not start: {e:#}"));
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Self { base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Status, a few headers and the body of an answer, and how long it took.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub location: String,
    pub retry_after: Option<String>,
    pub body: String,
    pub took: Duration,
}

impl Answer {
    pub fn is_home_of(&self, name: &str) -> bool {
        self.status == StatusCode::OK && self.body.contains(&format!("Welcome, {name}"))
    }

    pub fn is_redirect_to_login(&self) -> bool {
        self.status == StatusCode::SEE_OTHER && self.location.starts_with("/login")
    }

    /// A one-line description for failure messages (no page body).
    pub fn brief(&self) -> String {
        format!(
            "{} location={:?} retry-after={:?} in {:?}",
            self.status, self.location, self.retry_after, self.took
        )
    }
}

/// A browser: a cookie jar (shared by every instance, as a browser shares cookies across
/// ports of one host) and no keep-alive, so requests spread over the instances' workers.
#[derive(Debug, Clone)]
pub struct Browser {
    jar: Arc<Jar>,
    client: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .cookie_provider(Arc::clone(&jar))
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .user_agent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36")
            .build()
            .unwrap();
        Self { jar, client }
    }

    /// A browser that keeps its connections open (for measuring throughput).
    pub fn keep_alive() -> Self {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .cookie_provider(Arc::clone(&jar))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { jar, client }
    }

    /// A browser that sends `cookie` (a `Cookie` header value) and keeps nothing.
    pub fn replaying(cookie: &str) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("cookie", cookie.parse().unwrap());
        reqwest::Client::builder()
            .redirect(Policy::none())
            .default_headers(headers)
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    /// The `Cookie` header this browser sends to `instance` now.
    pub fn cookie_header(&self, instance: &Instance) -> String {
        let url = instance.base.parse().unwrap();
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    pub async fn get(&self, instance: &Instance, path: &str) -> Answer {
        send(self.client.get(instance.url(path))).await
    }

    pub async fn post(&self, instance: &Instance, path: &str, form: &[(&str, &str)]) -> Answer {
        send(self.client.post(instance.url(path)).form(form)).await
    }

    /// Fetch `form_page` for its CSRF token, then POST `form` (plus the token) to `path`.
    pub async fn submit(
        &self,
        instance: &Instance,
        form_page: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Answer {
        self.try_submit(instance, form_page, path, form)
            .await
            .unwrap_or_else(|page| panic!("GET {form_page} for its form: {}", page.brief()))
    }

    /// [`submit`](Self::submit), or the form page's answer if it is not a 200 with a form.
    pub async fn try_submit(
        &self,
        instance: &Instance,
        form_page: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Answer, Answer> {
        let page = self.get(instance, form_page).await;
        let Some(token) = hidden_value(&page.body, "csrf_token") else {
            return Err(page);
        };
        if page.status != StatusCode::OK {
            return Err(page);
        }
        let mut fields = vec![("csrf_token", token.as_str())];
        fields.extend_from_slice(form);
        Ok(self.post(instance, path, &fields).await)
    }

    pub async fn register(&self, instance: &Instance, username: &str, name: &str) {
        let answer = self
            .submit(
                instance,
                "/register",
                "/register",
                &[
                    ("username", username),
                    ("name", name),
                    ("password", PASSWORD),
                    ("password_confirm", PASSWORD),
                ],
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "register {username}: {}",
            answer.brief()
        );
    }

    /// Sign in; the answer of the form page instead if it has no form (already signed in, or
    /// an error).
    pub async fn sign_in_with(
        &self,
        instance: &Instance,
        username: &str,
        password: &str,
    ) -> Answer {
        self.try_submit(
            instance,
            "/login",
            "/login",
            &[("username", username), ("password", password)],
        )
        .await
        .unwrap_or_else(|page| page)
    }

    /// Sign in and insist on success.
    pub async fn sign_in(&self, instance: &Instance, username: &str) {
        let answer = self.sign_in_with(instance, username, PASSWORD).await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "sign in {username} through {}: {}",
            instance.base,
            answer.brief()
        );
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    let location = header("location").unwrap_or_default();
    let retry_after = header("retry-after");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        location,
        retry_after,
        body,
        took: started.elapsed(),
    }
}

/// GET with a client made by [`Browser::replaying`].
pub async fn get_with(client: &reqwest::Client, instance: &Instance, path: &str) -> Answer {
    send(client.get(instance.url(path))).await
}

/// The value of the first hidden input named `name`, if any.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    html[start..].split('"').next().map(str::to_owned)
}
