//! `GET /login`, `POST /login`.

use actix_identity::Identity;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::domain::ClientInfo;
use crate::domain::{safe_next, Username};
use crate::telemetry::SignIn;
use crate::web::client::ClientIp;
use crate::web::credentials::{check_sign_in, PasswordCheck};
use crate::web::csrf::{CsrfSigner, PublicForm};
use crate::web::errors::AppError;
use crate::web::session::TypedSession;
use crate::web::state::AppState;
use crate::web::templates::{Layout, LoginPage};

use super::{anonymous_form, see_other, with_retry_after};

/// The one message for every failed sign-in: it never says whether the account exists.
pub const BAD_CREDENTIALS: &str = "That username and password do not match.";

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// The sign-in form. Needs no database: it reads only the session cookie and the CSRF cookie.
pub async fn form(
    req: HttpRequest,
    identity: Option<Identity>,
    query: Option<web::Query<LoginQuery>>,
    signer: web::Data<CsrfSigner>,
) -> HttpResponse {
    if identity.is_some() {
        return see_other("/");
    }
    // A query that does not parse (`next` twice, bad escapes) is a `next` that is no local
    // path: the form still shows, and leads to `/`.
    let next = safe_next(query.as_ref().and_then(|q| q.next.as_deref()));
    page(&req, &signer, StatusCode::OK, String::new(), next, None)
}

fn page(
    req: &HttpRequest,
    signer: &CsrfSigner,
    status: StatusCode,
    username: String,
    next: String,
    error: Option<String>,
) -> HttpResponse {
    anonymous_form(req, signer, status, |csrf| LoginPage {
        layout: Layout::default(),
        csrf,
        username,
        next,
        error,
    })
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignInForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Sign in: the throttled password check, then a brand-new session.
pub async fn submit(
    req: HttpRequest,
    form: PublicForm<SignInForm>,
    session: TypedSession,
    origin: ClientInfo,
    client: ClientIp,
    state: web::Data<AppState>,
    signer: web::Data<CsrfSigner>,
) -> Result<HttpResponse, AppError> {
    let SignInForm {
        username: raw_username,
        password,
        next,
    } = form.into_inner();
    let next = safe_next(Some(&next));
    let reject = |status: StatusCode| {
        page(
            &req,
            &signer,
            status,
            raw_username.trim().to_owned(),
            next.clone(),
            Some(BAD_CREDENTIALS.to_owned()),
        )
    };
    // Canonicalised exactly as at registration; a name that fails that cannot be anyone's.
    let account = Username::parse(&raw_username).ok();
    let account = account.as_ref().map(Username::as_str);
    match check_sign_in(&state, client.0, account, &password, &origin).await? {
        PasswordCheck::Accepted(member) => {
            // The cap (MAX_SESSIONS_PER_MEMBER) is applied once the new row is in: see
            // `cap_sessions`.
            session.sign_in(&req, &member)?;
            state.metrics.sign_in(SignIn::Success);
            Ok(see_other(&next))
        }
        PasswordCheck::Rejected => {
            state.metrics.sign_in(SignIn::Failure);
            Ok(reject(StatusCode::UNAUTHORIZED))
        }
        PasswordCheck::Throttled(wait) => {
            state.metrics.sign_in(SignIn::Throttled);
            Ok(with_retry_after(
                reject(StatusCode::TOO_MANY_REQUESTS),
                wait,
            ))
        }
    }
}
