//! Every unknown path: the 404 page.

use actix_identity::Identity;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::web::session::TypedSession;
use crate::web::templates::{render, ErrorPage, Layout};

/// The 404 page, with the signed-in header (and its "Sign out") for a signed-in visitor. Reads
/// only the session that the middleware has already loaded.
pub async fn page(identity: Option<Identity>, session: TypedSession) -> HttpResponse {
    let mut page = ErrorPage::for_status(StatusCode::NOT_FOUND);
    if let (Some(_), Some(csrf)) = (identity, session.csrf_token()) {
        page.layout = Layout::member(&csrf);
    }
    render(StatusCode::NOT_FOUND, &page)
}
