//! Prometheus metrics on their own listener (`METRICS_BIND`), never on the main one.

use reqwest::StatusCode;
use test_support::{spawn_app, spawn_app_with, TestApp};

async fn scrape(app: &TestApp) -> String {
    let port = app.metrics_port.expect("METRICS_BIND is set");
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of the sample line starting with `series` (name and labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

#[tokio::test]
async fn sign_ins_requests_and_the_store_are_counted_on_the_metrics_listener() {
    let app = spawn_app_with(|s| s.metrics_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    assert_ne!(app.metrics_port, Some(app.port));

    app.register("una", "Una", "unas long password").await;
    app.sign_out().await;
    let wrong = app.sign_in("una", "not her password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = app.sign_in("una", "unas long password").await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    app.exec(
        "INSERT INTO login_throttle (account, failures, locked_until, last_failure_at)
         VALUES ('vic', 5, UTC_TIMESTAMP(6) + INTERVAL 1 HOUR, UTC_TIMESTAMP(6))",
    )
    .await;
    let throttled = app.new_visitor().sign_in("vic", "any password").await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let path = "/no/such/page/4711";
    assert_eq!(app.get(path).await.status(), StatusCode::NOT_FOUND);

    let text = scrape(&app).await;
    for (outcome, count) in [("success", 1.0), ("failure", 1.0), ("throttled", 1.0)] {
        let series = format!("member_portal_signins_total{{outcome=\"{outcome}\"}}");
        assert_eq!(sample(&text, &series), Some(count), "{series} in\n{text}");
    }
    for (route, status) in [
        ("/login", "2xx"),
        ("/login", "3xx"),
        ("/login", "4xx"),
        ("/", "2xx"),
        ("unmatched", "4xx"),
    ] {
        let series = format!(
            "member_portal_http_request_duration_seconds_count{{route=\"{route}\",status=\"{status}\"}}"
        );
        assert!(
            sample(&text, &series).is_some_and(|n| n >= 1.0),
            "{series} in\n{text}"
        );
    }
    assert!(!text.contains(path), "raw paths never become labels");
    for op in ["load", "save", "delete"] {
        let series = format!("member_portal_session_store_duration_seconds_count{{op=\"{op}\"}}");
        assert!(
            sample(&text, &series).is_some_and(|n| n >= 1.0),
            "{series} in\n{text}"
        );
    }
    assert!(text
        .contains("member_portal_session_store_duration_seconds_bucket{op=\"load\",le=\"0.001\"}"));
    assert_eq!(
        sample(&text, "member_portal_password_hash_queue"),
        Some(0.0)
    );
    // Counted by the background task as it starts: the sessions open then (none or one).
    let active = sample(&text, "member_portal_sessions_active").expect("the gauge");
    assert!(active >= 0.0, "{text}");
}

#[tokio::test]
async fn metrics_are_never_served_on_the_main_listener() {
    let app = spawn_app_with(|s| s.metrics_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("<html"));

    let off = spawn_app().await;
    assert_eq!(off.metrics_port, None, "METRICS_BIND is empty by default");
    assert_eq!(off.get("/metrics").await.status(), StatusCode::NOT_FOUND);
}
