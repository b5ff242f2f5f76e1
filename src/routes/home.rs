//! `GET /`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::auth::{self, CurrentMember};
use crate::templates::{render, HomePage, Layout};

/// The member's home page.
pub async fn page(current: CurrentMember, session: Session) -> HttpResponse {
    let CurrentMember { member, csrf } = current;
    render(
        StatusCode::OK,
        &HomePage {
            layout: Layout::member(&csrf),
            username: member.id,
            name: member.name,
            profile: member.profile,
            flash: auth::take_flash(&session),
        },
    )
}
