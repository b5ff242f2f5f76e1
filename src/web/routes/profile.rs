//! `GET /account/profile`, `POST /account/profile`.

use actix_identity::Identity;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::data;
use crate::domain::ClientInfo;
use crate::domain::{DisplayName, ProfileText};
use crate::web::csrf::MemberForm;
use crate::web::errors::AppError;
use crate::web::guard::CurrentMember;
use crate::web::session::TypedSession;
use crate::web::state::AppState;
use crate::web::templates::{render, Layout, ProfilePage};

use super::see_other;

/// The profile form, filled with what the member's pages show now.
pub async fn form(current: CurrentMember) -> HttpResponse {
    let name = current.member.name.clone();
    let profile = current.member.profile.clone().unwrap_or_default();
    page(&current, StatusCode::OK, name, profile, None)
}

fn page(
    current: &CurrentMember,
    status: StatusCode,
    name: String,
    profile: String,
    error: Option<&str>,
) -> HttpResponse {
    render(
        status,
        &ProfilePage {
            layout: Layout::member(&current.csrf),
            csrf: current.csrf.clone(),
            name,
            profile,
            max_profile: ProfileText::MAX_CHARS,
            error: error.map(str::to_owned),
        },
    )
}

/// The profile form.
#[derive(Deserialize)]
pub struct ProfileForm {
    name: String,
    profile: String,
}

/// Save the display name and profile; this session's pages show them at once.
pub async fn submit(
    form: MemberForm<ProfileForm>,
    current: CurrentMember,
    session: TypedSession,
    identity: Identity,
    origin: ClientInfo,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let ProfileForm {
        name: raw_name,
        profile: raw_profile,
    } = form.into_inner();
    let parsed = DisplayName::parse(&raw_name)
        .and_then(|name| ProfileText::parse(&raw_profile).map(|profile| (name, profile)));
    let (name, profile) = match parsed {
        Ok(valid) => valid,
        Err(message) => {
            return Ok(page(
                &current,
                StatusCode::UNPROCESSABLE_ENTITY,
                raw_name,
                raw_profile,
                Some(message),
            ))
        }
    };
    let user = current.member.id.as_str();
    if !data::update_profile(&state.pool, user, &name, &profile, &origin).await? {
        // The member was deleted meanwhile: the session has no one left to be.
        identity.logout();
        return Ok(see_other("/login"));
    }
    session.remember_profile(name.as_str(), profile.as_deref())?;
    session.flash("Your profile has been saved.")?;
    Ok(see_other("/"))
}
