//! The security activity page and the events behind it.

use mysql_async::prelude::Queryable;
use reqwest::StatusCode;

use test_support::{spawn_app, TestApp};

/// The `data-event` kinds on an activity page, top to bottom.
fn kinds_on(page: &str) -> Vec<String> {
    page.split(r#"data-event=""#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

/// `member`'s stored event kinds, newest first.
async fn stored_kinds(app: &TestApp, member: &str) -> Vec<String> {
    let mut conn = app.pool.get_conn().await.unwrap();
    conn.exec(
        "SELECT kind FROM security_events WHERE member_id = ?
         ORDER BY occurred_at DESC, id DESC",
        (member,),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn each_kind_of_event_is_recorded_and_shown_newest_first() {
    let app = spawn_app().await;
    app.register("ann", "Ann", "anns password").await;
    app.sign_out().await;
    assert_eq!(
        app.sign_in("ann", "a wrong guess").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in("ann", "anns password").await.status(),
        StatusCode::SEE_OTHER
    );
    let r = app
        .submit(
            "/account/profile",
            "/account/profile",
            &[("name", "Ann A"), ("profile", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.sign_in_elsewhere("ann", "anns password").await;
    let r = app
        .submit("/sessions", "/sessions/revoke-others", &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current_password", "anns password"),
                ("new_password", "anns new password"),
                ("new_password_confirm", "anns new password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let expected = [
        "password_changed",
        "session_revoked",
        "signin",
        "profile_changed",
        "signin",
        "signin_failed",
        "signout",
        "signin", // registering signs in
    ];
    assert_eq!(stored_kinds(&app, "ann").await, expected);
    let page = app.get("/account/activity").await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert_eq!(kinds_on(&page), expected);
    assert!(page.contains("Sign out"), "the signed-in header");
    assert!(page.contains("Failed sign-in"));
    assert!(page.contains("IP 127.0.0.1"));
    assert!(page.contains("Chrome 130 on Linux"));
    assert!(page.contains(" UTC</time>"));
    assert!(!page.contains("rel=\"next\""), "one page only");
    // Linked from the home page and the header.
    let home = app.get_html("/").await;
    assert!(home.contains(r#"class="tile" href="/account/activity""#));
    assert!(home.contains(r#"<a href="/account/activity">Activity</a>"#));

    // Where, bounded: the stored user agent is the request's, cut to 512 characters.
    let mut conn = app.pool.get_conn().await.unwrap();
    let (ip, agent): (String, String) = conn
        .query_first("SELECT ip, user_agent FROM security_events WHERE kind = 'signin' LIMIT 1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ip, "127.0.0.1");
    assert!(agent.starts_with("Mozilla/5.0"));
}

#[tokio::test]
async fn failed_and_throttled_sign_ins_are_recorded_only_for_existing_accounts() {
    let app = spawn_app().await;
    app.register_elsewhere("ben", "Ben", "bens password").await;
    let huge_agent = "A".repeat(5000);
    let anonymous = app.new_visitor();
    let attempt = |user: &'static str| {
        let anonymous = &anonymous;
        let huge_agent = huge_agent.clone();
        async move {
            let token = anonymous.csrf_token("/login").await;
            anonymous
                .client
                .post(anonymous.url("/login"))
                .header("user-agent", huge_agent)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("username", user),
                    ("password", "a wrong guess"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // Five failures lock the name; every further attempt is refused.
    for user in ["ben", "nobody"] {
        for _ in 0..5 {
            assert_eq!(attempt(user).await.status(), StatusCode::UNAUTHORIZED);
        }
        for _ in 0..3 {
            assert_eq!(attempt(user).await.status(), StatusCode::TOO_MANY_REQUESTS);
        }
    }
    // The same answers for both names; events only for the account that exists, and a
    // burst of refused guesses is one line, not one per guess.
    let kinds = stored_kinds(&app, "ben").await;
    assert_eq!(kinds[0], "signin_throttled");
    assert_eq!(kinds.iter().filter(|k| *k == "signin_throttled").count(), 1);
    assert_eq!(kinds.iter().filter(|k| *k == "signin_failed").count(), 5);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM security_events WHERE member_id <> 'ben'")
            .await,
        0
    );
    assert_eq!(
        app.scalar("SELECT MAX(CHAR_LENGTH(user_agent)) FROM security_events")
            .await,
        512
    );
}

#[tokio::test]
async fn members_see_only_their_own_events_a_page_at_a_time() {
    let app = spawn_app().await;
    app.register_elsewhere("cleo", "Cleo", "cleos password")
        .await;
    app.register("dan", "Dan", "dans password").await;
    // 120 older events for dan (after the sign-in of his registration) and one for cleo.
    app.exec(
        "INSERT INTO security_events (member_id, kind, occurred_at, ip, user_agent)
         WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120)
         SELECT 'dan', 'signin', UTC_TIMESTAMP(6) - INTERVAL (1000 + i) SECOND, '192.0.2.7', 'curl/8'
         FROM n",
    )
    .await;
    app.exec(
        "INSERT INTO security_events (member_id, kind, occurred_at, ip, user_agent)
         VALUES ('cleo', 'password_changed', UTC_TIMESTAMP(6), '198.51.100.9', 'curl/8')",
    )
    .await;

    let mut seen = Vec::new();
    let mut path = "/account/activity".to_owned();
    for expected in [50, 50, 21] {
        let page = app.get(&path).await;
        assert_eq!(page.status(), StatusCode::OK);
        let page = page.text().await.unwrap();
        assert_eq!(kinds_on(&page).len(), expected, "{path}");
        assert!(!page.contains("198.51.100.9"), "never cleo's events");
        seen.extend(
            page.match_indices("<time>")
                .map(|(at, _)| page[at + 6..at + 25].to_owned()),
        );
        match page.split(r#"<a href="/account/activity?before="#).nth(1) {
            Some(rest) => {
                path = format!(
                    "/account/activity?before={}",
                    rest.split('"').next().unwrap()
                );
            }
            None => assert_eq!(expected, 21, "the last page has no older link"),
        }
    }
    assert_eq!(seen.len(), 121);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "newest first, no event twice");

    // Bad or foreign cursors give the newest page, never an error.
    let cleos: u64 = app
        .scalar("SELECT id FROM security_events WHERE member_id = 'cleo'")
        .await;
    for query in [
        "?before=abc".to_owned(),
        "?before=-1".to_owned(),
        "?before=99999999999999999999999".to_owned(),
        "?before=%ZZ".to_owned(),
        format!("?before={cleos}"),
        "?page=7".to_owned(),
    ] {
        let page = app.get(&format!("/account/activity{query}")).await;
        assert_eq!(page.status(), StatusCode::OK, "{query}");
        let page = page.text().await.unwrap();
        assert_eq!(kinds_on(&page).len(), 50, "{query}");
        assert!(!page.contains(">Newest</a>"), "{query}");
    }
}

#[tokio::test]
async fn events_go_after_90_days_and_with_their_member() {
    let app = spawn_app().await;
    app.register("eve", "Eve", "eves password").await;
    app.exec(
        "INSERT INTO security_events (member_id, kind, occurred_at, ip, user_agent)
         VALUES ('eve', 'signin', UTC_TIMESTAMP(6) - INTERVAL 91 DAY, '', ''),
                ('eve', 'signin', UTC_TIMESTAMP(6) - INTERVAL 89 DAY, '', '')",
    )
    .await;
    app.sign_out().await;
    assert_eq!(
        member_portal::data::purge_old_events(&app.pool)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM security_events WHERE member_id = 'eve'")
            .await,
        3,
        "the 89-day-old event, the registration's sign-in and the sign-out stay"
    );
    app.exec("DELETE FROM member WHERE id = 'eve'").await;
    assert_eq!(app.scalar("SELECT COUNT(*) FROM security_events").await, 0);
}

#[tokio::test]
async fn events_say_where_they_came_from() {
    use member_portal::data::{record_event, EventKind};
    use member_portal::domain::ClientInfo;
    let app = spawn_app().await;
    app.register("gil", "Gil", "gils password").await;
    record_event(
        &app.pool,
        "gil",
        EventKind::PasswordChanged,
        &ClientInfo::command_line(),
    )
    .await
    .unwrap();
    let page = app.get_html("/account/activity").await;
    let lines: Vec<&str> = page.lines().filter(|l| l.contains("<time>")).collect();
    assert_eq!(lines.len(), 2, "{page}");
    assert!(
        lines[0].contains("</time> · from the command line on the server</div>"),
        "{}",
        lines[0]
    );
    // The test client's own user agent is no browser woothee knows.
    assert!(lines[1].contains("· IP 127.0.0.1 · "), "{}", lines[1]);
}
