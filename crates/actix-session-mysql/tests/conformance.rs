//! Acceptance suite through the real `actix_session::SessionMiddleware`, in the shape of
//! actix-session's own `test_helpers::acceptance_test_suite`, run for both cookie content
//! security policies against a real MySQL/MariaDB. Besides what the client sees, every scenario
//! checks what is in the table.

#![allow(clippy::unwrap_used)]

mod common;

use actix_session::config::{
    BrowserSession, CookieContentSecurity, PersistentSession, SessionLifecycle, TtlExtensionPolicy,
};
use actix_session::storage::SessionKey;
use actix_session::{Session, SessionMiddleware};
use actix_session_mysql::MySqlSessionStore;
use actix_web::cookie::{time, Cookie, CookieJar, Key};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpResponse};
use common::{count, digest, expire, expires_in_secs, row_of, rows, set_row};
use mysql_async::{OptsBuilder, Pool};
use serde_json::{json, Value};
use test_database::TestDatabase;

const TABLE: &str = "sessions";
const COOKIE: &str = "id";

// ---------------------------------------------------------------------------------------------
// The application under test
// ---------------------------------------------------------------------------------------------

async fn index(session: Session) -> HttpResponse {
    let user_id: Option<String> = session.get("user_id").unwrap();
    let counter: i32 = session.get("counter").unwrap_or(Some(0)).unwrap_or(0);
    HttpResponse::Ok().json(json!({ "user_id": user_id, "counter": counter }))
}

async fn do_something(session: Session) -> actix_web::Result<HttpResponse> {
    let user_id: Option<String> = session.get("user_id").unwrap();
    let counter: i32 = session
        .get::<i32>("counter")
        .unwrap_or(Some(0))
        .map_or(1, |c| c + 1);
    session.insert("counter", counter)?;
    Ok(HttpResponse::Ok().json(json!({ "user_id": user_id, "counter": counter })))
}

async fn login(user: web::Path<String>, session: Session) -> actix_web::Result<HttpResponse> {
    session.insert("user_id", user.as_str())?;
    session.renew();
    let counter: i32 = session.get("counter").unwrap_or(Some(0)).unwrap_or(0);
    Ok(HttpResponse::Ok().json(json!({ "user_id": user.as_str(), "counter": counter })))
}

async fn logout(session: Session) -> HttpResponse {
    match session.get::<String>("user_id").unwrap() {
        Some(id) => {
            session.purge();
            HttpResponse::Ok().body(format!("Logged out: {id}"))
        }
        None => HttpResponse::Ok().body("Could not log out anonymous user"),
    }
}

/// A store whose `user_id` column follows the `user_id` state key used by the handlers.
async fn store(db: &TestDatabase) -> MySqlSessionStore {
    MySqlSessionStore::builder(db.pool())
        .user_id_key("user_id")
        .build()
        .await
        .unwrap()
}

macro_rules! app {
    ($store:expr, $key:expr, $policy:expr, $lifecycle:expr) => {
        app!($store, $key, $policy, $lifecycle, |b| b)
    };
    ($store:expr, $key:expr, $policy:expr, $lifecycle:expr, $customize:expr) => {
        test::init_service(
            App::new()
                .wrap(
                    ($customize)(
                        SessionMiddleware::builder($store, $key.clone())
                            .cookie_name(COOKIE.to_owned())
                            .cookie_content_security($policy)
                            .session_lifecycle($lifecycle),
                    )
                    .build(),
                )
                .route("/", web::get().to(index))
                .route("/do_something", web::post().to(do_something))
                .route("/login/{user}", web::post().to(login))
                .route("/logout", web::post().to(logout))
                .route(
                    "/untouched",
                    web::get().to(|| async { "no-changes-in-session" }),
                ),
        )
        .await
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn cookie_of(res: &ServiceResponse, name: &str) -> Option<Cookie<'static>> {
    res.response()
        .cookies()
        .find(|c| c.name() == name)
        .map(Cookie::into_owned)
}

fn session_cookie(res: &ServiceResponse) -> Option<Cookie<'static>> {
    cookie_of(res, COOKIE)
}

/// The session key inside a cookie, verified or decrypted with `key`.
fn session_key_in(cookie: &Cookie<'_>, policy: CookieContentSecurity, key: &Key) -> SessionKey {
    let mut jar = CookieJar::new();
    jar.add_original(cookie.clone().into_owned());
    let plain = match policy {
        CookieContentSecurity::Signed => jar.signed(key).get(cookie.name()),
        CookieContentSecurity::Private => jar.private(key).get(cookie.name()),
    }
    .expect("the cookie verifies");
    SessionKey::try_from(plain.value().to_owned()).unwrap()
}

/// A cookie the middleware accepts (signed or encrypted with `key`) naming `session_key`.
fn forge(policy: CookieContentSecurity, key: &Key, session_key: &str) -> Cookie<'static> {
    let mut jar = CookieJar::new();
    let cookie = Cookie::new(COOKIE, session_key.to_owned());
    match policy {
        CookieContentSecurity::Signed => jar.signed_mut(key).add(cookie),
        CookieContentSecurity::Private => jar.private_mut(key).add(cookie),
    }
    jar.get(COOKIE).unwrap().clone()
}

fn anonymous() -> Value {
    json!({ "user_id": null, "counter": 0 })
}

fn persistent(ttl: time::Duration) -> SessionLifecycle {
    PersistentSession::default().session_ttl(ttl).into()
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Insert a value, read it back with the cookie; the row is keyed by SHA-256 of the key.
async fn basic_flow(policy: CookieContentSecurity) {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = store.pool().clone();
    let key = Key::generate();
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(store, key.clone())
                    .cookie_path("/test/".into())
                    .cookie_name("actix-test".into())
                    .cookie_domain(Some("localhost".into()))
                    .cookie_content_security(policy)
                    .session_lifecycle(persistent(time::Duration::seconds(100)))
                    .build(),
            )
            .service(web::resource("/").to(|ses: Session| async move {
                ses.insert("counter", 100).unwrap();
                "test"
            }))
            .service(web::resource("/test/").to(|ses: Session| async move {
                let val: usize = ses.get("counter").unwrap().unwrap();
                format!("counter: {val}")
            })),
    )
    .await;

    let res = test::call_service(&app, test::TestRequest::get().to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = cookie_of(&res, "actix-test").expect("a session cookie");
    assert_eq!(cookie.path(), Some("/test/"));
    assert_eq!(cookie.max_age(), Some(time::Duration::seconds(100)));

    let req = test::TestRequest::with_uri("/test/")
        .cookie(cookie.clone())
        .to_request();
    assert_eq!(
        test::call_and_read_body(&app, req).await,
        web::Bytes::from_static(b"counter: 100")
    );

    let table = rows(&pool, TABLE).await;
    assert_eq!(table.len(), 1);
    let session_key = session_key_in(&cookie, policy, &key);
    assert_eq!(table[0].0, hex::encode_upper(digest(&session_key)));
    // The first state format unless `compact_state` is on (tests/store/load_save.rs).
    assert_eq!(table[0].2, r#"{"counter":"100"}"#);
    assert!(!table[0].2.contains(session_key.as_ref()));
    let left = expires_in_secs(&pool, TABLE, &session_key).await;
    assert!(
        (90.0..=100.0).contains(&left),
        "row TTL follows the cookie: {left}"
    );
}

/// Default policy (on state changes): a changed state refreshes the cookie and the row; an
/// unchanged one writes nothing at all.
async fn ttl_refreshed_on_changes(policy: CookieContentSecurity) {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = store.pool().clone();
    let key = Key::generate();
    let ttl = time::Duration::seconds(60);
    let app = app!(store, key, policy, persistent(ttl));

    let res = test::call_service(
        &app,
        test::TestRequest::post().uri("/do_something").to_request(),
    )
    .await;
    let cookie_1 = session_cookie(&res).expect("cookie is set");
    assert_eq!(cookie_1.max_age(), Some(ttl));
    let session_key = session_key_in(&cookie_1, policy, &key);

    set_row(
        &pool,
        TABLE,
        &session_key,
        "last_seen_at = UTC_TIMESTAMP(6) - INTERVAL 5 MINUTE, \
         expires_at = UTC_TIMESTAMP(6) + INTERVAL 10 SECOND",
    )
    .await;
    let before = rows(&pool, TABLE).await;
    let req = test::TestRequest::with_uri("/untouched")
        .cookie(cookie_1.clone())
        .to_request();
    let res = test::call_service(&app, req).await;
    assert!(res.response().cookies().next().is_none());
    assert_eq!(rows(&pool, TABLE).await, before, "nothing written");

    let req = test::TestRequest::post()
        .uri("/do_something")
        .cookie(cookie_1)
        .to_request();
    let res = test::call_service(&app, req).await;
    let cookie_2 = session_cookie(&res).expect("cookie is set");
    assert_eq!(cookie_2.max_age(), Some(ttl));
    assert_eq!(
        session_key_in(&cookie_2, policy, &key),
        session_key,
        "same session"
    );
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body, json!({ "user_id": null, "counter": 2 }));
    let left = expires_in_secs(&pool, TABLE, &session_key).await;
    assert!(left > 50.0, "row expiry refreshed: {left}");
}

/// Persistent cookie, `OnEveryRequest`: the cookie is re-sent on an unchanged request and the
/// row's expiry slides, written at most once per touch interval.
async fn ttl_refreshed_on_every_request(policy: CookieContentSecurity) {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = store.pool().clone();
    let key = Key::generate();
    let ttl = time::Duration::seconds(60);
    let lifecycle = PersistentSession::default()
        .session_ttl(ttl)
        .session_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest);
    let app = app!(store, key, policy, lifecycle);

    let res = test::call_service(
        &app,
        test::TestRequest::post().uri("/do_something").to_request(),
    )
    .await;
    let cookie_1 = session_cookie(&res).expect("cookie is set");
    assert_eq!(cookie_1.max_age(), Some(ttl));
    let session_key = session_key_in(&cookie_1, policy, &key);

    set_row(
        &pool,
        TABLE,
        &session_key,
        "last_seen_at = UTC_TIMESTAMP(6) - INTERVAL 5 MINUTE, \
         expires_at = UTC_TIMESTAMP(6) + INTERVAL 10 SECOND",
    )
    .await;
    let req = test::TestRequest::with_uri("/untouched")
        .cookie(cookie_1.clone())
        .to_request();
    let res = test::call_service(&app, req).await;
    let cookie_2 = session_cookie(&res).expect("cookie is re-sent");
    assert_eq!(cookie_2.max_age(), Some(ttl));
    let left = expires_in_secs(&pool, TABLE, &session_key).await;
    assert!(
        left > 50.0,
        "row expiry extended on a read-only request: {left}"
    );

    // Within the touch interval: the cookie is still re-sent, the row is not written.
    let touched = rows(&pool, TABLE).await;
    for _ in 0..3 {
        let req = test::TestRequest::with_uri("/untouched")
            .cookie(cookie_2.clone())
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(session_cookie(&res).unwrap().max_age(), Some(ttl));
    }
    assert_eq!(rows(&pool, TABLE).await, touched, "throttled");
}

/// The configuration the crate recommends: a browser-session cookie (no Max-Age) whose
/// server-side idle timeout slides on every request.
async fn browser_session_idle_timeout_slides(policy: CookieContentSecurity) {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = store.pool().clone();
    let key = Key::generate();
    let lifecycle = BrowserSession::default()
        .state_ttl(time::Duration::minutes(30))
        .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest);
    let app = app!(store, key, policy, lifecycle);

    let req = test::TestRequest::post().uri("/login/ferris").to_request();
    let res = test::call_service(&app, req).await;
    let cookie = session_cookie(&res).expect("cookie is set");
    assert_eq!(cookie.max_age(), None, "a browser-session cookie");
    assert_eq!(cookie.expires(), None);
    let session_key = session_key_in(&cookie, policy, &key);
    let left = expires_in_secs(&pool, TABLE, &session_key).await;
    assert!((29.0 * 60.0..=30.0 * 60.0).contains(&left), "{left}");

    // Idle for 5 minutes, 2 left: a read-only request slides the expiry back to 30 minutes.
    set_row(
        &pool,
        TABLE,
        &session_key,
        "last_seen_at = UTC_TIMESTAMP(6) - INTERVAL 5 MINUTE, \
         expires_at = UTC_TIMESTAMP(6) + INTERVAL 2 MINUTE",
    )
    .await;
    let req = test::TestRequest::get()
        .uri("/")
        .cookie(cookie.clone())
        .to_request();
    let res = test::call_service(&app, req).await;
    assert!(
        session_cookie(&res).is_none(),
        "no Set-Cookie for a browser session"
    );
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body, json!({ "user_id": "ferris", "counter": 0 }));
    let left = expires_in_secs(&pool, TABLE, &session_key).await;
    assert!(left > 29.0 * 60.0, "idle timeout slid: {left}");

    // Idle past the timeout: the session is gone even though cleanup has not run.
    expire(&pool, TABLE, &session_key).await;
    let req = test::TestRequest::get()
        .uri("/")
        .cookie(cookie)
        .to_request();
    let res = test::call_service(&app, req).await;
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body, anonymous());
}

/// Anonymous state → login (`renew`) → the pre-login cookie is dead → logout (`purge`) → the
/// login cookie is dead, and nothing can bring either back.
async fn login_renew_logout(policy: CookieContentSecurity) {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = store.pool().clone();
    let key = Key::generate();
    let app = app!(store, key, policy, persistent(time::Duration::days(7)));
    let get = |cookie: Option<&Cookie<'static>>| {
        let mut req = test::TestRequest::get().uri("/");
        if let Some(c) = cookie {
            req = req.cookie(c.clone());
        }
        req.to_request()
    };
    let post = |uri: &str, cookie: Option<&Cookie<'static>>| {
        let mut req = test::TestRequest::post().uri(uri);
        if let Some(c) = cookie {
            req = req.cookie(c.clone());
        }
        req.to_request()
    };

    // Anonymous visitors without state never create a row.
    let res = test::call_service(&app, get(None)).await;
    assert!(session_cookie(&res).is_none());
    assert_eq!(test::read_body_json::<Value, _>(res).await, anonymous());
    assert_eq!(count(&pool, TABLE).await, 0);

    let res = test::call_service(&app, post("/do_something", None)).await;
    let cookie_1 = session_cookie(&res).expect("cookie #1");
    assert_eq!(
        test::read_body_json::<Value, _>(res).await,
        json!({ "user_id": null, "counter": 1 })
    );
    let key_1 = session_key_in(&cookie_1, policy, &key);
    assert_eq!(row_of(&pool, TABLE, &key_1).await.unwrap().1, None);

    // Login renews the key: the old row is gone, the new one carries the user.
    let res = test::call_service(&app, post("/login/ferris", Some(&cookie_1))).await;
    let cookie_2 = session_cookie(&res).expect("cookie #2");
    assert_ne!(cookie_1.value(), cookie_2.value());
    assert_eq!(
        test::read_body_json::<Value, _>(res).await,
        json!({ "user_id": "ferris", "counter": 1 })
    );
    let key_2 = session_key_in(&cookie_2, policy, &key);
    assert_ne!(key_1, key_2);
    assert!(row_of(&pool, TABLE, &key_1).await.is_none());
    let row_2 = row_of(&pool, TABLE, &key_2).await.unwrap();
    assert_eq!(
        row_2.1.as_deref(),
        Some("ferris"),
        "plain user id in the column"
    );
    assert_eq!(count(&pool, TABLE).await, 1);

    // The stale pre-login cookie is anonymous, and cannot write into the new session.
    let res = test::call_service(&app, get(Some(&cookie_1))).await;
    assert!(session_cookie(&res).is_none());
    assert_eq!(test::read_body_json::<Value, _>(res).await, anonymous());
    let res = test::call_service(&app, post("/do_something", Some(&cookie_1))).await;
    let cookie_3 = session_cookie(&res).expect("a fresh anonymous session");
    assert_eq!(
        test::read_body_json::<Value, _>(res).await,
        json!({ "user_id": null, "counter": 1 })
    );
    let key_3 = session_key_in(&cookie_3, policy, &key);
    assert_ne!(key_3, key_1, "the stale key is not reused");
    assert!(row_of(&pool, TABLE, &key_1).await.is_none());
    assert_eq!(row_of(&pool, TABLE, &key_2).await.unwrap(), row_2);

    let res = test::call_service(&app, get(Some(&cookie_2))).await;
    assert_eq!(
        test::read_body_json::<Value, _>(res).await,
        json!({ "user_id": "ferris", "counter": 1 })
    );

    // Logout: removal cookie, row deleted.
    let res = test::call_service(&app, post("/logout", Some(&cookie_2))).await;
    let removal = session_cookie(&res).expect("a removal cookie");
    assert_eq!(removal.max_age(), Some(time::Duration::ZERO));
    assert_eq!(
        test::read_body(res).await,
        web::Bytes::from_static(b"Logged out: ferris")
    );
    assert!(row_of(&pool, TABLE, &key_2).await.is_none());

    // The logged-out cookie is dead, for reads and for writes.
    let res = test::call_service(&app, get(Some(&cookie_2))).await;
    assert!(session_cookie(&res).is_none());
    assert_eq!(test::read_body_json::<Value, _>(res).await, anonymous());
    let res = test::call_service(&app, post("/do_something", Some(&cookie_2))).await;
    assert_eq!(
        test::read_body_json::<Value, _>(res).await,
        json!({ "user_id": null, "counter": 1 })
    );
    assert!(row_of(&pool, TABLE, &key_2).await.is_none());
    let users: Vec<Option<String>> = rows(&pool, TABLE).await.into_iter().map(|r| r.1).collect();
    assert_eq!(users, [None, None], "no row of ferris is left or revived");
}

/// Garbage, foreign, forged, unknown, corrupt and expired cookies all give an anonymous
/// session — never an error — and never a row under a key the client chose.
async fn invalid_cookie_is_anonymous(policy: CookieContentSecurity) {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = store.pool().clone();
    let key = Key::generate();
    let app = app!(store, key, policy, persistent(time::Duration::days(1)));

    // A live session whose state we will corrupt, and one that we will expire.
    let res = test::call_service(
        &app,
        test::TestRequest::post().uri("/login/alice").to_request(),
    )
    .await;
    let corrupt_cookie = session_cookie(&res).unwrap();
    let corrupt_key = session_key_in(&corrupt_cookie, policy, &key);
    set_row(&pool, TABLE, &corrupt_key, "data = '{not json'").await;
    let res = test::call_service(
        &app,
        test::TestRequest::post().uri("/login/bob").to_request(),
    )
    .await;
    let expired_cookie = session_cookie(&res).unwrap();
    let expired_key = session_key_in(&expired_cookie, policy, &key);
    expire(&pool, TABLE, &expired_key).await;
    let before = rows(&pool, TABLE).await;

    let chosen = "attacker-chosen-session-key";
    let cookies = [
        ("garbage", Cookie::new(COOKIE, "garbage")),
        ("empty", Cookie::new(COOKIE, "")),
        ("unsigned key", Cookie::new(COOKIE, chosen)),
        ("other app's key", forge(policy, &Key::generate(), chosen)),
        ("valid cookie, unknown key", forge(policy, &key, chosen)),
        ("corrupt state", corrupt_cookie),
        ("expired row", expired_cookie),
    ];
    for (what, cookie) in &cookies {
        let req = test::TestRequest::get()
            .uri("/")
            .cookie(cookie.clone())
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK, "{what}");
        assert_eq!(
            test::read_body_json::<Value, _>(res).await,
            anonymous(),
            "{what}"
        );
    }
    assert_eq!(rows(&pool, TABLE).await, before, "reads wrote nothing");

    // Writing with a cookie naming an unknown key starts a session under a *fresh* key.
    let forged = forge(policy, &key, chosen);
    let req = test::TestRequest::post()
        .uri("/do_something")
        .cookie(forged)
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh = session_cookie(&res).expect("a new session");
    let fresh_key = session_key_in(&fresh, policy, &key);
    assert_ne!(fresh_key.as_ref(), chosen, "session fixation refused");
    let chosen_key = SessionKey::try_from(chosen.to_owned()).unwrap();
    assert!(row_of(&pool, TABLE, &chosen_key).await.is_none());
    assert!(row_of(&pool, TABLE, &fresh_key).await.is_some());
}

// ---------------------------------------------------------------------------------------------
// Run every scenario under both policies, each test with its own database.
// ---------------------------------------------------------------------------------------------

macro_rules! for_both_policies {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::CookieContentSecurity;

            #[actix_web::test]
            async fn private() {
                super::$scenario(CookieContentSecurity::Private).await;
            }

            #[actix_web::test]
            async fn signed() {
                super::$scenario(CookieContentSecurity::Signed).await;
            }
        }
    )*};
}

for_both_policies!(
    basic_flow,
    ttl_refreshed_on_changes,
    ttl_refreshed_on_every_request,
    browser_session_idle_timeout_slides,
    login_renew_logout,
    invalid_cookie_is_anonymous,
);

/// With the database down, a visitor without a cookie is still served (no session row is
/// needed); one with a cookie gets an error response, not a hang or a crash.
#[actix_web::test]
async fn database_outage_spares_anonymous_visitors() {
    let dead = Pool::new(
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(1)
            .user(Some("root")),
    );
    let store = MySqlSessionStore::builder(dead)
        .create_table_if_missing(false)
        .operation_timeout(std::time::Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let key = Key::generate();
    let policy = CookieContentSecurity::Private;
    let app = app!(store, key, policy, persistent(time::Duration::days(1)));

    let res = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(test::read_body_json::<Value, _>(res).await, anonymous());

    let started = std::time::Instant::now();
    let req = test::TestRequest::get()
        .uri("/")
        .cookie(forge(policy, &key, "some-session"))
        .to_request();
    let res = test::try_call_service(&app, req).await;
    let status = match res {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}
