//! `GET /account/delete`, `POST /account/delete`: closing the account.

use actix_identity::Identity;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::data;
use crate::web::csrf::MemberForm;
use crate::web::errors::AppError;
use crate::web::guard::CurrentMember;
use crate::web::session::with_account_deleted_message;
use crate::web::state::AppState;
use crate::web::templates::{render, DeletePage, Layout};

use super::{confirm_password, see_other, CurrentPasswordForm};

fn page(current: &CurrentMember, status: StatusCode, error: Option<&str>) -> HttpResponse {
    render(
        status,
        &DeletePage {
            layout: Layout::member(&current.csrf),
            csrf: current.csrf.clone(),
            username: current.member.id.clone(),
            error: error.map(str::to_owned),
        },
    )
}

/// The form: what goes, and the current password to confirm it.
pub async fn form(current: CurrentMember) -> HttpResponse {
    page(&current, StatusCode::OK, None)
}

/// Delete the member with everything of it, in one transaction (every device is signed out
/// at once), clear this device's cookie, and say so on the sign-in page. A wrong password is a
/// 422 and changes nothing; guessing is throttled like sign-in.
pub async fn submit(
    req: HttpRequest,
    form: MemberForm<CurrentPasswordForm>,
    current: CurrentMember,
    identity: Identity,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let member = current.member.id.as_str();
    let password = form.into_inner().current_password;
    let refused = |status: StatusCode, message: &str| page(&current, status, Some(message));
    if let Some(refusal) = confirm_password(&req, &state, member, &password, refused).await? {
        return Ok(refusal);
    }
    data::delete_member(&state.pool, &state.store, &state.outbox, member).await?;
    // The row is gone already; this clears the cookie (and deletes nothing more).
    identity.logout();
    Ok(with_account_deleted_message(
        see_other("/login"),
        state.secure_cookies,
    ))
}
