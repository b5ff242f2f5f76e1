//! `GET /register`, `POST /register`.

use actix_identity::Identity;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::data::{self, CreateError};
use crate::domain::ClientInfo;
use crate::domain::{DisplayName, EmailAddress, NewPassword, Username};
use crate::web::csrf::{CsrfSigner, PublicForm};
use crate::web::errors::AppError;
use crate::web::session::TypedSession;
use crate::web::state::AppState;
use crate::web::templates::{Layout, RegisterPage};

use super::{anonymous_form, see_other};

/// The registration form.
pub async fn form(
    req: HttpRequest,
    identity: Option<Identity>,
    signer: web::Data<CsrfSigner>,
    state: web::Data<AppState>,
) -> HttpResponse {
    if identity.is_some() {
        return see_other("/");
    }
    page(&req, &signer, &state, StatusCode::OK, ["", "", ""], None)
}

/// The form with `kept` (username, display name, address) filled in.
fn page(
    req: &HttpRequest,
    signer: &CsrfSigner,
    state: &AppState,
    status: StatusCode,
    kept: [&str; 3],
    error: Option<&str>,
) -> HttpResponse {
    let [username, name, email] = kept;
    anonymous_form(req, signer, status, |csrf| RegisterPage {
        layout: Layout::default(),
        csrf,
        username: username.trim().to_owned(),
        name: name.trim().to_owned(),
        email: email.trim().to_owned(),
        mail_on: state.outbox.is_on(),
        error: error.map(str::to_owned),
    })
}

/// The registration form.
#[derive(Deserialize)]
pub struct RegistrationForm {
    username: String,
    name: String,
    password: String,
    password_confirm: String,
    /// Optional: empty (or absent) for none.
    #[serde(default)]
    email: String,
}

/// Create the member and its author, then sign in.
pub async fn submit(
    req: HttpRequest,
    form: PublicForm<RegistrationForm>,
    session: TypedSession,
    origin: ClientInfo,
    state: web::Data<AppState>,
    signer: web::Data<CsrfSigner>,
) -> Result<HttpResponse, AppError> {
    let RegistrationForm {
        username: raw_username,
        name: raw_name,
        password,
        password_confirm: confirmation,
        email: raw_email,
    } = form.into_inner();
    let kept = [raw_username.as_str(), raw_name.as_str(), raw_email.as_str()];
    let invalid = |message: &str| {
        page(
            &req,
            &signer,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            kept,
            Some(message),
        )
    };
    let [raw_username, raw_name, raw_email] = kept;
    let username = match Username::parse(raw_username) {
        Ok(u) => u,
        Err(message) => return Ok(invalid(message)),
    };
    let name = match DisplayName::parse(raw_name) {
        Ok(n) => n,
        Err(message) => return Ok(invalid(message)),
    };
    let password = match NewPassword::parse(&password, &confirmation) {
        Ok(p) => p,
        Err(message) => return Ok(invalid(message)),
    };
    if let Err(advice) = state
        .vet_new_password(&password, username.as_str(), name.as_str())
        .await
    {
        return Ok(invalid(&advice));
    }
    // Without e-mail the form has no address field; one posted anyway is not kept.
    let email = if raw_email.trim().is_empty() || !state.outbox.is_on() {
        None
    } else {
        match EmailAddress::parse(raw_email) {
            Ok(address) => Some(address),
            Err(message) => return Ok(invalid(message)),
        }
    };
    let hash = state.hasher.hash(password.into_inner()).await?;
    let created = data::create_member(
        &state.pool,
        &state.outbox,
        &username,
        &name,
        &hash,
        email.as_ref(),
        Some(&origin),
    )
    .await;
    match created {
        Ok(member) => {
            session.sign_in(&req, &member, state.lifetime(false))?;
            Ok(see_other("/"))
        }
        Err(CreateError::Taken) => Ok(page(
            &req,
            &signer,
            &state,
            StatusCode::CONFLICT,
            kept,
            Some("That username is taken. Please choose another."),
        )),
        Err(CreateError::Db(e)) => Err(e.into()),
    }
}
