//! "MySQL unreachable: a 503 page with `Retry-After`, never an empty 500, and the app
//! recovers by itself when MySQL returns."
//!
//! The test runs a throwaway MariaDB of its own (a temp data dir, a spare port), signs a member
//! in, kills the database under the running app, checks the 503 pages, starts the database
//! again on the same data dir and port, and waits for the member's page to come back with the
//! session from before the outage, without restarting the app.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use test_support::{csrf_in, Answer, TestApp, ThrowawayMariaDb, Visitor};

const USERNAME: &str = "outage_member";
const NAME: &str = "Ada Outage";
const PASSWORD: &str = "correct horse battery staple";

/// How long the app may take to recover.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);
/// The most an answer may take while the database is down.
const OUTAGE_ANSWER_DEADLINE: Duration = Duration::from_secs(10);

/// The 503 page: HTML, `Retry-After` in seconds, people's words, no internals.
fn assert_unavailable_page(answer: &Answer, what: &str) {
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {answer:?}"
    );
    assert!(
        answer.took < OUTAGE_ANSWER_DEADLINE,
        "{what} took {:?}",
        answer.took
    );
    let retry_after = answer
        .retry_after
        .as_deref()
        .unwrap_or_else(|| panic!("{what}: no Retry-After: {answer:?}"));
    assert!(
        retry_after.parse::<u32>().is_ok_and(|s| s > 0),
        "{what}: Retry-After {retry_after:?} is not a number of seconds"
    );
    assert!(
        answer.content_type.starts_with("text/html"),
        "{what}: content-type {:?}",
        answer.content_type
    );
    assert!(
        answer.body.contains("Temporarily unavailable"),
        "{what}: not the 503 page: {}",
        answer.body
    );
    let lower = answer.body.to_lowercase();
    for internal in [
        "mysql",
        "mariadb",
        "io(",
        "connection refused",
        "driver",
        "error:",
        "timed out",
        "sessionstore",
        "storeerror",
    ] {
        assert!(
            !lower.contains(internal),
            "{what}: the page shows internal text {internal:?}: {}",
            answer.body
        );
    }
}

/// Poll the signed-in home page until it greets the member again. Every failed attempt on
/// the way must be the 503 page (never a 500); returns the attempts and what failed.
async fn await_recovery(member: &Visitor, since: Instant, what: &str) -> (u32, Vec<String>) {
    let mut attempts = 0u32;
    let mut failures: Vec<String> = Vec::new();
    loop {
        attempts += 1;
        let home = Answer::get(member, "/").await;
        if home.greets(NAME) {
            return (attempts, failures);
        }
        failures.push(format!(
            "#{attempts} at {:?}: {} in {:?}",
            since.elapsed(),
            home.status,
            home.took
        ));
        assert_unavailable_page(&home, &format!("GET / while recovering from {what}"));
        assert!(
            since.elapsed() < RECOVERY_DEADLINE,
            "no recovery from {what} within {RECOVERY_DEADLINE:?}: {failures:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Twelve signed-in requests in a row, spread over every worker, all greeting the member.
async fn assert_steady(member: &Visitor, what: &str) {
    let mut failed: Vec<String> = Vec::new();
    for i in 0..12 {
        let home = Answer::get(member, "/").await;
        if !home.greets(NAME) {
            failed.push(format!("#{i}: {} in {:?}", home.status, home.took));
        }
    }
    assert!(failed.is_empty(), "failures {what}: {failed:#?}");
}

/// A browser without a session cookie signs the member in: the sign-in form needs no
/// database, so it must answer at once, whatever the database does; then the credentials go
/// with the form's token. Returns the form and the answer to the sign-in.
async fn sign_in(visitor: &Visitor, what: &str) -> (Answer, Answer) {
    let form = Answer::get(visitor, "/login").await;
    assert_eq!(form.status, StatusCode::OK, "GET /login {what}: {form:?}");
    assert!(
        form.took < OUTAGE_ANSWER_DEADLINE,
        "GET /login {what}: {form:?}"
    );
    let token = csrf_in(&form.body);
    let fields = [
        ("csrf_token", token.as_str()),
        ("username", USERNAME),
        ("password", PASSWORD),
        ("next", "/"),
    ];
    let signed_in = Answer::post(visitor, "/login", &fields).await;
    (form, signed_in)
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_outage_gives_503_pages_and_the_app_recovers_by_itself() {
    // 1. A database server of our own.
    let mut db = ThrowawayMariaDb::install();
    db.start().await;

    // 2. The app on it, and a member signed in. Every browser opens a new connection per
    // request, so requests reach every worker (and its pool).
    let app = TestApp::spawn_on(&format!("{}/outage_test", db.server_url())).await;
    let member = app.new_visitor_without_keep_alive();
    let registered = member.register(USERNAME, NAME, PASSWORD).await;
    assert_eq!(registered.status(), StatusCode::SEE_OTHER, "{registered:?}");
    // Several requests over new connections: every worker's pool holds live connections
    // when the database goes away (the stale ones are what recovery must get past).
    for _ in 0..6 {
        let home = Answer::get(&member, "/").await;
        assert!(home.greets(NAME), "{home:?}");
    }
    // An anonymous browser's sign-in form, fetched while the database is up.
    let anonymous = app.new_visitor_without_keep_alive();
    let login_form = Answer::get(&anonymous, "/login").await;
    assert_eq!(login_form.status, StatusCode::OK);

    // 3. The outage.
    db.kill();
    let outage_started = Instant::now();

    let mut worst = Duration::ZERO;
    for i in 0..4 {
        let home = Answer::get(&member, "/").await;
        assert_unavailable_page(&home, &format!("GET / #{i} (signed in) during the outage"));
        worst = worst.max(home.took);
    }
    let health = Answer::get(&member, "/healthz").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{health:?}");
    assert!(health.retry_after.is_some(), "/healthz: {health:?}");
    assert!(health.took < OUTAGE_ANSWER_DEADLINE, "/healthz: {health:?}");
    worst = worst.max(health.took);

    // The sign-in form needs no database (for a browser without a session cookie); the
    // sign-in itself does.
    let (form, signed_in) = sign_in(&anonymous, "during the outage").await;
    assert_unavailable_page(&signed_in, "POST /login during the outage");
    worst = worst.max(signed_in.took);

    // The signed-in browser's GET /login: its session cannot be read, so a 503 page too
    // (not an empty 500).
    let signed_in_form = Answer::get(&member, "/login").await;
    assert_ne!(
        signed_in_form.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{signed_in_form:?}"
    );
    if signed_in_form.status != StatusCode::OK {
        assert_unavailable_page(&signed_in_form, "GET /login (signed in) during the outage");
    }
    eprintln!(
        "outage: slowest 503 answer {worst:?} (GET /healthz {:?}, POST /login {:?}); \
         GET /login without a session cookie: {} in {:?}, with one: {} in {:?}",
        health.took,
        signed_in.took,
        form.status,
        form.took,
        signed_in_form.status,
        signed_in_form.took
    );

    // 4. The database returns, on the same data dir and port; the app is not restarted.
    db.start().await;
    let db_back = Instant::now();
    eprintln!(
        "outage lasted {:?}; database accepting connections again",
        outage_started.elapsed()
    );

    let (attempts, failures) = await_recovery(&member, db_back, "the outage").await;
    let recovered_in = db_back.elapsed();
    eprintln!(
        "recovered: GET / answered 200 after {attempts} request(s), {recovered_in:?} after the \
         database came back; failed attempts: {failures:#?}"
    );

    // Recovered for good, on every worker: no stale pooled connection left anywhere.
    assert_steady(&member, "after recovery").await;
    let health = Answer::get(&member, "/healthz").await;
    assert_eq!(health.status, StatusCode::OK, "{health:?}");
    assert_eq!(health.body, "ok");

    // And signing in works again.
    let (_, signed_in) = sign_in(&anonymous, "after recovery").await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{signed_in:?}");
    let home = Answer::get(&anonymous, "/").await;
    assert!(home.greets(NAME), "{home:?}");

    // 5. A blip: the database restarts while every pool holds connections to the old server
    // and no request comes in between. The first requests afterwards meet only stale pooled
    // connections; they may answer 503, never 500, and the app must be back at once.
    for _ in 0..6 {
        let home = Answer::get(&member, "/").await;
        assert_eq!(home.status, StatusCode::OK, "{home:?}");
    }
    db.kill();
    db.start().await;
    let blip_back = Instant::now();
    let (attempts, failures) = await_recovery(&member, blip_back, "a blip").await;
    eprintln!(
        "blip: GET / answered 200 after {attempts} request(s), {:?} after the database came \
         back; failed attempts: {failures:#?}",
        blip_back.elapsed()
    );
    assert_steady(&member, "after the blip").await;

    // 6. A database that hangs instead of refusing: the bounded waits must still give a 503
    // page in seconds, and the app must recover when it answers again (pooled connections
    // were abandoned mid-statement by the timeouts).
    db.freeze().await;
    let mut slowest = Duration::ZERO;
    for i in 0..3 {
        let home = Answer::get(&member, "/").await;
        assert_unavailable_page(&home, &format!("GET / #{i} while the database hangs"));
        slowest = slowest.max(home.took);
    }
    let health = Answer::get(&member, "/healthz").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{health:?}");
    assert!(health.took < OUTAGE_ANSWER_DEADLINE, "/healthz: {health:?}");
    // (`anonymous` is signed in by now: a browser of its own, without a session cookie.)
    let stranger = app.new_visitor_without_keep_alive();
    let (_, signed_in) = sign_in(&stranger, "while the database hangs").await;
    eprintln!(
        "hang: GET / 503 in at most {slowest:?}, GET /healthz {} in {:?}, POST /login {} in {:?}",
        health.status, health.took, signed_in.status, signed_in.took
    );
    assert_unavailable_page(&signed_in, "POST /login while the database hangs");
    db.thaw();
    let thawed = Instant::now();
    let (attempts, failures) = await_recovery(&member, thawed, "the hang").await;
    eprintln!(
        "hang over: GET / answered 200 after {attempts} request(s), {:?}; failed attempts: \
         {failures:#?}",
        thawed.elapsed()
    );
    assert_steady(&member, "after the hang").await;
}
