//! Answers read whole and timed.

use std::time::{Duration, Instant};

use reqwest::{RequestBuilder, StatusCode};

use crate::visitor::Visitor;

/// The status, the headers tests look at and the body of an answer, and how long it took
/// (from sending the request to the end of the body).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    /// Where a redirect points (empty if it is none).
    pub location: String,
    pub retry_after: Option<String>,
    /// Empty if there is none.
    pub content_type: String,
    pub body: String,
    pub took: Duration,
}

impl Answer {
    /// Send `request` and read its answer.
    pub async fn send(request: RequestBuilder) -> Self {
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
        let content_type = header("content-type").unwrap_or_default();
        let status = response.status();
        let body = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("the body of a {status} answer did not arrive: {e}"));
        Self {
            status,
            location,
            retry_after,
            content_type,
            body,
            took: started.elapsed(),
        }
    }

    /// `GET path` as `visitor`.
    pub async fn get(visitor: &Visitor, path: &str) -> Self {
        Self::send(visitor.client.get(visitor.url(path))).await
    }

    /// `POST path` of `form` as it is (no token added) as `visitor`.
    pub async fn post(visitor: &Visitor, path: &str, form: &[(&str, &str)]) -> Self {
        Self::send(visitor.client.post(visitor.url(path)).form(form)).await
    }

    /// A signed-in home page greeting `name` ("Welcome, {name}").
    pub fn greets(&self, name: &str) -> bool {
        self.status == StatusCode::OK && self.body.contains(&format!("Welcome, {name}"))
    }

    /// A redirect to the sign-in page: not signed in (any more).
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
