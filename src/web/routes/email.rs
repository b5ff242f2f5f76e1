//! `GET /account/email`, `POST /account/email` and its resend and withdraw buttons: the
//! member's address.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::data::{self, AddressRequest, EmailState, Resend};
use crate::domain::EmailAddress;
use crate::web::csrf::{MemberForm, NoFields};
use crate::web::errors::AppError;
use crate::web::guard::CurrentMember;
use crate::web::session::TypedSession;
use crate::web::state::AppState;
use crate::web::templates::{render, EmailPage, Layout};

use super::{confirm_password, see_other};

/// The page: the verified address, a pending one, the form to change it.
pub async fn form(
    current: CurrentMember,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let flash = session.take_flash();
    page(&current, &state, StatusCode::OK, "", flash, None).await
}

async fn page(
    current: &CurrentMember,
    state: &AppState,
    status: StatusCode,
    typed: &str,
    flash: Option<String>,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let addresses = data::member_addresses(&state.pool, &current.member.id).await?;
    Ok(render(
        status,
        &EmailPage {
            layout: Layout::member(&current.csrf),
            csrf: current.csrf.clone(),
            username: current.member.id.clone(),
            verified: addresses.verified,
            pending: addresses.pending,
            email: typed.trim().to_owned(),
            flash,
            error: error.map(str::to_owned),
            mail_on: state.outbox.is_on(),
        },
    ))
}

/// The address form.
#[derive(Deserialize)]
pub struct EmailForm {
    email: String,
    current_password: String,
}

/// Set or change the address: it is pending until its link is followed (the verified one, if
/// any, stays until then). The page says the same whether or not the address is in use.
pub async fn submit(
    req: HttpRequest,
    form: MemberForm<EmailForm>,
    current: CurrentMember,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let EmailForm {
        email,
        current_password,
    } = form.into_inner();
    if !state.outbox.is_on() {
        return page(
            &current,
            &state,
            StatusCode::CONFLICT,
            &email,
            None,
            Some("E-mail is turned off on this site."),
        )
        .await;
    }
    let member = current.member.id.as_str();
    let address = match EmailAddress::parse(&email) {
        Ok(address) => address,
        Err(message) => {
            return page(
                &current,
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                &email,
                None,
                Some(message),
            )
            .await
        }
    };
    // Checked before anything is queued: a stolen session cannot redirect the account's mail.
    if let Some(refusal) = confirm_password(
        &req,
        &state,
        member,
        &current_password,
        |status, message| {
            // A refusal page without the database: the member's addresses are shown on success.
            render(
                status,
                &EmailPage {
                    layout: Layout::member(&current.csrf),
                    csrf: current.csrf.clone(),
                    username: current.member.id.clone(),
                    verified: None,
                    pending: None,
                    email: email.trim().to_owned(),
                    flash: None,
                    error: Some(message.to_owned()),
                    mail_on: true,
                },
            )
        },
    )
    .await?
    {
        return Ok(refusal);
    }
    let message = match data::request_address(&state.pool, &state.outbox, member, &address).await? {
        AddressRequest::Queued => {
            if current.member.email != EmailState::Verified {
                session.remember_email(EmailState::Pending)?;
            }
            format!(
                "We sent a link to {}. Open it to confirm the address.",
                address.as_str()
            )
        }
        AddressRequest::AlreadyYours => format!("{} is your address already.", address.as_str()),
    };
    session.flash(&message)?;
    Ok(see_other("/account/email"))
}

/// Send the pending address's link again (at most once a minute).
pub async fn resend(
    _form: MemberForm<NoFields>,
    current: CurrentMember,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let message = match data::resend_verification(&state.pool, &state.outbox, &current.member.id)
        .await?
    {
        Resend::Queued => "We sent the link again.",
        Resend::TooSoon => {
            "A link was sent less than a minute ago. Check your inbox, or try again in a minute."
        }
        Resend::NothingPending => "There is no address waiting for confirmation.",
    };
    session.flash(message)?;
    Ok(see_other("/account/email"))
}

/// Withdraw the pending address; its links die with it.
pub async fn withdraw(
    _form: MemberForm<NoFields>,
    current: CurrentMember,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if data::withdraw_pending_address(&state.pool, &current.member.id).await? {
        if current.member.email == EmailState::Pending {
            session.remember_email(EmailState::None)?;
        }
        session.flash("The address waiting for confirmation was withdrawn.")?;
    }
    Ok(see_other("/account/email"))
}
