//! `GET /`.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::web::guard::CurrentMember;
use crate::web::session::TypedSession;
use crate::web::templates::{render, HomePage, Layout};

/// The member's home page.
pub async fn page(current: CurrentMember, session: TypedSession) -> HttpResponse {
    let CurrentMember { member, csrf } = current;
    render(
        StatusCode::OK,
        &HomePage {
            layout: Layout::member(&csrf),
            username: member.id,
            name: member.name,
            profile: member.profile,
            flash: session.take_flash(),
        },
    )
}
