//! Editing the display name and profile.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use test_support::{location, spawn_app, spawn_app_with, TestApp};

/// The member snapshot in the session is re-checked once per touch interval (1 s here).
const RECHECK: Duration = Duration::from_millis(1100);

async fn author_of(app: &TestApp, member: &str) -> (String, Option<String>) {
    let mut conn = app.pool.get_conn().await.unwrap();
    conn.exec_first(
        "SELECT a.name, a.profile FROM author a JOIN member m ON m.author_id = a.id
         WHERE m.id = ?",
        (member,),
    )
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn a_new_profile_shows_at_once_here_and_within_a_touch_interval_elsewhere() {
    let app = spawn_app_with(|s| s.touch_interval = Duration::from_secs(1)).await;
    app.register("pia", "Pia", "pias password").await;
    let phone = app.new_visitor();
    let r = phone.sign_in("pia", "pias password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Linked from the home page and the header; the form holds the current values.
    let home = app.get_html("/").await;
    assert!(home.contains(r#"class="tile" href="/account/profile""#));
    assert!(home.contains(r#"<nav class="nav" aria-label="Account">"#));
    assert!(home.contains(r#"<a href="/account/profile">Profile</a>"#));
    let form = app.get("/account/profile").await;
    assert_eq!(form.status(), StatusCode::OK);
    let form = form.text().await.unwrap();
    assert!(form.contains(r#"value="Pia""#));
    assert!(form.contains("Sign out"), "the signed-in header");

    let r = app
        .submit(
            "/account/profile",
            "/account/profile",
            &[
                ("name", "  Pia Petrova  "),
                ("profile", " Botanist.\r\nLikes <ferns> & moss. "),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    assert_eq!(
        author_of(&app, "pia").await,
        (
            "Pia Petrova".to_owned(),
            Some("Botanist.\nLikes <ferns> & moss.".to_owned())
        )
    );
    // This device: at once, escaped.
    let home = app.get_html("/").await;
    assert!(home.contains("Welcome, Pia Petrova"));
    assert!(home.contains("Likes &#60;ferns&#62; &#38; moss."));
    assert!(home.contains("Your profile has been saved."));
    let form = app.get_html("/account/profile").await;
    assert!(form.contains("Botanist.\nLikes &#60;ferns&#62; &#38; moss.</textarea>"));

    // The other device: within one touch interval.
    tokio::time::sleep(RECHECK).await;
    let other = phone.get("/").await;
    assert_eq!(other.status(), StatusCode::OK);
    assert!(other.text().await.unwrap().contains("Welcome, Pia Petrova"));

    // An empty profile means none.
    let r = app
        .submit(
            "/account/profile",
            "/account/profile",
            &[("name", "Pia"), ("profile", "   ")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(author_of(&app, "pia").await, ("Pia".to_owned(), None));
    assert!(app.get_html("/").await.contains("No profile yet."));
}

#[tokio::test]
async fn a_display_name_changed_in_sql_shows_after_one_touch_interval() {
    let app = spawn_app_with(|s| s.touch_interval = Duration::from_secs(1)).await;
    app.register("olive", "Olive", "olives password").await;
    assert!(app.get("/").await.text().await.unwrap().contains("Olive"));
    app.exec(
        "UPDATE author a JOIN member m ON m.author_id = a.id
         SET a.name = 'Olivia' WHERE m.id = 'olive'",
    )
    .await;
    tokio::time::sleep(RECHECK).await;
    let page = app.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Welcome, Olivia"));
}

#[tokio::test]
async fn invalid_input_is_refused_with_the_form_and_changes_nothing() {
    let app = spawn_app().await;
    app.register("quinn", "Quinn", "quinns password").await;
    let long_name = "n".repeat(41);
    let long_profile = "é".repeat(201);
    for (name, profile, problem) in [
        ("   ", "kept text", "Please enter a display name."),
        (long_name.as_str(), "", "at most 40 characters"),
        ("Quinn Q", long_profile.as_str(), "at most 200 characters"),
        ("Quinn\u{7}", "", "control characters"),
        ("Quinn Q", "bell\u{7}", "control characters"),
    ] {
        let r = app
            .submit(
                "/account/profile",
                "/account/profile",
                &[("name", name), ("profile", profile)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        let page = r.text().await.unwrap();
        assert!(page.contains(problem), "{name:?}: {page}");
        assert!(page.contains(r#"role="alert""#));
        if profile == "kept text" {
            assert!(page.contains(">kept text</textarea>"), "input kept");
        }
    }
    assert_eq!(author_of(&app, "quinn").await, ("Quinn".to_owned(), None));

    // A 200-character profile of 4-byte characters fits the column exactly.
    let widest = "🌿".repeat(200);
    let r = app
        .submit(
            "/account/profile",
            "/account/profile",
            &[("name", "Quinn"), ("profile", &widest)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(author_of(&app, "quinn").await.1, Some(widest));

    // CSRF first, then missing fields.
    let r = app
        .post(
            "/account/profile",
            &[("csrf_token", "forged"), ("name", "X"), ("profile", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .submit("/account/profile", "/account/profile", &[("name", "X")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(author_of(&app, "quinn").await.0, "Quinn");
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in() {
    let app = spawn_app().await;
    let r = app.get("/account/profile").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Faccount%2Fprofile");
    let r = app.get("/account/activity").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Faccount%2Factivity");
}
