//! Registration, sign-in, sign-out.

use reqwest::StatusCode;

use crate::support::{location, spawn_app};

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
async fn registration_refuses_taken_and_invalid_input() {
    let app = spawn_app().await;
    app.register_elsewhere("erin", "Erin", "erins password")
        .await;
    let taken = app
        .register("ERIN", "Another Erin", "another password")
        .await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let html = taken.text().await.unwrap();
    assert!(html.contains("taken") && html.contains("Another Erin"));

    for (username, name, password, confirm, problem) in [
        ("x", "X", "long enough", "long enough", "3 to 40"),
        (
            "bad name!",
            "X",
            "long enough",
            "long enough",
            "only letters",
        ),
        ("frank", "   ", "long enough", "long enough", "display name"),
        ("frank", "Frank", "short", "short", "at least 8"),
        (
            "frank",
            "Frank",
            "long enough",
            "different!",
            "do not match",
        ),
    ] {
        let r = app
            .submit(
                "/register",
                "/register",
                &[
                    ("username", username),
                    ("name", name),
                    ("password", password),
                    ("password_confirm", confirm),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(r.text().await.unwrap().contains(problem), "{problem}");
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM member").await, 1);
}

#[tokio::test]
async fn display_names_are_shown_as_text() {
    let app = spawn_app().await;
    app.register("mallory", "<script>alert(1)</script>", "mallorys password")
        .await;
    let home = app.get_html("/").await;
    assert!(!home.contains("<script>"));
    assert!(home.contains("alert(1)"), "the name is shown, escaped");
}

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
