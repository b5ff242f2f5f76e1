//! `GET /forgot-password`, `POST /forgot-password`, `GET /reset-password/{token}`,
//! `POST /reset-password`: choosing a new password through a mailed link.
//!
//! The request page answers every request alike, at once: the lookup, the limits and the
//! queueing run in the background after the answer, so neither the page nor its timing says
//! whether an address belongs to anyone. The per-IP limit counts every request; a refused
//! one gets the same page and no mail.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::data;
use crate::domain::{link_token_hash, ClientInfo, EmailAddress, NewPassword};
use crate::web::client::ClientIp;
use crate::web::csrf::{CsrfSigner, PublicForm};
use crate::web::errors::AppError;
use crate::web::session::{with_login_notice, LoginNotice};
use crate::web::state::AppState;
use crate::web::templates::{in_words, ForgotPasswordPage, Layout, ResetPasswordPage};

use super::{anonymous_form, dead_link, no_referrer, see_other};

/// The request form.
pub async fn form(
    req: HttpRequest,
    signer: web::Data<CsrfSigner>,
    state: web::Data<AppState>,
) -> HttpResponse {
    forgot_page(&req, &signer, &state, StatusCode::OK, None, None)
}

fn forgot_page(
    req: &HttpRequest,
    signer: &CsrfSigner,
    state: &AppState,
    status: StatusCode,
    sent_to: Option<String>,
    error: Option<&str>,
) -> HttpResponse {
    anonymous_form(req, signer, status, |csrf| ForgotPasswordPage {
        layout: Layout::default(),
        csrf,
        sent_to,
        mail_on: state.outbox.is_on(),
        valid_for: in_words(state.outbox.reset_ttl),
        error: error.map(str::to_owned),
    })
}

/// The request form's fields.
#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// Take a request: the same page for every address, the work after the answer.
pub async fn submit(
    req: HttpRequest,
    form: PublicForm<ForgotForm>,
    origin: ClientInfo,
    client: ClientIp,
    signer: web::Data<CsrfSigner>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let typed = form.into_inner().email;
    let address = match EmailAddress::parse(&typed) {
        Ok(address) => address,
        // 200 like every answer of this form, with the form again saying only that the text
        // is not an address (which the visitor can see), so a typo can be mended.
        Err(message) => {
            return forgot_page(&req, &signer, &state, StatusCode::OK, None, Some(message))
        }
    };
    let shown = address.as_str().to_owned();
    if state.outbox.is_on() {
        queue_lookup(&state, address, origin, client);
    }
    forgot_page(&req, &signer, &state, StatusCode::OK, Some(shown), None)
}

/// Look `address` up after the answer, on the worker's runtime (whose pool this is), at most
/// [`RESET_LOOKUPS`](crate::web::RESET_LOOKUPS) at a time per instance: beyond that a request gets its page and no mail,
/// as over any other limit. The client's allowance is reserved first and never given back,
/// so every request counts against `LOGIN_IP_LIMIT`.
fn queue_lookup(state: &AppState, address: EmailAddress, origin: ClientInfo, client: ClientIp) {
    let Ok(slot) = state.reset_lookups.clone().try_acquire_owned() else {
        tracing::debug!("every reset lookup slot is busy: a request gets its page and no mail");
        return;
    };
    let (pool, outbox, limit) = (
        state.pool.clone(),
        state.outbox.clone(),
        state.ip_limit.clone(),
    );
    actix_web::rt::spawn(async move {
        let _slot = slot;
        let Ok(_reservation) = limit.reserve(client.0).await else {
            return;
        };
        if let Err(error) = data::request_reset(&pool, &outbox, &address, &origin).await {
            tracing::warn!(error = ?error, "a password reset request could not be handled");
        }
    });
}

/// The page behind a reset link: the new-password form, if the link is live.
pub async fn reset_form(
    req: HttpRequest,
    token: web::Path<String>,
    signer: web::Data<CsrfSigner>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let token = token.into_inner();
    let owner = match link_token_hash(&token) {
        Some(hash) => data::reset_link(&state.pool, &hash).await?,
        None => None,
    };
    let Some(owner) = owner else {
        return Ok(dead_link(true));
    };
    Ok(reset_page(
        &req,
        &signer,
        StatusCode::OK,
        token,
        owner.member,
        None,
    ))
}

fn reset_page(
    req: &HttpRequest,
    signer: &CsrfSigner,
    status: StatusCode,
    token: String,
    username: String,
    error: Option<String>,
) -> HttpResponse {
    no_referrer(anonymous_form(req, signer, status, |csrf| {
        ResetPasswordPage {
            layout: Layout::default(),
            csrf,
            token,
            username,
            error,
        }
    }))
}

/// The new-password form.
#[derive(Deserialize)]
pub struct ResetForm {
    token: String,
    new_password: String,
    new_password_confirm: String,
}

/// Set the new password (the link is consumed, every session of the member ends), then the
/// sign-in page: the member signs in anew, second factor included.
pub async fn reset_submit(
    req: HttpRequest,
    form: PublicForm<ResetForm>,
    origin: ClientInfo,
    signer: web::Data<CsrfSigner>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let ResetForm {
        token,
        new_password,
        new_password_confirm,
    } = form.into_inner();
    let Some(hash) = link_token_hash(&token) else {
        return Ok(dead_link(true));
    };
    let Some(owner) = data::reset_link(&state.pool, &hash).await? else {
        return Ok(dead_link(true));
    };
    let checked = match NewPassword::parse(&new_password, &new_password_confirm) {
        Ok(password) => state
            .vet_new_password(&password, &owner.member, &owner.name)
            .await
            .map(|()| password),
        Err(message) => Err(message.to_owned()),
    };
    let password = match checked {
        Ok(password) => password,
        Err(message) => {
            return Ok(reset_page(
                &req,
                &signer,
                StatusCode::UNPROCESSABLE_ENTITY,
                token,
                owner.member,
                Some(message),
            ))
        }
    };
    let new_hash = state.hasher.hash(password.into_inner()).await?;
    let reset = data::reset_password(
        &state.pool,
        &state.store,
        &state.outbox,
        &hash,
        &new_hash,
        &origin,
    )
    .await?;
    if reset.is_none() {
        // Used by a request that raced this one, or the password changed meanwhile.
        return Ok(dead_link(true));
    }
    Ok(with_login_notice(
        see_other("/login"),
        LoginNotice::PasswordReset,
        state.secure_cookies,
    ))
}
