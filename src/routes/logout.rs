//! `POST /logout`.

use actix_identity::Identity;
use actix_web::HttpResponse;

use crate::csrf::MemberForm;

use super::see_other;

/// Sign out: actix-identity purges the session, so the middleware deletes the row and clears
/// the cookie. Without a session there is nothing to do but go to the sign-in page.
pub async fn submit(_form: MemberForm, identity: Option<Identity>) -> HttpResponse {
    if let Some(identity) = identity {
        identity.logout();
    }
    see_other("/login")
}
