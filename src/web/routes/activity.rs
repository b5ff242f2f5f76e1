//! `GET /account/activity`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use time::format_description::FormatItem;
use time::macros::format_description;

use crate::data::{self, Event};
use crate::web::errors::AppError;
use crate::web::guard::CurrentMember;
use crate::web::state::AppState;
use crate::web::templates::{render, ActivityPage, EventView, Layout};

const WHEN: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

fn view(event: Event) -> EventView {
    let label = event.label();
    let at = event.at.format(WHEN).unwrap_or_default();
    let source = if event.origin.is_command_line() {
        "from the command line on the server".to_owned()
    } else {
        let device = &event.origin;
        let (browser, os) = device.browser_and_os();
        let ip = if device.ip.is_empty() {
            "unknown"
        } else {
            &device.ip
        };
        format!("IP {ip} · {browser} on {os}")
    };
    EventView {
        kind: event.kind,
        label,
        at,
        source,
        user_agent: event.origin.user_agent,
    }
}

/// The `before` cursor of the query string; anything that is not one means the newest page.
fn cursor(req: &HttpRequest) -> Option<u64> {
    // A cursor is digits: nothing to percent-decode.
    req.query_string()
        .split('&')
        .find_map(|pair| pair.strip_prefix("before="))?
        .parse()
        .ok()
}

/// The member's own security events, newest first, a page at a time.
pub async fn list(
    req: HttpRequest,
    current: CurrentMember,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let page = data::event_page(&state.pool, &current.member.id, cursor(&req)).await?;
    Ok(render(
        StatusCode::OK,
        &ActivityPage {
            layout: Layout::member(&current.csrf),
            events: page.events.into_iter().map(view).collect(),
            older: page.next.map(|id| format!("/account/activity?before={id}")),
            newer: !page.newest,
            retention_days: data::EVENT_RETENTION_DAYS,
        },
    ))
}
