//! `GET /register`, `POST /register`.

use actix_identity::Identity;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::data::{self, CreateError};
use crate::domain::ClientInfo;
use crate::domain::{DisplayName, NewPassword, Username};
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
) -> HttpResponse {
    if identity.is_some() {
        return see_other("/");
    }
    page(&req, &signer, StatusCode::OK, "", "", None)
}

fn page(
    req: &HttpRequest,
    signer: &CsrfSigner,
    status: StatusCode,
    username: &str,
    name: &str,
    error: Option<&str>,
) -> HttpResponse {
    anonymous_form(req, signer, status, |csrf| RegisterPage {
        layout: Layout::default(),
        csrf,
        username: username.trim().to_owned(),
        name: name.trim().to_owned(),
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
    } = form.into_inner();
    let (raw_username, raw_name) = (raw_username.as_str(), raw_name.as_str());
    let invalid = |message: &str| {
        page(
            &req,
            &signer,
            StatusCode::UNPROCESSABLE_ENTITY,
            raw_username,
            raw_name,
            Some(message),
        )
    };
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
        .password_policy
        .check(&password, username.as_str(), name.as_str())
    {
        return Ok(invalid(&advice));
    }
    let hash = state.hasher.hash(password.into_inner()).await?;
    match data::create_member(&state.pool, &username, &name, &hash, Some(&origin)).await {
        Ok(member) => {
            session.sign_in(&req, &member, state.lifetime(false))?;
            Ok(see_other("/"))
        }
        Err(CreateError::Taken) => Ok(page(
            &req,
            &signer,
            StatusCode::CONFLICT,
            raw_username,
            raw_name,
            Some("That username is taken. Please choose another."),
        )),
        Err(CreateError::Db(e)) => Err(e.into()),
    }
}
