//! Sign-in hardening: the throttle counts attempts atomically, and sign-in names are
//! canonicalised exactly as at registration, never folded into another account's name.

use reqwest::StatusCode;

use crate::support::{spawn_app, TestApp};

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

#[tokio::test]
async fn names_that_fail_canonicalisation_never_reach_an_account() {
    let app = spawn_app().await;
    app.register_elsewhere("victim1", "Victim", "victims password")
        .await;
    let padded = format!("victim1{}zz", " ".repeat(40));
    for name in [padded.as_str(), "victim1\u{0}", "vıctim1", "victim1 zz"] {
        let r = app.sign_in(name, "victims password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name:?}");
    }
    assert_eq!(
        app.session_rows().await,
        app.session_count("victim1").await,
        "victim1's device is the only session"
    );
    // The canonical form of the name (trimmed, ASCII lower-cased) is the account.
    let r = app.sign_in("  VICTIM1 ", "victims password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.session_count("victim1").await,
        2,
        "user_id is the member id byte for byte, for both devices"
    );
}
