//! Clients that send a request head and then trickle or stall the body: each gets a 408 and
//! a closed connection within the body's time limit, and nobody else waits for them; one with
//! no cookie a CSRF token could match gets its 403 at once, its body unread.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use test_support::{bare_client, spawn_app, TestApp};

/// `BODY_TIMEOUT` in the app, plus room for a loaded machine.
const BOUND: Duration = Duration::from_secs(10 + 8);

/// A sign-in POST head that promises 60,000 bytes of body, with `cookie` (the anonymous CSRF
/// cookie, as a browser that loaded the form has; without one the POST is refused unread).
fn head(port: u16, cookie: &str) -> String {
    format!(
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n"
    )
}

/// The cookies `GET /login` sets, as a `Cookie` header's value.
async fn form_cookies(app: &TestApp) -> String {
    let r = bare_client().get(app.url("/login")).send().await.unwrap();
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    assert!(!cookies.is_empty(), "the sign-in form sets its CSRF cookie");
    cookies.join("; ")
}

/// Read until the server closes the connection; what it sent, and when it closed.
async fn read_to_close(stream: &mut TcpStream, started: Instant) -> (String, Duration) {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        BOUND + Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server never closed the connection");
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn stalled_bodies_get_408_and_a_closed_connection_while_others_are_served() {
    let app = spawn_app().await;
    let cookie = form_cookies(&app).await;
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
        stream
            .write_all(head(app.port, &cookie).as_bytes())
            .await
            .unwrap();
        stream.write_all(b"ab").await.unwrap();
        stalled.push(stream);
    }
    // Meanwhile the site answers everyone else at once.
    let quick = Instant::now();
    assert_eq!(app.get("/login").await.status(), StatusCode::OK);
    assert!(
        quick.elapsed() < Duration::from_secs(2),
        "{:?}",
        quick.elapsed()
    );

    let mut tasks = tokio::task::JoinSet::new();
    for mut stream in stalled {
        tasks.spawn(async move { read_to_close(&mut stream, started).await });
    }
    while let Some(done) = tasks.join_next().await {
        let (answer, took) = done.unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(took < BOUND, "closed after {took:?}");
    }
}

#[tokio::test]
async fn a_trickling_body_is_cut_off_at_the_time_limit() {
    let app = spawn_app().await;
    let cookie = form_cookies(&app).await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    stream
        .write_all(head(app.port, &cookie).as_bytes())
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // One byte every 200 ms: 60,000 bytes would take over three hours.
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        BOUND + Duration::from_secs(10),
        reader.read_to_end(&mut answer),
    )
    .await
    .expect("the server never closed the connection");
    let took = started.elapsed();
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        took >= Duration::from_secs(9) && took < BOUND,
        "closed after {took:?}"
    );
}

#[tokio::test]
async fn a_stalled_body_with_no_cookie_is_refused_at_once_unread() {
    let app = spawn_app().await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    stream
        .write_all(head(app.port, "").as_bytes())
        .await
        .unwrap();
    stream.write_all(b"ab").await.unwrap();
    let (answer, took) = read_to_close(&mut stream, started).await;
    // Nothing a token could match: 403 before the body is waited for, not 408 after 10 s.
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
}
