//! Two-factor sign-in: `GET /account/two-factor` and its forms (`…/setup`, `…/enable`,
//! `…/disable`, `…/recovery-codes`), and the second step of a sign-in, `GET` and
//! `POST /login/two-factor`.
//!
//! Enrolment: the current password (throttled like sign-in), then a new secret, sealed, waits in
//! the session while the page shows its QR code; the first right code turns two-factor sign-in
//! on (that code's step counts as used) and the recovery codes are shown, once. Every page that
//! shows a secret or a code is `Cache-Control: no-store`.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::data::{self, Attempt, EventKind, TwoFactor};
use crate::domain::{is_totp_code, ClientInfo, CodeCheck, RecoveryCode, TotpSecret};
use crate::telemetry::SignIn;
use crate::web::csrf::{CsrfSigner, MemberForm, PublicForm};
use crate::web::errors::AppError;
use crate::web::guard::CurrentMember;
use crate::web::session::{PendingSignIn, TypedSession};
use crate::web::state::AppState;
use crate::web::templates::{
    in_words, render, Layout, RecoveryCodesPage, SecondFactorPage, TwoFactorPage,
    TwoFactorSetupPage,
};

use super::{
    anonymous_form, confirm_password, finish_sign_in, no_store, see_other, ticked,
    with_retry_after, CurrentPasswordForm,
};

const WRONG_CODE: &str =
    "That code is not right. Enter the 6-digit code your app shows now, or a recovery code.";
const USED_CODE: &str =
    "That code has been used already. Wait for your app to show the next one, then enter it.";
const TOO_MANY_CODES: &str = "Too many wrong codes. Wait a moment and try again.";
const KEY_EPHEMERAL: &str = "Two-factor sign-in cannot be set up on this server: it runs without SESSION_KEY or TOTP_KEY, so the key that protects authenticator secrets changes at every restart.";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The two-factor page of the signed-in member.
fn overview_page(
    current: &CurrentMember,
    state: &AppState,
    status: StatusCode,
    flash: Option<String>,
    error: Option<&str>,
) -> HttpResponse {
    let (on, recovery_codes) = match current.member.two_factor {
        TwoFactor::Off => (false, 0),
        TwoFactor::On { recovery_codes } => (true, recovery_codes),
    };
    render(
        status,
        &TwoFactorPage {
            layout: Layout::member(&current.csrf),
            csrf: current.csrf.clone(),
            username: current.member.id.clone(),
            on,
            recovery_codes,
            key_ephemeral: state.totp_key_ephemeral,
            flash,
            error: error.map(str::to_owned),
        },
    )
}

/// `GET /account/two-factor`: whether it is on, and the forms to change that.
pub async fn overview(
    current: CurrentMember,
    session: TypedSession,
    state: web::Data<AppState>,
) -> HttpResponse {
    overview_page(&current, &state, StatusCode::OK, session.take_flash(), None)
}

fn setup_page(
    current: &CurrentMember,
    secret: &TotpSecret,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    no_store(render(
        status,
        &TwoFactorSetupPage {
            layout: Layout::member(&current.csrf),
            csrf: current.csrf.clone(),
            qr_svg: secret.qr_svg(&current.member.id),
            secret: secret.base32(),
            error: error.map(str::to_owned),
        },
    ))
}

/// `POST /account/two-factor/setup` (`current_password`): a new secret, waiting in the
/// session (sealed) until a code confirms it.
pub async fn setup(
    req: HttpRequest,
    form: MemberForm<CurrentPasswordForm>,
    current: CurrentMember,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let member = current.member.id.as_str();
    if state.totp_key_ephemeral {
        return Ok(overview_page(
            &current,
            &state,
            StatusCode::CONFLICT,
            None,
            Some(KEY_EPHEMERAL),
        ));
    }
    let password = form.into_inner().current_password;
    let refused = |status: StatusCode, message: &str| {
        overview_page(&current, &state, status, None, Some(message))
    };
    if let Some(page) = confirm_password(&req, &state, member, &password, refused).await? {
        return Ok(page);
    }
    if current.member.two_factor.is_on() {
        session.flash("Two-factor sign-in is on already.")?;
        return Ok(see_other("/account/two-factor"));
    }
    let secret = TotpSecret::generate();
    session.set_pending_totp_secret(&state.totp_keys.seal_text(&secret, member))?;
    Ok(setup_page(&current, &secret, StatusCode::OK, None))
}

/// The code field of the enrolment form.
#[derive(Deserialize)]
pub struct EnableForm {
    code: String,
}

/// `POST /account/two-factor/enable` (`code`): a right code for the waiting secret turns
/// two-factor sign-in on and shows the recovery codes, once; a wrong one shows the same secret
/// again (422).
pub async fn enable(
    form: MemberForm<EnableForm>,
    current: CurrentMember,
    session: TypedSession,
    origin: ClientInfo,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let member = current.member.id.as_str();
    let secret = session
        .pending_totp_secret()
        .and_then(|sealed| state.totp_keys.open_text(&sealed, member));
    let Some(secret) = secret else {
        session.flash("Start again: confirm your password to get a new QR code.")?;
        return Ok(see_other("/account/two-factor"));
    };
    let step = match secret.check(&form.into_inner().code, unix_now(), 0) {
        CodeCheck::Valid(step) => step,
        CodeCheck::Used | CodeCheck::Wrong => {
            return Ok(setup_page(
                &current,
                &secret,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("That code is not right. Check that your app added this account, then enter the code it shows now."),
            ))
        }
    };
    let codes = RecoveryCode::generate_set();
    let hashes: Vec<[u8; 32]> = codes.iter().map(|c| c.hash(member)).collect();
    let sealed = state.totp_keys.seal(&secret, member);
    let enabled = data::enable_two_factor(
        &state.pool,
        &state.outbox,
        member,
        &sealed,
        step,
        &hashes,
        &origin,
    )
    .await?;
    session.clear_pending_totp_secret();
    if !enabled {
        session.flash("Two-factor sign-in is on already.")?;
        return Ok(see_other("/account/two-factor"));
    }
    session.remember_two_factor(TwoFactor::On {
        recovery_codes: u32::try_from(codes.len()).unwrap_or(0),
    })?;
    Ok(codes_page(&current, &codes, true))
}

fn codes_page(current: &CurrentMember, codes: &[RecoveryCode], enabled: bool) -> HttpResponse {
    no_store(render(
        StatusCode::OK,
        &RecoveryCodesPage {
            layout: Layout::member(&current.csrf),
            codes: codes.iter().map(RecoveryCode::display).collect(),
            enabled,
        },
    ))
}

/// `POST /account/two-factor/disable` (`current_password`): back to the password alone.
pub async fn disable(
    req: HttpRequest,
    form: MemberForm<CurrentPasswordForm>,
    current: CurrentMember,
    session: TypedSession,
    origin: ClientInfo,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let member = current.member.id.as_str();
    let password = form.into_inner().current_password;
    let refused = |status: StatusCode, message: &str| {
        overview_page(&current, &state, status, None, Some(message))
    };
    if let Some(page) = confirm_password(&req, &state, member, &password, refused).await? {
        return Ok(page);
    }
    let message = if data::disable_two_factor(&state.pool, &state.outbox, member, &origin).await? {
        "Two-factor sign-in is off. Your password alone signs you in now."
    } else {
        "Two-factor sign-in was not on."
    };
    session.remember_two_factor(TwoFactor::Off)?;
    session.flash(message)?;
    Ok(see_other("/account/two-factor"))
}

/// `POST /account/two-factor/recovery-codes` (`current_password`): ten new recovery codes,
/// shown once; the old ones die.
pub async fn replace_codes(
    req: HttpRequest,
    form: MemberForm<CurrentPasswordForm>,
    current: CurrentMember,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let member = current.member.id.as_str();
    let password = form.into_inner().current_password;
    let refused = |status: StatusCode, message: &str| {
        overview_page(&current, &state, status, None, Some(message))
    };
    if let Some(page) = confirm_password(&req, &state, member, &password, refused).await? {
        return Ok(page);
    }
    let codes = RecoveryCode::generate_set();
    let hashes: Vec<[u8; 32]> = codes.iter().map(|c| c.hash(member)).collect();
    if !data::replace_recovery_codes(&state.pool, member, &hashes).await? {
        session.remember_two_factor(TwoFactor::Off)?;
        session.flash("Two-factor sign-in is not on: there are no recovery codes to replace.")?;
        return Ok(see_other("/account/two-factor"));
    }
    session.remember_two_factor(TwoFactor::On {
        recovery_codes: u32::try_from(codes.len()).unwrap_or(0),
    })?;
    Ok(codes_page(&current, &codes, false))
}

fn step_page(
    req: &HttpRequest,
    signer: &CsrfSigner,
    state: &AppState,
    status: StatusCode,
    remember: bool,
    error: Option<&str>,
) -> HttpResponse {
    no_store(anonymous_form(req, signer, status, |csrf| {
        SecondFactorPage {
            layout: Layout::default(),
            csrf,
            remember_for: state.remember_for.map(in_words),
            remember,
            error: error.map(str::to_owned),
        }
    }))
}

/// `GET /login/two-factor`: the code form of a half signed-in session; without one (never
/// started, or older than five minutes), the sign-in page.
pub async fn step_form(
    req: HttpRequest,
    session: TypedSession,
    signer: web::Data<CsrfSigner>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match session.pending_sign_in(SystemTime::now()) {
        Some(pending) => step_page(
            &req,
            &signer,
            &state,
            StatusCode::OK,
            pending.remember,
            None,
        ),
        None => see_other("/login"),
    }
}

/// The second step's form.
#[derive(Deserialize)]
pub struct StepForm {
    code: String,
    /// "Keep me signed in" (`1` when ticked; absent when not).
    #[serde(default)]
    remember: String,
}

/// What the submitted code turned out to be.
enum Verdict {
    /// Right, and recorded (the step raised or the recovery code used, with the `signin`
    /// event).
    Accepted,
    /// A code that has been used already.
    Used,
    /// Not a right code.
    Wrong,
}

/// `POST /login/two-factor` (`code`, `remember`): a right TOTP code or an unused recovery
/// code completes the sign-in (a new session id, the session cap, `303` to `next`). A wrong
/// code is a 401 (`two_factor_failed`), counted per account before it is checked (429 when
/// locked); a code used already is a 401.
pub async fn step_submit(
    req: HttpRequest,
    form: PublicForm<StepForm>,
    session: TypedSession,
    origin: ClientInfo,
    state: web::Data<AppState>,
    signer: web::Data<CsrfSigner>,
) -> Result<HttpResponse, AppError> {
    let StepForm { code, remember } = form.into_inner();
    let remember = ticked(&remember);
    let Some(PendingSignIn { member, next, .. }) = session.pending_sign_in(SystemTime::now())
    else {
        return Ok(see_other("/login"));
    };
    let refuse = |status: StatusCode, message: &str| {
        step_page(&req, &signer, &state, status, remember, Some(message))
    };
    if let Attempt::Locked(wait) = data::count_code_attempt(&state.pool, &member).await? {
        data::record_throttled_sign_in(&state.pool, &member, &origin).await?;
        state.metrics.sign_in(SignIn::Throttled);
        return Ok(with_retry_after(
            refuse(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_CODES),
            wait,
        ));
    }
    let verdict = if is_totp_code(&code) {
        check_totp(&state, &member, &code, &origin).await?
    } else {
        match RecoveryCode::parse(&code) {
            Some(recovery) => {
                let hash = recovery.hash(&member);
                if data::use_recovery_code(&state.pool, &state.outbox, &member, &hash, &origin)
                    .await?
                {
                    Verdict::Accepted
                } else {
                    Verdict::Wrong
                }
            }
            None => Verdict::Wrong,
        }
    };
    match verdict {
        Verdict::Accepted => {
            data::clear_code_attempts(&state.pool, &member).await?;
            let Some(found) = data::find_member(&state.pool, &member).await? else {
                return Ok(see_other("/login"));
            };
            finish_sign_in(&req, &session, &state, &found, remember, &next).await
        }
        Verdict::Used => {
            data::record_event(&state.pool, &member, EventKind::TwoFactorFailed, &origin).await?;
            state.metrics.sign_in(SignIn::Failure);
            Ok(refuse(StatusCode::UNAUTHORIZED, USED_CODE))
        }
        Verdict::Wrong => {
            data::record_event(&state.pool, &member, EventKind::TwoFactorFailed, &origin).await?;
            state.metrics.sign_in(SignIn::Failure);
            Ok(refuse(StatusCode::UNAUTHORIZED, WRONG_CODE))
        }
    }
}

/// Check a TOTP code of `member`, and accept it by raising the last used step (at most once
/// per step, across instances); the secret is sealed again if an older key sealed it.
async fn check_totp(
    state: &AppState,
    member: &str,
    code: &str,
    origin: &ClientInfo,
) -> Result<Verdict, AppError> {
    let Some(stored) = data::two_factor_secret(&state.pool, member).await? else {
        return Ok(Verdict::Wrong);
    };
    let Some(secret) = state.totp_keys.open(&stored.sealed, member) else {
        tracing::warn!(
            "a two-factor secret does not open with TOTP_KEY (was the key changed?): \
             only recovery codes can sign this member in"
        );
        return Ok(Verdict::Wrong);
    };
    match secret.check(code, unix_now(), stored.last_step) {
        CodeCheck::Valid(step) => {
            let reseal = (!state.totp_keys.is_current(&stored.sealed))
                .then(|| state.totp_keys.seal(&secret, member));
            let accepted = data::use_code_step(
                &state.pool,
                &state.outbox,
                member,
                step,
                reseal.as_deref(),
                origin,
            )
            .await?;
            // Not accepted: another request took this step (or a later one) a moment ago.
            Ok(if accepted {
                Verdict::Accepted
            } else {
                Verdict::Used
            })
        }
        CodeCheck::Used => Ok(Verdict::Used),
        CodeCheck::Wrong => Ok(Verdict::Wrong),
    }
}
