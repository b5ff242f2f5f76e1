//! `GET /verify-email/{token}`, `POST /verify-email`: following a verification link.
//!
//! The link opens a page with one button: fetching it (as mail scanners and link previews do)
//! changes nothing. The page sends `Referrer-Policy: no-referrer`, so the token never leaves
//! in a `Referer` header.

use actix_identity::Identity;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::data::{self, EmailState, Verification};
use crate::domain::{link_token_hash, ClientInfo};
use crate::web::csrf::{CsrfSigner, PublicForm};
use crate::web::errors::AppError;
use crate::web::session::{with_login_notice, LoginNotice, TypedSession};
use crate::web::state::AppState;
use crate::web::templates::{Layout, VerifyEmailPage};

use super::{anonymous_form, dead_link, no_referrer, see_other};

/// The page behind a verification link: a button, if the link is live.
pub async fn page(
    req: HttpRequest,
    token: web::Path<String>,
    signer: web::Data<CsrfSigner>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let token = token.into_inner();
    let live = match link_token_hash(&token) {
        Some(hash) => data::verification_link(&state.pool, &hash).await?.is_some(),
        None => false,
    };
    if !live {
        return Ok(dead_link(false));
    }
    Ok(no_referrer(anonymous_form(
        &req,
        &signer,
        StatusCode::OK,
        |csrf| VerifyEmailPage {
            layout: Layout::default(),
            csrf,
            token,
        },
    )))
}

/// The button's form.
#[derive(Deserialize)]
pub struct VerifyForm {
    token: String,
}

/// Verify the address (the link is consumed), then home (signed in) or the sign-in page.
pub async fn submit(
    form: PublicForm<VerifyForm>,
    identity: Option<Identity>,
    session: TypedSession,
    origin: ClientInfo,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let Some(hash) = link_token_hash(&form.into_inner().token) else {
        return Ok(dead_link(false));
    };
    match data::verify_address(&state.pool, &state.outbox, &hash, &origin).await? {
        Verification::Verified { member } => {
            let signed_in_as = identity.and_then(|i| i.id().ok());
            if signed_in_as.as_deref() == Some(member.as_str()) {
                session.remember_email(EmailState::Verified)?;
                session.flash("Your e-mail address is confirmed.")?;
                return Ok(see_other("/"));
            }
            Ok(with_login_notice(
                see_other("/login"),
                LoginNotice::EmailVerified,
                state.secure_cookies,
            ))
        }
        Verification::Dead => Ok(dead_link(false)),
        Verification::TakenMeanwhile => Ok(dead_link(false)),
    }
}
