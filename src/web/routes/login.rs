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
use crate::web::session::{farewell, remove_farewell, TypedSession};
use crate::web::state::AppState;
use crate::web::templates::{in_words, Layout, LoginPage};

use super::{anonymous_form, finish_sign_in, see_other, ticked, with_retry_after};

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
    state: web::Data<AppState>,
) -> HttpResponse {
    if identity.is_some() {
        return see_other("/");
    }
    // A query that does not parse (`next` twice, bad escapes) is a `next` that is no local
    // path: the form still shows, and leads to `/`.
    let next = safe_next(query.as_ref().and_then(|q| q.next.as_deref()));
    let Some(notice) = farewell(&req) else {
        return page(
            &req,
            &signer,
            &state,
            StatusCode::OK,
            String::new(),
            next,
            None,
        );
    };
    let response = anonymous_form(&req, &signer, StatusCode::OK, |csrf| LoginPage {
        notice: Some(notice),
        ..login_page(&state, csrf, String::new(), next, None)
    });
    remove_farewell(response)
}

fn login_page(
    state: &AppState,
    csrf: String,
    username: String,
    next: String,
    error: Option<String>,
) -> LoginPage {
    LoginPage {
        layout: Layout::default(),
        csrf,
        username,
        next,
        error,
        notice: None,
        remember_for: state.remember_for.map(in_words),
    }
}

fn page(
    req: &HttpRequest,
    signer: &CsrfSigner,
    state: &AppState,
    status: StatusCode,
    username: String,
    next: String,
    error: Option<String>,
) -> HttpResponse {
    anonymous_form(req, signer, status, |csrf| {
        login_page(state, csrf, username, next, error)
    })
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignInForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
    /// "Keep me signed in" (`1` when ticked; absent when not).
    #[serde(default)]
    remember: String,
}

/// Sign in: the throttled password check, then a brand-new session — or, for a member with
/// two-factor sign-in, a half signed-in one that waits for the code (`/login/two-factor`).
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
        remember,
    } = form.into_inner();
    let next = safe_next(Some(&next));
    let remember = ticked(&remember);
    let reject = |status: StatusCode| {
        page(
            &req,
            &signer,
            &state,
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
        PasswordCheck::Accepted(member) if member.two_factor.is_on() => {
            // Half signed in: no identity yet, nothing signed-in pages would accept; the
            // session cap and the `signin` event wait for the second factor.
            session.begin_second_factor(&member.id, &next, remember)?;
            Ok(see_other("/login/two-factor"))
        }
        PasswordCheck::Accepted(member) => {
            finish_sign_in(&req, &session, &state, &member, remember, &next).await
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
