//! `GET /`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::data::{EmailState, TwoFactor};
use crate::web::guard::CurrentMember;
use crate::web::session::TypedSession;
use crate::web::state::AppState;
use crate::web::templates::{render, HomePage, Layout};

/// The member's home page.
pub async fn page(
    current: CurrentMember,
    session: TypedSession,
    state: web::Data<AppState>,
) -> HttpResponse {
    let CurrentMember { member, csrf } = current;
    // From the session's snapshot: the page still costs one round trip.
    let few_recovery_codes = match member.two_factor {
        TwoFactor::On { recovery_codes } if recovery_codes < 3 => Some(recovery_codes),
        _ => None,
    };
    render(
        StatusCode::OK,
        &HomePage {
            layout: Layout::member(&csrf),
            username: member.id,
            name: member.name,
            profile: member.profile,
            flash: session.take_flash(),
            few_recovery_codes,
            email_hint: (state.outbox.is_on() && member.email != EmailState::Verified)
                .then_some(member.email),
        },
    )
}
