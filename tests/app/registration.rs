//! Registration, and the rules for display names (on the profile form too): taken and
//! invalid input refused with the form, names shown as text, never names that reorder or hide
//! text.

use reqwest::StatusCode;
use test_support::spawn_app;

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
async fn display_names_cannot_reorder_or_hide_text() {
    let app = spawn_app().await;
    for (name, problem) in [
        ("Ann\u{202E}gpj.exe", "text-direction"),
        ("\u{2066}Ann\u{2069}", "text-direction"),
        ("Ann\u{200F}", "text-direction"),
        ("\u{200B}\u{200D}\u{2060}", "visible"),
        ("\u{FEFF}", "visible"),
    ] {
        let r = app.register("annie", name, "annies password").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert!(r.text().await.unwrap().contains(problem), "{name:?}");
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM member").await, 0);
    let r = app
        .register("annie", "Ann\u{200D}ie 👩\u{200D}💻", "annies password")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "joiners inside a name");

    // The profile form applies the same rule.
    for name in ["Ann\u{202E}gpj.exe", "\u{200B}\u{FEFF}"] {
        let r = app
            .submit(
                "/account/profile",
                "/account/profile",
                &[("name", name), ("profile", "")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM author WHERE name = 'Ann\u{200D}ie 👩\u{200D}💻'")
            .await,
        1,
        "unchanged"
    );
}
