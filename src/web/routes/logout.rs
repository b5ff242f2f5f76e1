//! `POST /logout`.

use actix_identity::Identity;
use actix_web::{web, HttpResponse};

use crate::data::{self, EventKind};
use crate::domain::ClientInfo;
use crate::web::csrf::{MemberForm, NoFields};
use crate::web::state::AppState;

use super::see_other;

/// Sign out: actix-identity purges the session, so the middleware deletes the row and clears
/// the cookie. Without a session there is nothing to do but go to the sign-in page.
pub async fn submit(
    _form: MemberForm<NoFields>,
    identity: Option<Identity>,
    origin: ClientInfo,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Some(identity) = identity {
        if let Ok(user) = identity.id() {
            // A sign-out never fails for want of its activity line.
            if let Err(error) =
                data::record_event(&state.pool, &user, EventKind::SignOut, &origin).await
            {
                tracing::warn!(error = ?error, "could not record a sign-out");
            }
        }
        identity.logout();
    }
    see_other("/login")
}
