//! Browsers that drive the app over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use reqwest::{Response, StatusCode};

use crate::answer::Answer;
use crate::forms::{csrf_in, hidden_value};

/// Desktop Chrome on Linux: what `/sessions` should name "Chrome 130 on Linux".
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                          Chrome/130.0.0.0 Safari/537.36";
/// A hung app fails the test instead of hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeepAlive {
    Yes,
    No,
}

/// A browser: an HTTP client with a cookie jar of its own that does not follow redirects
/// (tests check where they point), at one address of the app.
///
/// The methods that return a [`Response`] panic if no answer comes; the `try_` methods return
/// [`Answer`]s and never panic on what the app answers, for traffic that must go on and count
/// its failures.
#[derive(Debug, Clone)]
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

    /// A browser of the app at `address` that opens a new TCP connection for every request,
    /// so that its requests spread over all the app's workers.
    pub fn at_without_keep_alive(address: &str) -> Self {
        Self::new(address, KeepAlive::No)
    }

    pub(crate) fn new(address: &str, keep_alive: KeepAlive) -> Self {
        Self::with_jar(address, keep_alive, Arc::new(Jar::default()))
    }

    /// Another client on this visitor's cookie jar: another tab of the same browser.
    pub fn sharing_jar(&self) -> Self {
        Self::with_jar(&self.address, KeepAlive::Yes, Arc::clone(&self.jar))
    }

    /// This browser (its cookie jar and its client) at another address: another instance of
    /// the app on this host. Cookies are kept by host, not port, so every instance on
    /// 127.0.0.1 gets the same ones, as in a real browser.
    pub fn on(&self, address: &str) -> Self {
        Self {
            address: address.to_owned(),
            jar: Arc::clone(&self.jar),
            client: self.client.clone(),
        }
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

    /// `http://127.0.0.1:PORT`
    pub fn address(&self) -> &str {
        &self.address
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
        self.submit_with_headers(form_page, path, form, &[]).await
    }

    /// [`submit`](Self::submit), with request headers of the test's own on the POST (an
    /// `Origin`, forwarding headers).
    pub async fn submit_with_headers(
        &self,
        form_page: &str,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Response {
        let token = self.csrf_token(form_page).await;
        let mut fields = vec![("csrf_token", token.as_str())];
        fields.extend_from_slice(form);
        let mut request = self.client.post(self.url(path)).form(&fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    pub async fn register(&self, username: &str, name: &str, password: &str) -> Response {
        self.submit(
            "/register",
            "/register",
            &register_form(username, name, password),
        )
        .await
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Response {
        self.sign_in_with_headers(username, password, &[]).await
    }

    /// [`sign_in`](Self::sign_in), with request headers of the test's own on the POST.
    pub async fn sign_in_with_headers(
        &self,
        username: &str,
        password: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let form = [("username", username), ("password", password)];
        self.submit_with_headers("/login", "/login", &form, headers)
            .await
    }

    /// Sign out through the header form of the home page.
    pub async fn sign_out(&self) -> Response {
        self.submit("/", "/logout", &[]).await
    }

    /// Fetch `form_page` for its CSRF token, then POST `form` (plus the token) to `path`; or
    /// the form page's answer if it is not a 200 with a form.
    pub async fn try_submit(
        &self,
        form_page: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Answer, Answer> {
        let page = Answer::get(self, form_page).await;
        let Some(token) = hidden_value(&page.body, "csrf_token") else {
            return Err(page);
        };
        if page.status != StatusCode::OK {
            return Err(page);
        }
        let mut fields = vec![("csrf_token", token.as_str())];
        fields.extend_from_slice(form);
        Ok(Answer::post(self, path, &fields).await)
    }

    /// Register; the answer of the form page instead if it has no form.
    pub async fn try_register(&self, username: &str, name: &str, password: &str) -> Answer {
        self.try_submit(
            "/register",
            "/register",
            &register_form(username, name, password),
        )
        .await
        .unwrap_or_else(|page| page)
    }

    /// Sign in; the answer of the form page instead if it has no form (already signed in, or
    /// an error).
    pub async fn try_sign_in(&self, username: &str, password: &str) -> Answer {
        let form = [("username", username), ("password", password)];
        self.try_submit("/login", "/login", &form)
            .await
            .unwrap_or_else(|page| page)
    }

    /// The `Cookie` header this browser sends to its address now (empty if none).
    pub fn cookie_header(&self) -> String {
        let url = self.address.parse().unwrap();
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// The raw `sid` cookie value, if the jar has one.
    pub fn sid(&self) -> Option<String> {
        self.cookie_header()
            .split("; ")
            .find_map(|c| c.strip_prefix("sid=").map(str::to_owned))
    }

    /// Drop the `sid` cookie from the jar, as a browser does when the server expires it.
    pub fn forget_sid(&self) {
        let url = self.address.parse().unwrap();
        self.jar.add_cookie_str("sid=; Max-Age=0", &url);
    }
}

fn register_form<'a>(
    username: &'a str,
    name: &'a str,
    password: &'a str,
) -> [(&'a str, &'a str); 4] {
    [
        ("username", username),
        ("name", name),
        ("password", password),
        ("password_confirm", password),
    ]
}

/// A client that sends only the headers it is given: no cookie jar, no user agent.
pub fn bare_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap()
}
