//! The command line: `serve` (default), `migrate`,
//! `user add|set-password|delete|disable-two-factor NAME`,
//! `sessions list|revoke NAME`, `sessions purge-expired`, `mail status`,
//! `mail send-test ADDRESS`.
//!
//! Commands report what they did on stdout, one line per fact; errors go to stderr as one line
//! and a non-zero exit (see `main`).

use std::io::{BufRead, IsTerminal, Write as _};

use actix_session_mysql::MySqlSessionStore;
use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::data::{self, CreateError};
use crate::domain::ClientInfo;
use crate::domain::Hasher;
use crate::domain::{DisplayName, EmailAddress, Letter, NewPassword, Username};
use crate::mail::{compose, Transport};
use crate::startup::{outbox_for, prepare_database, Application};
use crate::web::client_of;

/// Members sign in and are remembered by a server-side session stored in MySQL.
#[derive(Debug, Parser)]
#[command(name = "member-portal", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (the default).
    Serve,
    /// Create the database if missing and apply migrations.
    Migrate,
    /// Manage members.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage sessions.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// The mail outbox.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
}

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// The outbox: mails waiting, failed (kept a week), the oldest waiting.
    Status,
    /// Send a test mail to ADDRESS now, through SMTP_URL, and say how it went.
    SendTest {
        /// Where to.
        address: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a member. The password is prompted for, or read from the first line of stdin.
    Add {
        /// The username.
        name: String,
        /// The author display name (default: the username).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Set a member's password (prompted for, or the first line of stdin) and sign the member
    /// out everywhere.
    SetPassword {
        /// The username.
        name: String,
    },
    /// Delete a member with its author, sessions, security events and two-factor sign-in.
    Delete {
        /// The username.
        name: String,
    },
    /// Turn a member's two-factor sign-in off (a lost phone and lost recovery codes); the
    /// member's activity page shows it was done on the command line.
    DisableTwoFactor {
        /// The username.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// List a member's live sessions: created, last seen, IP, browser.
    List {
        /// The username.
        name: String,
    },
    /// Sign a member out everywhere.
    Revoke {
        /// The username.
        name: String,
    },
    /// Delete every expired session (and stale sign-in throttle rows) now.
    PurgeExpired,
}

/// `error` in one line for the terminal: its chain of causes, each said once. (Driver errors
/// repeat their source's text in their own, so the plain `{:#}` chain says it up to three
/// times.)
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        // A cause that repeats the line so far and adds to it replaces it.
        if !line.is_empty() && text.contains(&line) {
            line = text;
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Run the command line with `settings`.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            if settings.session_key_generated {
                tracing::warn!(
                    "SESSION_KEY is not set: using a random key, so sessions end when the app \
                     restarts (set SESSION_KEY; it is required with APP_ENV=production)"
                );
            }
            if settings.secure_cookies()
                && settings.frontend.public_origin.is_none()
                && settings.frontend.trusted_proxies.is_empty()
            {
                // Browsers behind a TLS proxy send `ClientInfo: https://…` while the app sees
                // plain HTTP: every form would be refused as cross-site.
                tracing::warn!(
                    "APP_ENV=production without PUBLIC_ORIGIN or TRUSTED_PROXIES: form posts \
                     must come from http://<Host>; behind a TLS proxy set PUBLIC_ORIGIN"
                );
            }
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "listening");
            app.run_until_stopped().await
        }
        Command::Migrate => {
            with_store(&settings, async |_| {
                report(format_args!(
                    "database ready: migrations applied, session table in place"
                ))
            })
            .await
        }
        Command::User {
            command: UserCommand::Add { name, display_name },
        } => add_user(&settings, &name, display_name.as_deref()).await,
        Command::User {
            command: UserCommand::SetPassword { name },
        } => set_password(&settings, &name).await,
        Command::User {
            command: UserCommand::Delete { name },
        } => delete_user(&settings, &name).await,
        Command::User {
            command: UserCommand::DisableTwoFactor { name },
        } => disable_two_factor(&settings, &name).await,
        Command::Sessions {
            command: SessionsCommand::List { name },
        } => list_sessions(&settings, &name).await,
        Command::Sessions {
            command: SessionsCommand::Revoke { name },
        } => revoke_sessions(&settings, &name).await,
        Command::Mail {
            command: MailCommand::Status,
        } => mail_status(&settings).await,
        Command::Mail {
            command: MailCommand::SendTest { address },
        } => send_test_mail(&settings, &address).await,
        Command::Sessions {
            command: SessionsCommand::PurgeExpired,
        } => {
            with_store(&settings, async |store| {
                let deleted = store.purge_expired().await?;
                let throttle_rows = crate::data::purge_stale_attempts(store.pool()).await?;
                let old_events = crate::data::purge_old_events(store.pool()).await?;
                report(format_args!(
                    "deleted {deleted} expired session(s), {throttle_rows} stale throttle row(s), \
                     {old_events} security event(s) older than {} days",
                    crate::data::EVENT_RETENTION_DAYS
                ))
            })
            .await
        }
    }
}

async fn mail_status(settings: &Settings) -> anyhow::Result<()> {
    with_store(settings, async |store| {
        let status = data::mail_status(store.pool()).await?;
        let oldest = status
            .oldest_waiting
            .map_or_else(|| "none".to_owned(), |at| format!("{at} UTC"));
        report(format_args!(
            "waiting {}, failed {}, oldest waiting {oldest}{}",
            status.waiting,
            status.failed,
            if settings.mail.is_on() {
                ""
            } else {
                " (e-mail is off here: SMTP_URL)"
            }
        ))?;
        if let Some(error) = status.last_error {
            report(format_args!("last failure: {error}"))?;
        }
        Ok(())
    })
    .await
}

/// Send the test letter straight through the transport (not the outbox): the operator learns
/// at once whether `SMTP_URL` works.
async fn send_test_mail(settings: &Settings, address: &str) -> anyhow::Result<()> {
    let address = EmailAddress::parse(address).map_err(anyhow::Error::msg)?;
    let transport = Transport::from_setting(&settings.mail.transport)?
        .context("e-mail is off (SMTP_URL=off, or production without SMTP_URL)")?;
    let outbox = outbox_for(settings, settings.bind.port());
    let (subject, body) = Letter::Test.compose(outbox.origin());
    let message = compose(&settings.mail.from, address.as_str(), &subject, &body)?;
    transport
        .send(message)
        .await
        .with_context(|| format!("sending through {} failed", transport.describe()))?;
    report(format_args!(
        "test mail sent to {} through {}",
        address.as_str(),
        transport.describe()
    ))
}

async fn add_user(settings: &Settings, name: &str, display: Option<&str>) -> anyhow::Result<()> {
    let username = Username::parse(name).map_err(anyhow::Error::msg)?;
    let display = DisplayName::parse(display.unwrap_or(name)).map_err(anyhow::Error::msg)?;
    let password = read_password()?;
    let outbox = outbox_for(settings, settings.bind.port());
    with_store(settings, async |store| {
        let hash = Hasher::new().hash(password.into_inner()).await?;
        match data::create_member(
            store.pool(),
            &outbox,
            &username,
            &display,
            &hash,
            None,
            None,
        )
        .await
        {
            Ok(_) => report(format_args!(
                "member {} added, display name {:?}",
                username.as_str(),
                display.as_str()
            )),
            Err(CreateError::Taken) => {
                anyhow::bail!("the username {} is taken", username.as_str())
            }
            Err(CreateError::Db(e)) => Err(e.into()),
        }
    })
    .await
}

/// `name` canonicalised as at registration; a name that cannot be valid names nobody.
fn member_name(name: &str) -> anyhow::Result<Username> {
    Username::parse(name).map_err(|_| no_such_member(name))
}

fn no_such_member(name: &str) -> anyhow::Error {
    anyhow::anyhow!("there is no member named {:?}", name.trim())
}

/// Print `line` on stdout (the command's report).
fn report(line: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    writeln!(std::io::stdout().lock(), "{line}").context("writing to stdout")
}

/// Run `work` on the prepared database, then close the pool whatever happened.
async fn with_store<T>(
    settings: &Settings,
    work: impl AsyncFnOnce(&MySqlSessionStore) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let (_, store) = prepare_database(settings).await?;
    let outcome = work(&store).await;
    store.pool().clone().disconnect().await.ok();
    outcome
}

async fn set_password(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let username = member_name(name)?;
    let id = username.as_str();
    with_store(settings, async |store| {
        // Asked before the password, so a typo costs no typing.
        if data::find_member(store.pool(), id).await?.is_none() {
            return Err(no_such_member(name));
        }
        let password = read_password()?;
        let hash = Hasher::new().hash(password.into_inner()).await?;
        let changed = data::change_password(
            store.pool(),
            store,
            &outbox_for(settings, settings.bind.port()),
            id,
            &hash,
            None,
            &ClientInfo::command_line(),
        )
        .await?
        .ok_or_else(|| no_such_member(name))?;
        report(format_args!(
            "password of {id} changed; {} signed out",
            sessions(changed.sessions_revoked)
        ))
    })
    .await
}

async fn delete_user(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let username = member_name(name)?;
    let id = username.as_str();
    with_store(settings, async |store| {
        let outbox = outbox_for(settings, settings.bind.port());
        let deleted = data::delete_member(store.pool(), store, &outbox, id)
            .await?
            .ok_or_else(|| no_such_member(name))?;
        report(format_args!(
            "member {id} deleted with its author, {} and {} security event{}",
            sessions(deleted.sessions),
            deleted.events,
            if deleted.events == 1 { "" } else { "s" }
        ))
    })
    .await
}

async fn disable_two_factor(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let username = member_name(name)?;
    let id = username.as_str();
    with_store(settings, async |store| {
        if data::find_member(store.pool(), id).await?.is_none() {
            return Err(no_such_member(name));
        }
        let outbox = outbox_for(settings, settings.bind.port());
        let done = data::disable_two_factor(store.pool(), &outbox, id, &ClientInfo::command_line())
            .await?;
        if done {
            report(format_args!(
                "two-factor sign-in of {id} turned off; the password alone signs in now"
            ))
        } else {
            report(format_args!(
                "{id} had no two-factor sign-in; nothing changed"
            ))
        }
    })
    .await
}

async fn list_sessions(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let username = member_name(name)?;
    let id = username.as_str();
    with_store(settings, async |store| {
        if data::find_member(store.pool(), id).await?.is_none() {
            return Err(no_such_member(name));
        }
        let records = store.list_user_sessions(id).await?;
        let mut out = std::io::stdout().lock();
        for record in &records {
            let device = client_of(record);
            let (browser, os) = device.browser_and_os();
            let ip = if device.ip.is_empty() {
                "unknown"
            } else {
                device.ip.as_str()
            };
            writeln!(
                out,
                "created {}  last seen {}  IP {ip}  {browser} on {os}",
                utc_minute(record.created_at),
                utc_minute(record.last_seen_at),
            )
            .context("writing to stdout")?;
        }
        writeln!(out, "{id}: {}", sessions(records.len() as u64)).context("writing to stdout")
    })
    .await
}

async fn revoke_sessions(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let username = member_name(name)?;
    let id = username.as_str();
    with_store(settings, async |store| {
        let revoked =
            data::revoke_all_sessions(store.pool(), store, id, &ClientInfo::command_line())
                .await?
                .ok_or_else(|| no_such_member(name))?;
        report(format_args!("{id}: {} signed out", sessions(revoked)))
    })
    .await
}

fn sessions(n: u64) -> String {
    match n {
        1 => "1 session".to_owned(),
        n => format!("{n} sessions"),
    }
}

const UTC_MINUTE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

fn utc_minute(t: time::OffsetDateTime) -> String {
    t.format(UTC_MINUTE).unwrap_or_default()
}

fn read_password() -> anyhow::Result<NewPassword> {
    let (password, confirmation) = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let second = rpassword::prompt_password("Repeat it: ").context("reading the password")?;
        (first, second)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line).to_owned();
        (line.clone(), line)
    };
    NewPassword::parse(&password, &confirmation).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("driver failed: {0}")]
    struct Repeating(#[source] std::io::Error);

    #[test]
    fn one_line_says_each_cause_once() {
        let io = std::io::Error::other("connection refused");
        let error = anyhow::Error::new(Repeating(io)).context("could not connect");
        assert_eq!(
            one_line(&error),
            "could not connect: driver failed: connection refused"
        );
        let plain = anyhow::anyhow!("no such member").context("user delete");
        assert_eq!(one_line(&plain), "user delete: no such member");
    }
}
