//! `GET /sessions`, `POST /sessions/revoke`, `POST /sessions/revoke-others`.

use actix_session_mysql::{SessionHandle, SessionRecord};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::data;
use crate::domain::ClientInfo;
use crate::web::csrf::{MemberForm, NoFields};
use crate::web::errors::AppError;
use crate::web::guard::CurrentMember;
use crate::web::session::{client_of, current_session_key, TypedSession};
use crate::web::state::AppState;
use crate::web::templates::{in_words, render, Layout, SessionView, SessionsPage};

use super::see_other;

const WHEN: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

fn when(t: OffsetDateTime) -> String {
    t.format(WHEN).unwrap_or_default()
}

fn view(record: &SessionRecord, current: Option<SessionHandle>) -> SessionView {
    let device = client_of(record);
    let (browser, os) = device.browser_and_os();
    let ClientInfo { user_agent, ip } = device;
    SessionView {
        handle: record.handle.to_string(),
        browser,
        os,
        user_agent: if user_agent.is_empty() {
            "(none)".to_owned()
        } else {
            user_agent
        },
        ip: if ip.is_empty() {
            "unknown".to_owned()
        } else {
            ip
        },
        created: when(record.created_at),
        last_seen: when(record.last_seen_at),
        current: Some(record.handle) == current,
        // Only "keep me signed in" gives a member's session a TTL of its own.
        remembered: record.ttl.map(in_words),
    }
}

/// The member's live sessions.
pub async fn list(
    req: HttpRequest,
    current: CurrentMember,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let this = current_session_key(&req, &state.key).map(|k| SessionHandle::of(&k));
    let records = state.store.list_user_sessions(&current.member.id).await?;
    let mut sessions: Vec<SessionView> = records.iter().map(|r| view(r, this)).collect();
    // This device first, then most recently seen.
    sessions.sort_by_key(|s| !s.current);
    Ok(render(
        StatusCode::OK,
        &SessionsPage {
            layout: Layout::member(&current.csrf),
            csrf: current.csrf.clone(),
            sessions,
            flash: session.take_flash(),
        },
    ))
}

/// The form of one device's "Sign out" button.
#[derive(Deserialize)]
pub struct RevokeForm {
    session: String,
}

/// Revoke one of the member's own sessions; someone else's handle changes nothing.
pub async fn revoke(
    form: MemberForm<RevokeForm>,
    current: CurrentMember,
    session: TypedSession,
    origin: ClientInfo,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let handle: SessionHandle = form
        .into_inner()
        .session
        .parse()
        .map_err(|_| AppError::BadRequest("not a session handle"))?;
    if data::revoke_session(
        &state.pool,
        &state.store,
        &current.member.id,
        &handle,
        &origin,
    )
    .await?
    {
        session.flash("That device has been signed out.")?;
    }
    Ok(see_other("/sessions"))
}

/// Sign out every other device.
pub async fn revoke_others(
    req: HttpRequest,
    _form: MemberForm<NoFields>,
    current: CurrentMember,
    session: TypedSession,
    origin: ClientInfo,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let key = current_session_key(&req, &state.key)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("signed in without a session cookie")))?;
    let revoked =
        data::revoke_other_sessions(&state.pool, &state.store, &current.member.id, &key, &origin)
            .await?;
    let message = match revoked {
        0 => "No other device was signed in.".to_owned(),
        1 => "1 other device has been signed out.".to_owned(),
        n => format!("{n} other devices have been signed out."),
    };
    session.flash(&message)?;
    Ok(see_other("/sessions"))
}
