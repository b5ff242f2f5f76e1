//! `GET /login`, `POST /login`.

use actix_identity::Identity;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth;
use crate::csrf::{CsrfSigner, PublicForm};
use crate::domain::{safe_next, Username};
use crate::errors::AppError;
use crate::members;
use crate::password::Verdict;
use crate::startup::AppState;
use crate::templates::{Layout, LoginPage};
use crate::throttle::{self, Throttle};

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
    query: web::Query<LoginQuery>,
    signer: web::Data<CsrfSigner>,
) -> HttpResponse {
    if identity.is_some() {
        return see_other("/");
    }
    let next = safe_next(query.next.as_deref());
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

/// Sign in: throttle check, password check (constant work for unknown users), a brand-new
/// session on success.
pub async fn submit(
    req: HttpRequest,
    form: PublicForm,
    session: Session,
    state: web::Data<AppState>,
    signer: web::Data<CsrfSigner>,
) -> Result<HttpResponse, AppError> {
    let raw_username = form.required("username")?;
    let password = form.required("password")?;
    let next = safe_next(form.optional("next"));
    let shown = raw_username.trim().to_owned();
    let reject = |status: StatusCode| {
        page(
            &req,
            &signer,
            status,
            shown.clone(),
            next.clone(),
            Some(BAD_CREDENTIALS.to_owned()),
        )
    };
    // A name that cannot exist is still throttled and hashed like any other, under its
    // normalised form, so the answer reveals nothing.
    let account = Username::parse(raw_username)
        .map(|u| u.as_str().to_owned())
        .unwrap_or_else(|_| {
            raw_username
                .trim()
                .to_lowercase()
                .chars()
                .take(40)
                .collect()
        });

    let throttle = throttle::check(&state.pool, &account).await?;
    if let Throttle::Locked(wait) = throttle {
        return Ok(with_retry_after(
            reject(StatusCode::TOO_MANY_REQUESTS),
            wait,
        ));
    }

    let credentials = members::credentials(&state.pool, &account).await?;
    let stamp = credentials.as_ref().map(|c| c.password_stamp);
    let verdict = state
        .hasher
        .verify(password.to_owned(), credentials.map(|c| c.password_hash))
        .await?;
    let stamp = match (verdict, stamp) {
        (Verdict::Rejected, _) | (_, None) => {
            throttle::record_failure(&state.pool, &account).await?;
            return Ok(reject(StatusCode::UNAUTHORIZED));
        }
        (Verdict::AcceptedRehashed(hash), Some(stamp)) => {
            members::upgrade_hash(&state.pool, &account, &hash).await?;
            stamp
        }
        (Verdict::Accepted, Some(stamp)) => stamp,
    };
    if throttle != Throttle::Clear {
        throttle::clear(&state.pool, &account).await?;
    }
    auth::sign_in(&req, &session, &account, stamp)?;
    Ok(see_other(&next))
}
