//! The session cap, applied after a sign-in's row is saved.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};

use super::session::SignedIn;
use super::state::AppState;

/// After the session middleware has saved the row of a sign-in (see [`TypedSession::sign_in`](super::TypedSession::sign_in)),
/// keep the member's `MAX_SESSIONS_PER_MEMBER` most recently seen live sessions and end the
/// rest. Trimming after the insert, not before, is what makes parallel sign-ins end with
/// exactly the cap: each trims after its own row is in, so the last to trim sees every row.
/// The store ranks sessions created within the last touch interval before older ones, so the
/// session just created outlives every older one, even a device touched since its sign-in; a
/// device in use counts as seen when it was last touched (at most one touch interval ago),
/// which is as precise as "recently seen" gets without a write per request. A failure here is
/// logged: the page was answered, and the next sign-in trims again.
pub async fn cap_sessions(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let response = next.call(req).await?;
    let signed_in = response.request().extensions().get::<SignedIn>().cloned();
    if let (Some(SignedIn(member)), true) = (signed_in, response.status().is_redirection()) {
        if let Some(state) = response.request().app_data::<web::Data<AppState>>() {
            let keep = u64::from(state.max_sessions);
            if let Err(error) = state.store.trim_user_sessions(&member, keep).await {
                tracing::warn!(error = %error, "could not apply the session cap");
            }
        }
    }
    Ok(response)
}
