//! Password guessing: per-account throttling of sign-ins and of the current password on the
//! change form, counted by one atomic upsert before each verification (so parallel guesses get
//! no more verifications than sequential ones), and the per-IP limit on sign-in attempts
//! (`LOGIN_IP_LIMIT`), counted before any hashing. (The per-IP limit behind a proxy:
//! `forwarding.rs`.)

use reqwest::StatusCode;
use test_support::{spawn_app, spawn_app_with, TestApp};

#[tokio::test]
async fn repeated_failures_are_throttled_per_account() {
    let app = spawn_app().await;
    app.register_elsewhere("grace", "Grace", "graces password")
        .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.sign_in("grace", "wrong password").await.status());
    }
    assert_eq!(&statuses[..4], &[StatusCode::UNAUTHORIZED; 4]);
    // The fifth failure locks the account name; the next attempt, even with the right
    // password, is refused with the same message and a Retry-After.
    let r = app.sign_in("grace", "graces password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r
        .text()
        .await
        .unwrap()
        .contains(member_portal::web::BAD_CREDENTIALS));
    // Unknown names are throttled just the same: no way to tell which exist.
    for _ in 0..5 {
        app.sign_in("nobody-here", "wrong password").await;
    }
    assert_eq!(
        app.sign_in("nobody-here", "wrong password").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // After a quiet hour the count starts again: one more failure does not lock.
    app.exec(
        "UPDATE login_throttle SET locked_until = NULL,
            last_failure_at = last_failure_at - INTERVAL 2 HOUR WHERE account = 'nobody-here'",
    )
    .await;
    assert_eq!(
        app.sign_in("nobody-here", "wrong password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.scalar("SELECT failures FROM login_throttle WHERE account = 'nobody-here'")
            .await,
        1
    );
    // A success clears the count.
    app.exec("UPDATE login_throttle SET locked_until = NULL")
        .await;
    assert_eq!(
        app.sign_in("grace", "graces password").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM login_throttle WHERE account = 'grace'")
            .await,
        0
    );
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled() {
    let app = spawn_app().await;
    app.register("olga", "Olga", "olgas password").await;
    let attempt = |current: &'static str| {
        let app = &app;
        async move {
            app.submit(
                "/account/password",
                "/account/password",
                &[
                    ("current_password", current),
                    ("new_password", "olgas new password"),
                    ("new_password_confirm", "olgas new password"),
                ],
            )
            .await
        }
    };
    for _ in 0..5 {
        assert_eq!(
            attempt("a wrong guess").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    // Locked now, even for the right password.
    let r = attempt("olgas password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.unwrap().contains("Too many wrong passwords"));
    assert_eq!(
        app.get("/").await.status(),
        StatusCode::OK,
        "still signed in"
    );
    app.exec("UPDATE login_throttle SET locked_until = NULL")
        .await;
    assert_eq!(
        attempt("olgas password").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM login_throttle").await, 0);
}

/// Send `n` copies of `form` to `path` at once, all with the token of `form_page`, and count
/// the answers by status. Also returns how many verifications a sequential series could have
/// had beyond the free five in the time the burst took: each lock (2 s, then 4 s, 8 s, …)
/// that ran out while the burst was still arriving lets one more attempt through, exactly as
/// it would for attempts sent one by one. On a quiet machine the burst takes well under 2 s.
async fn at_once(
    app: &TestApp,
    form_page: &str,
    path: &str,
    n: usize,
    form: &[(&'static str, &'static str)],
) -> (std::collections::BTreeMap<u16, usize>, usize) {
    let started = std::time::Instant::now();
    let token = app.csrf_token(form_page).await;
    let mut fields = vec![("csrf_token", token)];
    fields.extend(form.iter().map(|&(k, v)| (k, v.to_owned())));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let request = app.client.post(app.url(path)).form(&fields);
        tasks.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(status) = tasks.join_next().await {
        *statuses.entry(status.unwrap()).or_default() += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (mut locks, mut expired) = (0.0, 0);
    while locks + f64::from(2_u32 << expired) <= elapsed {
        locks += f64::from(2_u32 << expired);
        expired += 1;
    }
    (statuses, expired)
}

/// Exactly five verified attempts (plus one per lock that expired during the burst), and
/// every other attempt refused before verification.
fn assert_throttled(
    statuses: &std::collections::BTreeMap<u16, usize>,
    expired_locks: usize,
    n: usize,
    verified_status: u16,
) {
    let verified = statuses.get(&verified_status).copied().unwrap_or(0);
    assert!(
        (5..=5 + expired_locks).contains(&verified),
        "{statuses:?}, {expired_locks} locks expired during the burst"
    );
    assert_eq!(
        statuses.get(&429).copied().unwrap_or(0),
        n - verified,
        "{statuses:?}"
    );
    assert_eq!(statuses.len(), 2, "{statuses:?}");
}

#[tokio::test]
async fn parallel_guesses_get_no_more_verifications_than_sequential_ones() {
    let app = spawn_app().await;
    app.register_elsewhere("pia", "Pia", "pias password").await;
    let (statuses, expired_locks) = at_once(
        &app,
        "/login",
        "/login",
        40,
        &[("username", "pia"), ("password", "a wrong guess")],
    )
    .await;
    // Sequentially, the fifth failure locks the account: five guesses are verified.
    assert_throttled(&statuses, expired_locks, 40, 401);
}

#[tokio::test]
async fn parallel_wrong_current_passwords_are_throttled_too() {
    let app = spawn_app().await;
    app.register("paul", "Paul", "pauls password").await;
    let (statuses, expired_locks) = at_once(
        &app,
        "/account/password",
        "/account/password",
        30,
        &[
            ("current_password", "a wrong guess"),
            ("new_password", "pauls new password"),
            ("new_password_confirm", "pauls new password"),
        ],
    )
    .await;
    assert_throttled(&statuses, expired_locks, 30, 422);
}

/// A sign-in attempt for `username` with a wrong password.
async fn wrong_guess(app: &TestApp, username: &str) -> StatusCode {
    app.sign_in(username, "not the password").await.status()
}

#[tokio::test]
async fn one_client_cannot_make_the_server_hash_for_ever_new_names() {
    let app = spawn_app_with(|s| s.login_ip_limit = 3).await;
    app.register_elsewhere("ivy", "Ivy", "ivys password").await;
    for n in 0..3 {
        assert_eq!(
            wrong_guess(&app, &format!("nobody{n}")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Over the limit: refused before the account is looked at, whatever the name, and a
    // forged X-Forwarded-For from an untrusted peer changes nothing.
    for (name, forged) in [
        ("nobody9", &[][..]),
        ("ivy", &[]),
        ("nobody10", &[("x-forwarded-for", "203.0.113.7")]),
    ] {
        let r = app
            .sign_in_with_headers(name, "ivys password", forged)
            .await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{name}");
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
        assert!(r
            .text()
            .await
            .unwrap()
            .contains("That username and password do not match."));
    }
    // Nothing reached the per-account throttle of the refused names.
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM login_throttle WHERE account IN ('nobody9', 'ivy', 'nobody10')"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn zero_turns_the_limit_off() {
    let app = spawn_app_with(|s| s.login_ip_limit = 0).await;
    for n in 0..8 {
        assert_eq!(
            wrong_guess(&app, &format!("nobody{n}")).await,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn forty_members_behind_one_address_all_sign_in_at_once() {
    // The default limit: 30 failed attempts a minute per client.
    let app = spawn_app().await;
    let mut visitors = Vec::new();
    for n in 0..40 {
        let name = format!("pupil{n:02}");
        app.register_elsewhere(&name, "Pupil", "a pupils password")
            .await;
        let visitor = app.new_visitor_without_keep_alive();
        let token = visitor.csrf_token("/login").await;
        visitors.push((visitor, token, name));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (visitor, token, name) in visitors {
        tasks.spawn(async move {
            let form = [
                ("csrf_token", token.as_str()),
                ("username", name.as_str()),
                ("password", "a pupils password"),
            ];
            visitor.post("/login", &form).await.status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn eighty_guesses_for_new_names_at_once_are_cut_off_before_hashing() {
    let app = spawn_app_with(|s| s.login_ip_limit = 30).await;
    let token = app.csrf_token("/login").await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..80 {
        let request = app.client.post(app.url("/login")).form(&[
            ("csrf_token", token.clone()),
            ("username", format!("stranger{n}")),
            ("password", "a guess".to_owned()),
        ]);
        tasks.spawn(async move { request.send().await.unwrap().status() });
    }
    let (mut verified, mut refused) = (0, 0);
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            StatusCode::UNAUTHORIZED => verified += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("{other}"),
        }
    }
    // 30 a minute, refilled evenly: a burst that takes a few seconds earns a few more.
    assert!((30..=34).contains(&verified), "{verified} verified");
    assert_eq!(verified + refused, 80);
    // Nothing of the refused ones reached the per-account throttle.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM login_throttle").await,
        verified
    );
}

#[tokio::test]
async fn a_refusal_by_the_per_ip_limit_is_not_on_the_named_accounts_activity_page() {
    let app = spawn_app_with(|s| s.login_ip_limit = 2).await;
    let victim = app.new_visitor();
    victim.register("rosa", "Rosa", "rosas password").await;
    for n in 0..2 {
        assert_eq!(
            wrong_guess(&app, &format!("nobody{n}")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        wrong_guess(&app, "rosa").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let page = victim.get_html("/account/activity").await;
    assert!(!page.contains(r#"data-event="signin_throttled""#), "{page}");
    assert!(!page.contains(r#"data-event="signin_failed""#), "{page}");
}
