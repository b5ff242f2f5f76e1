//! `GET /account/password`, `POST /account/password`.

use actix_identity::Identity;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::data::{self, Member};
use crate::domain::ClientInfo;
use crate::domain::NewPassword;
use crate::web::client::ClientIp;
use crate::web::credentials::{check_password, PasswordCheck};
use crate::web::csrf::MemberForm;
use crate::web::errors::AppError;
use crate::web::guard::CurrentMember;
use crate::web::session::{current_session_key, TypedSession};
use crate::web::state::AppState;
use crate::web::templates::{render, Layout, PasswordPage};

use super::{see_other, with_retry_after};

const TOO_MANY: &str = "Too many wrong passwords. Wait a moment and try again.";

/// The change-password form.
pub async fn form(current: CurrentMember) -> HttpResponse {
    page(&current, StatusCode::OK, None)
}

fn page(current: &CurrentMember, status: StatusCode, error: Option<&str>) -> HttpResponse {
    render(
        status,
        &PasswordPage {
            layout: Layout::member(&current.csrf),
            csrf: current.csrf.clone(),
            username: current.member.id.clone(),
            error: error.map(str::to_owned),
        },
    )
}

/// The password change form.
#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    new_password_confirm: String,
}

/// Change the password: every other session is revoked, this one gets a new id.
pub async fn submit(
    req: HttpRequest,
    form: MemberForm<PasswordForm>,
    current: CurrentMember,
    session: TypedSession,
    identity: Identity,
    origin: ClientInfo,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let PasswordForm {
        current_password,
        new_password,
        new_password_confirm: confirmation,
    } = form.into_inner();
    let user = current.member.id.as_str();

    // Guessing the current password from a stolen session is throttled like sign-in.
    match check_password(&state, ClientIp::of(&req).0, Some(user), &current_password).await? {
        PasswordCheck::Accepted(_) => {}
        PasswordCheck::Rejected => {
            return Ok(page(
                &current,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("Your current password is not correct."),
            ))
        }
        PasswordCheck::Throttled(wait) => {
            return Ok(with_retry_after(
                page(&current, StatusCode::TOO_MANY_REQUESTS, Some(TOO_MANY)),
                wait,
            ))
        }
    }
    let checked = match NewPassword::parse(&new_password, &confirmation) {
        Ok(password) => state
            .vet_new_password(&password, user, &current.member.name)
            .await
            .map(|()| password),
        Err(message) => Err(message.to_owned()),
    };
    let new_password = match checked {
        Ok(p) => p,
        Err(message) => {
            return Ok(page(
                &current,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&message),
            ))
        }
    };
    let hash = state.hasher.hash(new_password.into_inner()).await?;
    // Every other session is deleted in the same transaction as the hash update; without a
    // readable cookie (cannot happen behind require_member) none is kept.
    let keep = current_session_key(&req, &state.key);
    let changed = data::change_password(
        &state.pool,
        &state.store,
        &state.outbox,
        user,
        &hash,
        keep.as_ref(),
        &origin,
    )
    .await?;
    let Some(changed) = changed else {
        // The member was deleted meanwhile: the session has no one left to be.
        identity.logout();
        return Ok(see_other("/login"));
    };
    let member = Member {
        password_stamp: changed.stamp,
        ..current.member.clone()
    };
    session.renew_after_password_change(&member)?;
    session.flash("Your password has been changed. Other devices were signed out.")?;
    Ok(see_other("/"))
}
