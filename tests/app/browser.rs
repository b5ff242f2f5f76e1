//! Browser test: real headless Chromium driven through chromedriver (WebDriver), against the
//! real server on a random port and a fresh database. Registers, signs out, signs in, edits the
//! profile, reads the activity page, and takes screenshots of the main pages; enrols in
//! two-factor sign-in (reading the secret from the page, computing codes as an authenticator
//! app does), signs in with a code and "keep me signed in", and closes the account; registers
//! with an e-mail address, confirms it by following the link from the mail an SMTP server in
//! the test received, and resets the password through a mailed link.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`apt-get install chromium
//! chromium-driver`); without them the test fails, it never skips. Screenshots go to
//! `target/screenshots/`, or to `$SCREENSHOT_DIR` when that is set (the README's come from
//! `SCREENSHOT_DIR=docs/screenshots`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::two_factor::code;
use std::time::Duration;

use member_portal::config::MailTransport;
use test_support::{spawn_app, spawn_app_with, Chromium, SmtpServer};

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_sign_out_sign_in_in_a_real_browser() {
    let started = Instant::now();
    let shots = Screenshots::new();
    let app = spawn_app().await;
    let browser = Chromium::start(DESKTOP).await;
    let member = ("ada.l", "Ada Lovelace", "analytical engine 1843");

    // The sign-in page, desktop and phone.
    browser.resize(PHONE).await;
    browser.goto(&app.url("/login")).await;
    shots.take(&browser, "login-phone").await;
    browser.resize(DESKTOP).await;
    browser.goto(&app.url("/login")).await;
    assert_eq!(browser.text("h1").await, "Sign in");
    shots.take(&browser, "login-desktop").await;

    // Registration with mismatched passwords: the 422 page names the problem, keeps the input.
    browser.goto(&app.url("/register")).await;
    browser.type_into("#username", member.0).await;
    browser.type_into("#name", member.1).await;
    browser.type_into("#password", member.2).await;
    browser
        .type_into("#password_confirm", "something else entirely")
        .await;
    browser
        .click("form[action='/register'] button[type=submit]")
        .await;
    browser.wait_for("p.alert.error").await;
    let error = browser.text("p.alert.error").await;
    assert!(
        error.to_lowercase().contains("match"),
        "the error should say the passwords do not match: {error:?}"
    );
    assert_eq!(browser.property("#username", "value").await, member.0);
    assert_eq!(browser.property("#name", "value").await, member.1);
    shots.take(&browser, "register-error-desktop").await;

    // Registration that works: signed in, on the home page.
    browser.clear("#username").await;
    browser.type_into("#username", member.0).await;
    browser.clear("#name").await;
    browser.type_into("#name", member.1).await;
    browser.type_into("#password", member.2).await;
    browser.type_into("#password_confirm", member.2).await;
    browser
        .click("form[action='/register'] button[type=submit]")
        .await;
    browser.wait_for_url(&app.url("/")).await;
    assert_eq!(browser.text("h1").await, format!("Welcome, {}", member.1));

    // Sign out with the header button.
    let sign_out = "header form[action='/logout'] button";
    assert_eq!(browser.text(sign_out).await, "Sign out");
    browser.click(sign_out).await;
    browser.wait_for_url(&app.url("/login")).await;
    assert!(
        browser.cookie("sid").await.is_none(),
        "signing out clears the session cookie"
    );

    // Sign in again.
    browser.type_into("#username", member.0).await;
    browser.type_into("#password", member.2).await;
    let sign_in = "form[action='/login'] button[type=submit]";
    assert_eq!(browser.text(sign_in).await, "Sign in");
    browser.click(sign_in).await;
    browser.wait_for_url(&app.url("/")).await;
    assert_eq!(browser.text("h1").await, format!("Welcome, {}", member.1));
    let sid = browser
        .cookie("sid")
        .await
        .expect("a sid cookie once signed in");
    assert_eq!(sid.http_only(), Some(true), "sid must be HttpOnly: {sid}");
    shots.take(&browser, "home-desktop").await;

    // The account pages and the 404 page.
    browser.goto(&app.url("/sessions")).await;
    assert!(browser
        .text(".device.current")
        .await
        .contains("This device"));
    shots.take(&browser, "devices-desktop").await;
    browser.goto(&app.url("/account/password")).await;
    assert_eq!(browser.text("h1").await, "Change password");
    shots.take(&browser, "change-password-desktop").await;

    // Profile: linked from the header; the new values show at once.
    browser.click("nav a[href='/account/profile']").await;
    browser.wait_for_url(&app.url("/account/profile")).await;
    assert_eq!(browser.text("h1").await, "Your profile");
    browser.clear("#name").await;
    browser.type_into("#name", "Ada King").await;
    browser
        .type_into("#profile", "Countess of Lovelace. Wrote the first program.")
        .await;
    shots.take(&browser, "profile-desktop").await;
    browser
        .click("form[action='/account/profile'] button[type=submit]")
        .await;
    browser.wait_for_url(&app.url("/")).await;
    assert_eq!(browser.text("h1").await, "Welcome, Ada King");
    assert!(browser
        .text(".profile")
        .await
        .contains("Countess of Lovelace"));

    // Security activity: newest first, the profile change on top.
    browser.click("nav a[href='/account/activity']").await;
    browser.wait_for_url(&app.url("/account/activity")).await;
    assert_eq!(browser.text("h1").await, "Security activity");
    assert_eq!(
        browser.text(".event:first-child strong").await,
        "Profile changed"
    );
    assert!(browser
        .text(".event[data-event='signout']")
        .await
        .contains("Signed out"));
    shots.take(&browser, "activity-desktop").await;

    browser.goto(&app.url("/no/such/page")).await;
    assert_eq!(browser.text(".status").await, "404");
    shots.take(&browser, "not-found-desktop").await;

    // The home page on a phone.
    browser.resize(PHONE).await;
    browser.goto(&app.url("/")).await;
    assert_eq!(browser.text("h1").await, "Welcome, Ada King");
    shots.take(&browser, "home-phone").await;

    browser.quit().await;
    eprintln!(
        "browser test done in {:.1?}; screenshots in {}",
        started.elapsed(),
        shots.dir.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_sign_in_in_a_real_browser() {
    let shots = Screenshots::new();
    let app = spawn_app().await;
    let browser = Chromium::start(DESKTOP).await;
    let (user, password) = ("grace.h", "compiler of the a-0 system");
    browser.goto(&app.url("/register")).await;
    browser.type_into("#username", user).await;
    browser.type_into("#name", "Grace Hopper").await;
    browser.type_into("#password", password).await;
    browser.type_into("#password_confirm", password).await;
    browser
        .click("form[action='/register'] button[type=submit]")
        .await;
    browser.wait_for_url(&app.url("/")).await;

    // Enrolment: the password, then the QR code and the secret.
    browser.click("nav a[href='/account/two-factor']").await;
    browser.wait_for_url(&app.url("/account/two-factor")).await;
    assert!(browser.text("[data-two-factor]").await.contains("Off"));
    shots.take(&browser, "two-factor-off-desktop").await;
    browser.type_into("#setup_password", password).await;
    browser
        .click("form[action='/account/two-factor/setup'] button")
        .await;
    browser.wait_for(".qr svg").await;
    let secret = browser.text("[data-totp-secret]").await;
    assert_eq!(secret.len(), 32);
    shots.take(&browser, "two-factor-setup-desktop").await;
    browser.type_into("#code", &code(&secret, 0)).await;
    browser
        .click("form[action='/account/two-factor/enable'] button")
        .await;
    browser.wait_for("[data-recovery-code]").await;
    assert_eq!(browser.text("h1").await, "Two-factor sign-in is on");
    shots.take(&browser, "recovery-codes-desktop").await;

    // Sign out, sign in: the password, "keep me signed in", then a code.
    browser.goto(&app.url("/")).await;
    browser.click("header form[action='/logout'] button").await;
    browser.wait_for_url(&app.url("/login")).await;
    browser.type_into("#username", user).await;
    browser.type_into("#password", password).await;
    browser.click("input[name=remember]").await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser.wait_for_url(&app.url("/login/two-factor")).await;
    assert_eq!(
        browser.property("input[name=remember]", "checked").await,
        "true"
    );
    shots.take(&browser, "login-two-factor-desktop").await;
    browser.type_into("#code", &code(&secret, 1)).await;
    browser
        .click("form[action='/login/two-factor'] button[type=submit]")
        .await;
    browser.wait_for_url(&app.url("/")).await;
    assert_eq!(browser.text("h1").await, "Welcome, Grace Hopper");
    let sid = browser.cookie("sid").await.expect("signed in");
    assert!(sid.expires().is_some(), "kept signed in: {sid}");

    // The devices page marks this device as kept signed in; the account can be closed.
    browser.goto(&app.url("/sessions")).await;
    assert!(browser
        .text(".device.current [data-remembered]")
        .await
        .contains("30 days"));
    browser.goto(&app.url("/account/delete")).await;
    assert_eq!(browser.text("h1").await, "Close your account");
    shots.take(&browser, "delete-account-desktop").await;
    browser.type_into("#current_password", password).await;
    browser.click("form[action='/account/delete'] button").await;
    browser.wait_for_url(&app.url("/login")).await;
    assert!(browser
        .text("p.alert.success")
        .await
        .contains("has been deleted"));
    assert!(browser.cookie("sid").await.is_none());
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_with_an_address_confirm_it_from_the_mail_and_reset_the_password() {
    let shots = Screenshots::new();
    let smtp = SmtpServer::start().await;
    let smtp_url = smtp.url();
    let app = spawn_app_with(move |s| s.mail.transport = MailTransport::Smtp(smtp_url)).await;
    let browser = Chromium::start(DESKTOP).await;

    browser.goto(&app.url("/register")).await;
    browser.type_into("#username", "grace").await;
    browser.type_into("#name", "Grace Hopper").await;
    browser.type_into("#email", "grace@example.com").await;
    browser
        .type_into("#password", "compiler of cobol 1959")
        .await;
    browser
        .type_into("#password_confirm", "compiler of cobol 1959")
        .await;
    shots.take(&browser, "register-email-desktop").await;
    browser
        .click("form[action='/register'] button[type=submit]")
        .await;
    browser.wait_for_url(&app.url("/")).await;
    assert!(browser
        .text("[data-email-hint]")
        .await
        .contains("Confirm your e-mail address"));

    // The link from the mail the SMTP server received, opened in the browser: a page with a
    // button; pressing it confirms the address.
    let mail = smtp
        .wait_for_to("grace@example.com", Duration::from_secs(15))
        .await;
    let link = mail.link_starting_with(&app.url("/verify-email/"));
    browser.goto(&link).await;
    assert_eq!(browser.text("h1").await, "Confirm your e-mail address");
    shots.take(&browser, "verify-email-desktop").await;
    browser
        .click("form[action='/verify-email'] button[type=submit]")
        .await;
    browser.wait_for_url(&app.url("/")).await;
    browser.goto(&app.url("/account/email")).await;
    assert_eq!(
        browser.text("[data-email-state=verified]").await,
        "grace@example.com"
    );
    shots.take(&browser, "email-desktop").await;

    // Forgotten password: the request page, the link from the mail, the new password.
    browser.click("header form[action='/logout'] button").await;
    browser.wait_for_url(&app.url("/login")).await;
    browser.click("a[href='/forgot-password']").await;
    browser.wait_for_url(&app.url("/forgot-password")).await;
    browser.type_into("#email", "grace@example.com").await;
    browser
        .click("form[action='/forgot-password'] button[type=submit]")
        .await;
    browser.wait_for("[data-reset-requested]").await;
    shots.take(&browser, "forgot-password-desktop").await;
    let mail = smtp
        .wait_for(2, Duration::from_secs(15))
        .await
        .pop()
        .unwrap();
    let link = mail.link_starting_with(&app.url("/reset-password/"));
    browser.goto(&link).await;
    assert_eq!(browser.text("h1").await, "Choose a new password");
    browser
        .type_into("#new_password", "nanoseconds of wire 1969")
        .await;
    browser
        .type_into("#new_password_confirm", "nanoseconds of wire 1969")
        .await;
    shots.take(&browser, "reset-password-desktop").await;
    browser
        .click("form[action='/reset-password'] button[type=submit]")
        .await;
    browser.wait_for_url(&app.url("/login")).await;
    assert!(browser
        .text("main")
        .await
        .contains("Your password has been changed"));
    browser.type_into("#username", "grace").await;
    browser
        .type_into("#password", "nanoseconds of wire 1969")
        .await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser.wait_for_url(&app.url("/")).await;
    assert_eq!(browser.text("h1").await, "Welcome, Grace Hopper");
    browser.quit().await;
}

/// Where screenshots go, by name.
struct Screenshots {
    dir: PathBuf,
}

impl Screenshots {
    fn new() -> Self {
        let dir = std::env::var_os("SCREENSHOT_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots"));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("could not create {}: {e}", dir.display()));
        Self { dir }
    }

    async fn take(&self, browser: &Chromium, name: &str) {
        let png = browser.screenshot().await;
        let path = self.dir.join(format!("{name}.png"));
        std::fs::write(&path, png)
            .unwrap_or_else(|e| panic!("could not write {}: {e}", path.display()));
    }
}
