//! Signing in and out: the session a sign-in starts (always a new one) and a sign-out ends,
//! one message for every failure, where a sign-in leads (`next`, local paths only), sign-in
//! names taken exactly as registration canonicalises them (never folded into another
//! account's), and weak hashes upgraded on the way.

use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use test_support::{location, spawn_app};

#[tokio::test]
async fn register_sign_in_home_sign_out() {
    let app = spawn_app().await;
    let r = app
        .register("Alice", "Alice Liddell", "correct horse")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    assert!(app.get_html("/").await.contains("Welcome, Alice Liddell"));

    let r = app.sign_out().await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    assert_eq!(app.session_rows().await, 0, "sign-out deletes the row");
    let r = app.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");

    // Usernames are case-insensitive and trimmed.
    let r = app.sign_in("  ALICE ", "correct horse").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = app.get_html("/").await;
    assert!(home.contains("Welcome, Alice Liddell"));
    assert!(home.contains("Sign out"));
    assert_eq!(app.session_rows().await, 1);
    assert_eq!(
        app.session_count("alice").await,
        1,
        "the row carries the plain user id"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = spawn_app().await;
    app.register_elsewhere("bob", "Bob", "bobs password").await;
    let rows_before = app.session_rows().await;

    let wrong = app.sign_in("bob", "not bobs password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong = wrong.text().await.unwrap();
    let unknown = app.sign_in("nobody", "bobs password").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown = unknown.text().await.unwrap();

    let message = member_portal::web::BAD_CREDENTIALS;
    assert!(wrong.contains(message) && unknown.contains(message));
    assert!(wrong.contains(r#"value="bob""#), "the username is kept");
    assert!(!wrong.contains("not bobs password"), "the password is not");
    assert_eq!(app.session_rows().await, rows_before, "no session row");
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_in_rotates_the_session_and_sign_out_kills_the_cookie() {
    let app = spawn_app().await;
    app.register_elsewhere("carol", "Carol", "carols password")
        .await;
    // A sign-in form kept open in another tab, from before signing in.
    let old_form_token = app.csrf_token("/login").await;
    app.sign_in("carol", "carols password").await;
    let first = app.sid().expect("a session cookie");

    // Posting it while signed in is a fresh sign-in: a new id, the old cookie dead.
    let r = app
        .post(
            "/login",
            &[
                ("csrf_token", &old_form_token),
                ("username", "carol"),
                ("password", "carols password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let second = app.sid().expect("a session cookie");
    assert_ne!(first, second);
    let stale = app.get_with_cookie("/", &format!("sid={first}")).await;
    assert_eq!(
        stale.status(),
        StatusCode::SEE_OTHER,
        "the old cookie is anonymous"
    );

    app.sign_out().await;
    let replayed = app.get_with_cookie("/", &format!("sid={second}")).await;
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&replayed), "/login");
}

#[tokio::test]
async fn next_is_honoured_only_for_local_paths() {
    let app = spawn_app().await;
    app.register_elsewhere("dave", "Dave", "daves password")
        .await;
    for (next, expected) in [
        ("/sessions", "/sessions"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil", "/"),
        ("/café?q=a b", "/caf%C3%A9?q=a%20b"),
    ] {
        let query = format!(
            "next={}",
            percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
        );
        let token = app.csrf_token(&format!("/login?{query}")).await;
        let r = app
            .post(
                "/login",
                &[
                    ("csrf_token", &token),
                    ("username", "dave"),
                    ("password", "daves password"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(location(&r), expected, "{next}");
        app.sign_out().await;
    }
    // A signed-in visitor asking for a protected page is sent to sign in and then back.
    let r = app.get("/sessions").await;
    assert_eq!(location(&r), "/login?next=%2Fsessions");

    // A query that does not parse still gets the form, leading to `/`.
    for query in ["next=/a&next=/b", "next=%ZZ", "next"] {
        let r = app.get(&format!("/login?{query}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{query}");
        let html = r.text().await.unwrap();
        assert!(html.contains(r#"name="next" value="/""#), "{query}: {html}");
    }
}

#[tokio::test]
async fn sign_in_names_never_fold_into_another_account() {
    let app = spawn_app().await;
    app.register_elsewhere("victim1", "Victim", "victims password")
        .await;

    let folded = format!("victim1{}zz", " ".repeat(40));
    let r = app.sign_in(&folded, "victims password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
    // Identifiers compare byte for byte: trailing spaces are not padding.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM member WHERE id = 'victim1   '")
            .await,
        0
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM login_throttle WHERE account = 'victim1'")
            .await,
        0,
        "a failure under another name is not counted against victim1"
    );

    // Registration's canonical form (trimmed, ASCII lower-case) is the account.
    let r = app.sign_in("  VICTIM1 ", "victims password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut conn = app.pool.get_conn().await.unwrap();
    let ids: Vec<Vec<u8>> = conn
        .query("SELECT user_id FROM sessions WHERE user_id IS NOT NULL")
        .await
        .unwrap();
    assert_eq!(ids, vec![b"victim1".to_vec(), b"victim1".to_vec()]);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sessions WHERE user_id = 'victim1 '")
            .await,
        0
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sessions s JOIN member m ON m.id = s.user_id")
            .await,
        2
    );
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

#[tokio::test]
async fn weak_hashes_are_upgraded_at_sign_in() {
    let app = spawn_app().await;
    app.register_elsewhere("heidi", "Heidi", "heidis password")
        .await;
    let weak = member_portal::domain::weak_hash_for_tests("heidis password");
    app.exec(&format!(
        "UPDATE member SET password_hash = '{weak}' WHERE id = 'heidi'"
    ))
    .await;
    assert_eq!(
        app.sign_in("heidi", "heidis password").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM member WHERE password_hash LIKE '$argon2id$v=19$m=19456,t=2,p=1$%'")
            .await,
        1
    );
}
