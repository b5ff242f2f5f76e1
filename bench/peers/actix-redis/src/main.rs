//! Benchmark peer for bench/run.sh: actix-web 4 + actix-session 0.11 with its `RedisSessionStore`,
//! written the way a typical tutorial writes it. That is the competition, so it is kept lean on
//! purpose: no CSRF token, no security headers, no sign-in throttle, no cap on sessions, the
//! member in memory (no database), actix-session's defaults for everything but the cookie.
//!
//!   GET /        signed in: the session read from Redis (one `GET`), the member looked up in
//!                memory, the same HTML page as bench/express; anonymous: 303 -> /login
//!   GET /login   a sign-in form
//!   POST /login  form `username` + `password`, argon2id verify (the argon2 crate's defaults,
//!                m=19456 KiB, t=2, p=1, like member-portal), a new session id, 303 -> /
//!   POST /logout the session purged, 303 -> /login
//!
//! actix-session's default lifecycle (a browser-session cookie, state kept 1 day in Redis,
//! TTL extended only when the state changes) means a page view does not write: the TTL is not
//! slid, unlike member-portal's idle timeout.
//!
//! Environment: PORT (default 3000, on 127.0.0.1), REDIS_URL (redis://127.0.0.1:6379).
//! The cookie key is random per start, so sessions do not survive a restart.

use std::collections::HashMap;
use std::sync::Arc;

use actix_session::{storage::RedisSessionStore, Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::http::header::LOCATION;
use actix_web::{get, post, web, App, HttpResponse, HttpServer, Responder};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};
use serde::Deserialize;

/// The seed's member (`bench`, password `bench password`, no profile), kept in memory.
struct Member {
    id: String,
    name: String,
    profile: Option<String>,
    password_hash: String,
}

struct Members(HashMap<String, Member>);

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
    Members(HashMap::from([(bench.id.clone(), bench)]))
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

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

#[get("/")]
async fn home(session: Session, members: web::Data<Members>) -> actix_web::Result<HttpResponse> {
    let uid: Option<String> = session.get("uid")?;
    match uid.as_deref().and_then(|uid| members.0.get(uid)) {
        Some(member) => Ok(html(home_page(member))),
        None => Ok(see_other("/login")),
    }
}

#[get("/login")]
async fn login_form() -> impl Responder {
    html(login_page(None))
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[post("/login")]
async fn login(
    session: Session,
    members: web::Data<Members>,
    form: web::Form<Credentials>,
) -> actix_web::Result<HttpResponse> {
    let Credentials { username, password } = form.into_inner();
    let username = username.trim().to_lowercase();
    let hash = members.0.get(&username).map(|m| m.password_hash.clone());
    let ok = match hash {
        Some(hash) => {
            web::block(move || {
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
        return Ok(HttpResponse::Unauthorized()
            .content_type("text/html; charset=utf-8")
            .body(login_page(Some("That username and password do not match."))));
    }
    session.renew();
    session.insert("uid", username)?;
    Ok(see_other("/"))
}

#[post("/logout")]
async fn logout(session: Session) -> impl Responder {
    session.purge();
    see_other("/login")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = RedisSessionStore::new(redis_url)
        .await
        .map_err(std::io::Error::other)?;
    let key = Key::generate();
    let members = web::Data::from(Arc::new(seed_members()));

    println!("actix-redis bench peer listening on 127.0.0.1:{port}");
    HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), key.clone())
                    .cookie_name("sid".into())
                    // Plain HTTP on the loopback, as in a tutorial's local set-up.
                    .cookie_secure(false)
                    .build(),
            )
            .app_data(members.clone())
            .service(home)
            .service(login_form)
            .service(login)
            .service(logout)
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
