//! What tests read from the app's pages and answers.

use reqwest::Response;

/// The value of the first hidden input named `name` in `html`, if there is one.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    html[start..].split('"').next().map(str::to_owned)
}

/// The value of the hidden `csrf_token` input in `html`; panics if there is none.
pub fn csrf_in(html: &str) -> String {
    hidden_value(html, "csrf_token").expect("a csrf_token field")
}

/// Where a redirect points (empty if it is none).
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
