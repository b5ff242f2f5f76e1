//! Two-factor sign-in over real HTTP: enrolment, the second step at sign-in, codes accepted
//! once (also through two instances on one database), drift, throttling of wrong codes,
//! recovery codes, secrets at rest, the half signed-in state, the command line.

use std::time::{SystemTime, UNIX_EPOCH};

use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use test_database::TestDatabase;

use test_support::binary;
use test_support::{location, spawn_app, TestApp, Visitor};

/// What an authenticator app would do with the secret the page shows: the RFC 6238 code of
/// the 30-second step `offset` steps from now.
pub fn code(secret: &str, offset: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap();
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now.checked_add_signed(offset * 30).unwrap())
}

/// The text of every element carrying `attribute` (`data-recovery-code`, …) in `html`.
pub fn marked(html: &str, attribute: &str) -> Vec<String> {
    let marker = format!("{attribute}>");
    html.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            rest[..rest.find('<').unwrap()].trim().to_owned()
        })
        .collect()
}

/// Turn two-factor sign-in on for the member signed in on `visitor`: the secret (base32) and
/// the ten recovery codes. The enrolment code is the current step's, so the next code to sign
/// in with is the one of step +1.
pub async fn enrol(visitor: &Visitor, password: &str) -> (String, Vec<String>) {
    let r = visitor
        .submit(
            "/account/two-factor",
            "/account/two-factor/setup",
            &[("current_password", password)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let secret = marked(&r.text().await.unwrap(), "data-totp-secret")
        .pop()
        .unwrap();
    let now = code(&secret, 0);
    let r = visitor
        .submit(
            "/account/two-factor",
            "/account/two-factor/enable",
            &[("code", &now)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let codes = marked(&r.text().await.unwrap(), "data-recovery-code");
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Sign in with the password on `visitor`: the second step is due.
pub async fn password_step(visitor: &Visitor, user: &str, password: &str) {
    let r = visitor.sign_in(user, password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login/two-factor");
}

/// Post `code` (and `remember`) at the second step.
pub async fn code_step(visitor: &Visitor, code: &str, remember: bool) -> reqwest::Response {
    let mut form = vec![("code", code)];
    if remember {
        form.push(("remember", "1"));
    }
    visitor
        .submit("/login/two-factor", "/login/two-factor", &form)
        .await
}

async fn kinds(app: &TestApp, member: &str) -> Vec<String> {
    let mut conn = app.pool.get_conn().await.unwrap();
    conn.exec(
        "SELECT kind FROM security_events WHERE member_id = ? ORDER BY id DESC",
        (member,),
    )
    .await
    .unwrap()
}

fn no_store(r: &reqwest::Response) -> bool {
    r.headers()
        .get("cache-control")
        .is_some_and(|v| v == "no-store")
}

#[tokio::test]
async fn enrolment_needs_the_password_shows_a_qr_code_and_turns_on_with_a_right_code() {
    let app = spawn_app().await;
    app.register("tess", "Tess", "tess long password").await;
    let page = app.get_html("/account/two-factor").await;
    assert!(page.contains(r#"data-two-factor="off""#));
    assert!(app
        .get_html("/")
        .await
        .contains(r#"href="/account/two-factor""#));

    let wrong = app
        .submit(
            "/account/two-factor",
            "/account/two-factor/setup",
            &[("current_password", "not it at all")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let r = app
        .submit(
            "/account/two-factor",
            "/account/two-factor/setup",
            &[("current_password", "tess long password")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(no_store(&r));
    let html = r.text().await.unwrap();
    assert!(html.contains("<svg "), "the QR code, inline");
    assert!(!html.contains("<script") && !html.contains("<img"));
    let secret = marked(&html, "data-totp-secret").pop().unwrap();
    assert_eq!(
        secret.len(),
        32,
        "160 bits of base32 without padding: {secret}"
    );
    assert!(secret
        .bytes()
        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));

    // A wrong code: 422, the same secret again.
    let r = app
        .submit(
            "/account/two-factor",
            "/account/two-factor/enable",
            &[("code", "000000")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        marked(&r.text().await.unwrap(), "data-totp-secret"),
        [secret.as_str()]
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM two_factor").await, 0);

    let r = app
        .submit(
            "/account/two-factor",
            "/account/two-factor/enable",
            &[("code", &code(&secret, 0))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(no_store(&r));
    let codes = marked(&r.text().await.unwrap(), "data-recovery-code");
    assert_eq!(codes.len(), 10);
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10);
    let page = app.get_html("/account/two-factor").await;
    assert!(page.contains(r#"data-two-factor="on""#));
    assert!(page.contains("10 unused recovery codes left"));
    assert!(marked(&page, "data-recovery-code").is_empty(), "shown once");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM recovery_codes").await, 10);
    assert_eq!(kinds(&app, "tess").await[0], "two_factor_enabled");
    let activity = app.get_html("/account/activity").await;
    assert!(activity.contains(r#"data-event="two_factor_enabled""#));
}

#[tokio::test]
async fn sign_in_takes_the_password_then_a_code_and_each_code_works_once() {
    let app = spawn_app().await;
    app.register("uma", "Uma", "umas long password").await;
    let (secret, _) = enrol(&app, "umas long password").await;
    app.sign_out().await;

    // The password leads to the second step, with `next` kept.
    let browser = app.new_visitor();
    let token = browser.csrf_token("/login?next=/sessions").await;
    let r = browser
        .post(
            "/login",
            &[
                ("csrf_token", &token),
                ("username", "uma"),
                ("password", "umas long password"),
                ("next", "/sessions"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login/two-factor");
    let half = browser.sid().unwrap();
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM security_events WHERE member_id = 'uma' AND kind = 'signin' "
        )
        .await,
        1,
        "registering; this sign-in is not done yet"
    );
    let step = browser.get("/login/two-factor").await;
    assert_eq!(step.status(), StatusCode::OK);
    assert!(no_store(&step));
    assert!(step.text().await.unwrap().contains(r#"name="code""#));

    // A wrong code: 401, recorded.
    let r = code_step(&browser, "123456", false).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(kinds(&app, "uma").await[0], "two_factor_failed");

    // The enrolment code's step is used: the next step's code signs in, under a new id.
    let r = code_step(&browser, &code(&secret, 0), false).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the enrolment's code is spent"
    );
    let next = code(&secret, 1);
    let r = code_step(&browser, &next, false).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/sessions");
    assert_ne!(browser.sid().unwrap(), half, "a new session id");
    assert_eq!(browser.get("/").await.status(), StatusCode::OK);
    assert_eq!(kinds(&app, "uma").await[0], "signin");
    let stale = app.get_with_cookie("/", &format!("sid={half}")).await;
    assert_eq!(stale.status(), StatusCode::SEE_OTHER);

    // The same code again, in a new sign-in: refused.
    let again = app.new_visitor();
    password_step(&again, "uma", "umas long password").await;
    let r = code_step(&again, &next, false).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("used already"));

    // A password change does not turn it off.
    let r = browser
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current_password", "umas long password"),
                ("new_password", "umas newer password"),
                ("new_password_confirm", "umas newer password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    password_step(&app.new_visitor(), "uma", "umas newer password").await;
}

#[tokio::test]
async fn a_code_is_accepted_once_through_two_instances_on_one_database() {
    let db = TestDatabase::create().await;
    let url = db.url();
    let keys = member_portal::domain::TotpKeys::new([&rand::random::<[u8; 32]>()[..]]).unwrap();
    let (k1, k2) = (keys.clone(), keys);
    let one = TestApp::spawn_with(&url, |s| s.totp_keys = k1, Some(db)).await;
    let two = TestApp::spawn_with(&url, |s| s.totp_keys = k2, None).await;
    one.register("vera", "Vera", "veras long password").await;
    let (secret, _) = enrol(&one, "veras long password").await;
    let (a, b) = (one.new_visitor(), two.new_visitor());
    password_step(&a, "vera", "veras long password").await;
    password_step(&b, "vera", "veras long password").await;
    let code = code(&secret, 1);
    let (ra, rb) = tokio::join!(code_step(&a, &code, false), code_step(&b, &code, false));
    let mut statuses = [ra.status(), rb.status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::SEE_OTHER, StatusCode::UNAUTHORIZED],
        "one instance accepts the code, the other refuses it"
    );
}

#[tokio::test]
async fn one_step_of_drift_either_way_and_no_more() {
    let app = spawn_app().await;
    app.register("wyn", "Wyn", "wyns long password").await;
    let (secret, _) = enrol(&app, "wyns long password").await;
    for (offset, status) in [
        (-1, StatusCode::SEE_OTHER),
        (1, StatusCode::SEE_OTHER),
        (-3, StatusCode::UNAUTHORIZED),
        (3, StatusCode::UNAUTHORIZED),
    ] {
        // As if no code had been used yet.
        app.exec("UPDATE two_factor SET last_step = 0").await;
        let visitor = app.new_visitor();
        password_step(&visitor, "wyn", "wyns long password").await;
        let r = code_step(&visitor, &code(&secret, offset), false).await;
        assert_eq!(r.status(), status, "a code {offset} steps away");
        app.exec("DELETE FROM login_throttle").await;
    }
}

#[tokio::test]
async fn wrong_codes_are_throttled_per_account_and_a_right_password_does_not_reset_them() {
    let app = spawn_app().await;
    app.register("xia", "Xia", "xias long password").await;
    let (secret, _) = enrol(&app, "xias long password").await;
    let visitor = app.new_visitor();
    password_step(&visitor, "xia", "xias long password").await;
    for _ in 0..4 {
        let r = code_step(&visitor, "000000", false).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    code_step(&visitor, "000001", false).await;
    // Locked: even a right code is refused unchecked.
    let r = code_step(&visitor, &code(&secret, 1), false).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    // The code guesses have a throttle row of their own, which the right password (which
    // cleared its own) leaves alone: a new password step does not help. (The lock is made
    // longer than a sign-in can take on a busy machine.)
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM login_throttle WHERE account = 'xia'")
            .await,
        0
    );
    app.exec(
        "UPDATE login_throttle SET locked_until = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR
         WHERE account = 'xia#code'",
    )
    .await;
    let again = app.new_visitor();
    password_step(&again, "xia", "xias long password").await;
    let r = code_step(&again, &code(&secret, 1), false).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(kinds(&app, "xia")
        .await
        .contains(&"signin_throttled".to_owned()));
    // Once the lock is over, the right code signs in and clears the count.
    app.exec("UPDATE login_throttle SET locked_until = NULL")
        .await;
    let r = code_step(&again, &code(&secret, 1), false).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM login_throttle WHERE account LIKE 'xia%'")
            .await,
        0
    );
}

#[tokio::test]
async fn recovery_codes_work_once_each_and_the_home_page_warns_when_few_are_left() {
    let app = spawn_app().await;
    app.register("yan", "Yan", "yans long password").await;
    let (_, codes) = enrol(&app, "yans long password").await;
    let visitor = app.new_visitor();
    password_step(&visitor, "yan", "yans long password").await;
    // Typed loosely: upper case, spaces for dashes.
    let loose = codes[0].to_uppercase().replace('-', " ");
    let r = code_step(&visitor, &loose, false).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        kinds(&app, "yan").await[..2],
        ["signin", "recovery_code_used"]
    );
    assert!(!visitor
        .get_html("/")
        .await
        .contains("data-recovery-codes-low"));

    let again = app.new_visitor();
    password_step(&again, "yan", "yans long password").await;
    let r = code_step(&again, &codes[0], false).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a used recovery code");
    for used in &codes[1..8] {
        let visitor = app.new_visitor();
        password_step(&visitor, "yan", "yans long password").await;
        assert_eq!(
            code_step(&visitor, used, false).await.status(),
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM recovery_codes").await, 2);
    let home = app.new_visitor();
    password_step(&home, "yan", "yans long password").await;
    assert_eq!(
        code_step(&home, &codes[8], false).await.status(),
        StatusCode::SEE_OTHER
    );
    let page = home.get_html("/").await;
    assert!(page.contains("data-recovery-codes-low"), "one left");
    assert!(page.contains("Only 1 recovery code left"));

    // New codes: the last old one dies.
    let r = home
        .submit(
            "/account/two-factor",
            "/account/two-factor/recovery-codes",
            &[("current_password", "yans long password")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = marked(&r.text().await.unwrap(), "data-recovery-code");
    assert_eq!(fresh.len(), 10);
    assert!(!home.get_html("/").await.contains("data-recovery-codes-low"));
    let old = app.new_visitor();
    password_step(&old, "yan", "yans long password").await;
    assert_eq!(
        code_step(&old, &codes[9], false).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        code_step(&old, &fresh[0], false).await.status(),
        StatusCode::SEE_OTHER
    );
}

/// Rows of any column of any table of the app's database that contain `needle`.
async fn columns_containing(app: &TestApp, needle: &[u8]) -> Vec<String> {
    let mut conn = app.pool.get_conn().await.unwrap();
    let columns: Vec<(String, String)> = conn
        .query(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = DATABASE()",
        )
        .await
        .unwrap();
    assert!(columns.len() > 20, "every column: {columns:?}");
    let mut found = Vec::new();
    for (table, column) in columns {
        let hits: u64 = conn
            .exec_first(
                format!(
                    "SELECT COUNT(*) FROM `{table}`
                     WHERE LOCATE(CAST(? AS BINARY), CAST(`{column}` AS BINARY)) > 0"
                ),
                (needle,),
            )
            .await
            .unwrap()
            .unwrap();
        if hits > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

#[tokio::test]
async fn the_secret_and_the_recovery_codes_are_in_no_column_in_the_clear() {
    let app = spawn_app().await;
    app.register("zoe", "Zoe", "zoes long password").await;
    // While the secret waits in the session for its first code.
    let r = app
        .submit(
            "/account/two-factor",
            "/account/two-factor/setup",
            &[("current_password", "zoes long password")],
        )
        .await;
    let secret = marked(&r.text().await.unwrap(), "data-totp-secret")
        .pop()
        .unwrap();
    let raw = totp_rs::Secret::Encoded(secret.clone()).to_bytes().unwrap();
    for needle in [secret.as_bytes(), &raw, secret.to_lowercase().as_bytes()] {
        assert_eq!(columns_containing(&app, needle).await, Vec::<String>::new());
    }
    assert_eq!(
        app.session_rows_containing("totp_setup").await,
        1,
        "it waits, sealed"
    );
    let r = app
        .submit(
            "/account/two-factor",
            "/account/two-factor/enable",
            &[("code", &code(&secret, 0))],
        )
        .await;
    let codes = marked(&r.text().await.unwrap(), "data-recovery-code");
    assert_eq!(
        app.session_rows_containing("totp_setup").await,
        0,
        "gone once confirmed"
    );
    let mut needles: Vec<Vec<u8>> = vec![secret.clone().into_bytes(), raw];
    for code in &codes {
        needles.push(code.clone().into_bytes());
        needles.push(code.replace('-', "").into_bytes());
        needles.push(code.to_uppercase().into_bytes());
    }
    for needle in &needles {
        assert_eq!(
            columns_containing(&app, needle).await,
            Vec::<String>::new(),
            "{}",
            String::from_utf8_lossy(needle)
        );
    }
    // What is there: a sealed secret of 65 bytes, ten 32-byte hashes.
    assert_eq!(
        app.scalar("SELECT LENGTH(secret) FROM two_factor").await,
        65
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM recovery_codes WHERE LENGTH(code_hash) = 32")
            .await,
        10
    );
}

#[tokio::test]
async fn half_signed_in_is_anonymous_to_every_signed_in_page_and_ends_after_five_minutes() {
    let app = spawn_app().await;
    app.register("abe", "Abe", "abes long password").await;
    let (secret, _) = enrol(&app, "abes long password").await;
    let visitor = app.new_visitor();
    password_step(&visitor, "abe", "abes long password").await;
    for page in [
        "/",
        "/account/password",
        "/account/profile",
        "/account/activity",
        "/sessions",
        "/account/two-factor",
        "/account/delete",
    ] {
        let r = visitor.get(page).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{page}");
        assert!(location(&r).starts_with("/login"), "{page}");
    }
    // A form posted with the anonymous token: still the sign-in page.
    let token = visitor.csrf_token("/login/two-factor").await;
    for path in [
        "/account/two-factor/disable",
        "/sessions/revoke-others",
        "/account/delete",
    ] {
        let r = visitor
            .post(
                path,
                &[
                    ("csrf_token", &token),
                    ("current_password", "abes long password"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&r).starts_with("/login"), "{path}");
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM two_factor").await, 1);
    // The row has no user and lives five minutes at most.
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM sessions WHERE user_id IS NULL
             AND expires_at <= UTC_TIMESTAMP(6) + INTERVAL 300 SECOND AND ttl_seconds = 300"
        )
        .await,
        1
    );
    assert_eq!(
        app.session_count("abe").await,
        1,
        "only the enrolling device"
    );
    // Five minutes later the state is gone: back to the sign-in page.
    app.exec("UPDATE sessions SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE user_id IS NULL")
        .await;
    let r = visitor.get("/login/two-factor").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    let r = visitor
        .post(
            "/login/two-factor",
            &[("csrf_token", &token), ("code", &code(&secret, 1))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    assert_eq!(app.session_count("abe").await, 1);
}

#[tokio::test]
async fn the_command_line_turns_two_factor_off_and_the_activity_page_says_so() {
    let db = TestDatabase::create().await;
    let url = db.url();
    let app = TestApp::spawn_with(&url, |_| {}, Some(db)).await;
    app.register("bea", "Bea", "beas long password").await;
    enrol(&app, "beas long password").await;

    let out = binary::command(crate::BIN, &url)
        .args(["user", "disable-two-factor", "Bea"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "two-factor sign-in of bea turned off; the password alone signs in now\n"
    );
    let again = binary::command(crate::BIN, &url)
        .args(["user", "disable-two-factor", "bea"])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing changed"));
    let unknown = binary::command(crate::BIN, &url)
        .args(["user", "disable-two-factor", "nobody"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no member named"));

    assert_eq!(app.scalar("SELECT COUNT(*) FROM two_factor").await, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM recovery_codes").await, 0);
    let r = app.new_visitor().sign_in("bea", "beas long password").await;
    assert_eq!(location(&r), "/", "the password alone signs in");
    let activity = app.get_html("/account/activity").await;
    let event = activity
        .split(r#"data-event="two_factor_disabled""#)
        .nth(1)
        .unwrap();
    assert!(event[..event.find("</li>").unwrap()].contains("from the command line"));
}
