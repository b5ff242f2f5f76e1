//! The pages: one Askama struct per template in `templates/`, all extending `base.html`.
//!
//! The forms' `maxlength` attributes are twice the limits the server checks: browsers count
//! UTF-16 code units, the server counts characters, and a limit of 40 would stop a browser at
//! 20 emoji. Every valid value gets through; the server's 422 page explains the rest.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

/// What the shared layout needs.
#[derive(Debug, Default)]
pub struct Layout {
    /// Set on signed-in pages: shows the navigation and the "Sign out" button.
    pub member: Option<LayoutMember>,
}

/// The signed-in part of the layout.
#[derive(Debug)]
pub struct LayoutMember {
    /// The session-bound CSRF token for the sign-out form.
    pub csrf: String,
}

impl Layout {
    /// The layout of a signed-in page.
    pub fn member(csrf: &str) -> Self {
        Self {
            member: Some(LayoutMember {
                csrf: csrf.to_owned(),
            }),
        }
    }
}

/// `GET /login` and its re-renders.
#[derive(Debug, Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub csrf: String,
    pub username: String,
    pub next: String,
    pub error: Option<String>,
    /// A one-time message (the account was deleted).
    pub notice: Option<&'static str>,
    /// How long "keep me signed in" keeps one signed in, in words; `None`: not offered.
    pub remember_for: Option<String>,
}

/// `GET /login/two-factor` and its re-renders: the second step of a sign-in.
#[derive(Debug, Template)]
#[template(path = "login_two_factor.html")]
pub struct SecondFactorPage {
    pub layout: Layout,
    pub csrf: String,
    pub remember_for: Option<String>,
    /// Whether "keep me signed in" is ticked.
    pub remember: bool,
    pub error: Option<String>,
}

/// `GET /account/two-factor`: whether two-factor sign-in is on, and its forms.
#[derive(Debug, Template)]
#[template(path = "two_factor.html")]
pub struct TwoFactorPage {
    pub layout: Layout,
    pub csrf: String,
    pub username: String,
    pub on: bool,
    pub recovery_codes: u32,
    /// The TOTP key is random for this run: enrolment is refused, and the page says why.
    pub key_ephemeral: bool,
    pub flash: Option<String>,
    pub error: Option<String>,
}

/// `POST /account/two-factor/setup` and a wrong code at `…/enable`: the QR code and the secret.
#[derive(Template)]
#[template(path = "two_factor_setup.html")]
pub struct TwoFactorSetupPage {
    pub layout: Layout,
    pub csrf: String,
    /// The QR code, an inline `<svg>` drawn on the server.
    pub qr_svg: String,
    /// The secret in base32, for typing in.
    pub secret: String,
    pub error: Option<String>,
}

impl std::fmt::Debug for TwoFactorSetupPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TwoFactorSetupPage")
    }
}

/// Recovery codes, shown once (after enabling, or replacing them).
#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub layout: Layout,
    pub codes: Vec<String>,
    /// Whether two-factor sign-in was just turned on (else the codes were replaced).
    pub enabled: bool,
}

impl std::fmt::Debug for RecoveryCodesPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCodesPage")
    }
}

/// `GET /account/delete` and its re-renders.
#[derive(Debug, Template)]
#[template(path = "delete.html")]
pub struct DeletePage {
    pub layout: Layout,
    pub csrf: String,
    pub username: String,
    pub error: Option<String>,
}

pub use crate::domain::in_words;

/// `GET /register` and its re-renders.
#[derive(Debug, Template)]
#[template(path = "register.html")]
pub struct RegisterPage {
    pub layout: Layout,
    pub csrf: String,
    pub username: String,
    pub name: String,
    pub email: String,
    /// Whether e-mail features are on (else the form has no address field).
    pub mail_on: bool,
    pub error: Option<String>,
}

/// `GET /account/email` and its re-renders.
#[derive(Debug, Template)]
#[template(path = "email.html")]
pub struct EmailPage {
    pub layout: Layout,
    pub csrf: String,
    pub username: String,
    pub verified: Option<String>,
    pub pending: Option<String>,
    /// What the member typed, kept on a re-render.
    pub email: String,
    pub flash: Option<String>,
    pub error: Option<String>,
    /// Whether e-mail features are on.
    pub mail_on: bool,
}

/// `GET /verify-email/{token}`: one button, so that fetching the link changes nothing.
#[derive(Template)]
#[template(path = "verify_email.html")]
pub struct VerifyEmailPage {
    pub layout: Layout,
    pub csrf: String,
    pub token: String,
}

impl std::fmt::Debug for VerifyEmailPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyEmailPage")
    }
}

/// `GET /forgot-password`, and the one page every request gets.
#[derive(Debug, Template)]
#[template(path = "forgot_password.html")]
pub struct ForgotPasswordPage {
    pub layout: Layout,
    pub csrf: String,
    /// Set once a request was taken: the page that follows every request.
    pub sent_to: Option<String>,
    /// Whether e-mail features are on (else the page says to ask the operator).
    pub mail_on: bool,
    /// How long a reset link works, in words.
    pub valid_for: String,
    pub error: Option<String>,
}

/// `GET /reset-password/{token}` and its re-renders.
#[derive(Template)]
#[template(path = "reset_password.html")]
pub struct ResetPasswordPage {
    pub layout: Layout,
    pub csrf: String,
    pub token: String,
    pub username: String,
    pub error: Option<String>,
}

impl std::fmt::Debug for ResetPasswordPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetPasswordPage")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A link that is used, expired, unknown or dead (410).
#[derive(Debug, Template)]
#[template(path = "link_dead.html")]
pub struct DeadLinkPage {
    pub layout: Layout,
    /// Which kind of link: "reset" or "verify".
    pub reset: bool,
}

/// `GET /`.
#[derive(Debug, Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub layout: Layout,
    pub username: String,
    pub name: String,
    pub profile: Option<String>,
    pub flash: Option<String>,
    /// Recovery codes left, when two-factor sign-in is on and fewer than three are.
    pub few_recovery_codes: Option<u32>,
    /// The member's address state, when the page should suggest adding or confirming one.
    pub email_hint: Option<crate::data::EmailState>,
}

/// `GET /account/password` and its re-renders.
#[derive(Debug, Template)]
#[template(path = "password.html")]
pub struct PasswordPage {
    pub layout: Layout,
    pub csrf: String,
    pub username: String,
    pub error: Option<String>,
}

/// One row of the devices page.
#[derive(Debug)]
pub struct SessionView {
    pub handle: String,
    pub browser: String,
    pub os: String,
    pub user_agent: String,
    pub ip: String,
    pub created: String,
    pub last_seen: String,
    pub current: bool,
    /// "Keep me signed in": how long it lasts, in words.
    pub remembered: Option<String>,
}

/// `GET /sessions`.
#[derive(Debug, Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    pub layout: Layout,
    pub csrf: String,
    pub sessions: Vec<SessionView>,
    pub flash: Option<String>,
}

/// `GET /account/profile` and its re-renders.
#[derive(Debug, Template)]
#[template(path = "profile.html")]
pub struct ProfilePage {
    pub layout: Layout,
    pub csrf: String,
    pub name: String,
    pub profile: String,
    pub max_profile: usize,
    pub error: Option<String>,
}

/// One row of the activity page.
#[derive(Debug)]
pub struct EventView {
    /// The stored kind, for `data-event`.
    pub kind: String,
    pub label: &'static str,
    pub at: String,
    /// Where it came from, in words: IP, browser and system, or the command line.
    pub source: String,
    pub user_agent: String,
}

/// `GET /account/activity`.
#[derive(Debug, Template)]
#[template(path = "activity.html")]
pub struct ActivityPage {
    pub layout: Layout,
    pub events: Vec<EventView>,
    /// The link to the next (older) page, if there is one.
    pub older: Option<String>,
    /// Whether this is not the newest page.
    pub newer: bool,
    pub retention_days: u32,
}

/// Every error page.
#[derive(Debug, Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub title: &'static str,
    pub message: &'static str,
    pub back_href: &'static str,
    pub back_label: &'static str,
}

impl ErrorPage {
    /// The page for `status`, with wording for people, not for developers.
    pub fn for_status(status: StatusCode) -> Self {
        let (title, message) = match status.as_u16() {
            400 => ("Something is missing", "The form was incomplete or malformed. Go back and fill in every field."),
            403 => ("Form expired", "This form has expired or did not come from this site. Go back, reload the page and try again."),
            404 => ("Page not found", "There is nothing at this address."),
            405 => ("Not allowed", "This address does not accept that kind of request."),
            413 => ("Too much data", "The form sent more data than this site accepts."),
            429 => ("Too many attempts", "Too many attempts. Wait a moment and try again."),
            503 => ("Temporarily unavailable", "The service cannot reach its database right now. Please try again in a few seconds."),
            _ if status.is_client_error() => ("Request refused", "The request could not be handled."),
            _ => ("Something went wrong", "An unexpected error occurred. It has been logged; please try again."),
        };
        Self {
            layout: Layout::default(),
            status: status.as_u16(),
            title,
            message,
            back_href: "/",
            back_label: "Go to the home page",
        }
    }
}

/// Render `page` as an HTML response with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(error) => {
            tracing::error!(error = %error, "a template failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("Something went wrong.")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_in_words() {
        use std::time::Duration;
        assert_eq!(super::in_words(Duration::from_secs(30 * 86_400)), "30 days");
        assert_eq!(super::in_words(Duration::from_secs(86_400)), "1 day");
        assert_eq!(super::in_words(Duration::from_secs(36 * 3_600)), "36 hours");
        assert_eq!(super::in_words(Duration::from_secs(90 * 60)), "90 minutes");
        assert_eq!(super::in_words(Duration::from_secs(61)), "61 seconds");
    }
}
