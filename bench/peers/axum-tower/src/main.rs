//! Benchmark peer for bench/run.sh: axum 0.8 + tower-sessions 0.14 with
//! tower-sessions-sqlx-store's `MySqlStore`, written the way the crates' own example and a
//! typical tutorial write it. That is the competition, so it is kept lean on purpose: no CSRF
//! token, no security headers, no sign-in throttle, no cap on sessions, the member in memory
//! (sessions only in MariaDB), tower-sessions' defaults for everything but the cookie.
//!
//!   GET /        signed in: the session row read (one `SELECT data … WHERE id = ? AND
//!                expiry_date > ?`, MessagePack decoded), the member looked up in memory, the
//!                same HTML page as bench/express; anonymous: 303 -> /login
//!   GET /login   a sign-in form
//!   POST /login  form `username` + `password`, argon2id verify (the argon2 crate's defaults,
//!                m=19456 KiB, t=2, p=1, like member-portal), a new session id, 303 -> /
//!   POST /logout the session deleted, 303 -> /login
//!
//! `Expiry::OnInactivity(30 min)` as in the crate's example; without `with_always_save` a page
//! view does not write, so the expiry is not slid (member-portal's idle timeout is). Expired
//! rows are deleted by the example's background task, once a minute. The pool is sqlx's
//! default (10 connections).
//!
//! Environment: PORT (default 3000, on 127.0.0.1), DATABASE_URL
//! (mysql://root@127.0.0.1:3306/bench_axum), SESSION_SCHEMA (the database the session table
//! goes in, default bench_axum: the crate's default `tower_sessions` would need a database of
//! its own).

use std::collections::HashMap;
use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::cookie::time::Duration;
use tower_sessions::session_store::ExpiredDeletion;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::{sqlx::MySqlPool, MySqlStore};

/// The seed's member (`bench`, password `bench password`, no profile), kept in memory.
struct Member {
    id: String,
    name: String,
    profile: Option<String>,
    password_hash: String,
}

type Members = Arc<HashMap<String, Member>>;

fn seed_members() -> Members {
    let salt = SaltString::generate(&mut OsRng);
    let password_hash = Argon2::default()
        .hash_password(b"bench password", &salt)
        .expect("hash the seed's password")
        .to_string();
    let bench = Member {
        id: "bench".into(),
        name: "bench".into(),
        profile: None,
        password_hash,
    };
    Arc::new(HashMap::from([(bench.id.clone(), bench)]))
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, signed_in: bool, content: &str) -> String {
    let nav = if signed_in {
        r#"
      <nav class="nav" aria-label="Account">
        <a href="/">Home</a>
        <form method="post" action="/logout" class="inline">
          <button type="submit" class="link-button">Sign out</button>
        </form>
      </nav>"#
    } else {
        ""
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · Member Portal</title>
  <link rel="stylesheet" href="/static/style.css">
</head>
<body>
  <header class="site-header">
    <div class="bar">
      <a class="brand" href="/"><span class="logo" aria-hidden="true">◆</span> Member Portal</a>{nav}
    </div>
  </header>
  <main class="page">
{content}
  </main>
</body>
</html>
"#,
        title = escape(title),
    )
}

fn home_page(member: &Member) -> String {
    let profile = match &member.profile {
        Some(profile) => escape(profile),
        None => r#"<span class="muted">No profile yet.</span>"#.into(),
    };
    let content = format!(
        r#"<section class="card">
  <h1>Welcome, {name}</h1>
  <dl class="profile">
    <dt>Username</dt><dd>{id}</dd>
    <dt>Display name</dt><dd>{name}</dd>
    <dt>Profile</dt><dd>{profile}</dd>
  </dl>
</section>"#,
        name = escape(&member.name),
        id = escape(&member.id),
    );
    page("Home", true, &content)
}

fn login_page(error: Option<&str>) -> String {
    let alert = error
        .map(|e| format!(r#"<p class="alert error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let content = format!(
        r#"<section class="card narrow">
  <h1>Sign in</h1>
  {alert}
  <form method="post" action="/login" class="stack">
    <label>Username <input name="username" autocomplete="username" required></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
    <button type="submit">Sign in</button>
  </form>
</section>"#
    );
    page("Sign in", false, &content)
}

/// Any session-store failure becomes a plain 500.
struct AppError;

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

impl<E: std::error::Error> From<E> for AppError {
    fn from(_: E) -> Self {
        AppError
    }
}

async fn home(session: Session, State(members): State<Members>) -> Result<Response, AppError> {
    let uid: Option<String> = session.get("uid").await?;
    Ok(match uid.as_deref().and_then(|uid| members.get(uid)) {
        Some(member) => Html(home_page(member)).into_response(),
        None => Redirect::to("/login").into_response(),
    })
}

async fn login_form() -> Html<String> {
    Html(login_page(None))
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn login(
    session: Session,
    State(members): State<Members>,
    Form(Credentials { username, password }): Form<Credentials>,
) -> Result<Response, AppError> {
    let username = username.trim().to_lowercase();
    let ok = match members.get(&username).map(|m| m.password_hash.clone()) {
        Some(hash) => {
            tokio::task::spawn_blocking(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        Argon2::default()
                            .verify_password(password.as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await?
        }
        None => false,
    };
    if !ok {
        let page = login_page(Some("That username and password do not match."));
        return Ok((StatusCode::UNAUTHORIZED, Html(page)).into_response());
    }
    session.cycle_id().await?;
    session.insert("uid", username).await?;
    Ok(Redirect::to("/").into_response())
}

async fn logout(session: Session) -> Result<Redirect, AppError> {
    session.delete().await?;
    Ok(Redirect::to("/login"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/bench_axum".into());
    let schema = std::env::var("SESSION_SCHEMA").unwrap_or_else(|_| "bench_axum".into());

    let pool = MySqlPool::connect(&database_url).await?;
    let store = MySqlStore::new(pool).with_schema_name(schema)?;
    store.migrate().await?;
    let deletion = tokio::task::spawn(
        store
            .clone()
            .continuously_delete_expired(tokio::time::Duration::from_secs(60)),
    );

    let sessions = SessionManagerLayer::new(store)
        .with_name("sid")
        // Plain HTTP on the loopback, as in the example.
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(Duration::minutes(30)));

    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .layer(sessions)
        .with_state(seed_members());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("axum-tower bench peer listening on 127.0.0.1:{port}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("install a SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
    deletion.abort();
    Ok(())
}
