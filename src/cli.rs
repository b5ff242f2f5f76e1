//! The command line: `serve` (default), `migrate`, `user add NAME`, `sessions purge-expired`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mysql_async::Pool;

use crate::config::Settings;
use crate::domain::{DisplayName, NewPassword, Username};
use crate::members::{self, CreateError};
use crate::password::Hasher;
use crate::startup::{prepare_database, Application};

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
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// Delete every expired session (and stale sign-in throttle rows) now.
    PurgeExpired,
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
                // Browsers behind a TLS proxy send `Origin: https://…` while the app sees
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
            let (_, store) = prepare_database(&settings).await?;
            store.pool().clone().disconnect().await.ok();
            tracing::info!("database ready");
            Ok(())
        }
        Command::User {
            command: UserCommand::Add { name, display_name },
        } => add_user(&settings, &name, display_name.as_deref()).await,
        Command::Sessions {
            command: SessionsCommand::PurgeExpired,
        } => {
            let (_, store) = prepare_database(&settings).await?;
            let deleted = store.purge_expired().await?;
            let throttle_rows = crate::throttle::purge_stale(store.pool()).await?;
            let old_events = crate::events::purge_old(store.pool()).await?;
            store.pool().clone().disconnect().await.ok();
            tracing::info!(
                deleted,
                throttle_rows,
                old_events,
                "expired sessions, stale throttle rows and old security events deleted"
            );
            Ok(())
        }
    }
}

async fn add_user(settings: &Settings, name: &str, display: Option<&str>) -> anyhow::Result<()> {
    let username = Username::parse(name).map_err(anyhow::Error::msg)?;
    let display = DisplayName::parse(display.unwrap_or(name)).map_err(anyhow::Error::msg)?;
    let password = read_password()?;
    let (_, store) = prepare_database(settings).await?;
    let pool: Pool = store.pool().clone();
    let hash = Hasher::new().hash(password.into_inner()).await?;
    let created = members::create(&pool, &username, &display, &hash).await;
    pool.disconnect().await.ok();
    match created {
        Ok(_) => {
            tracing::info!(user = username.as_str(), "member added");
            Ok(())
        }
        Err(CreateError::Taken) => anyhow::bail!("the username {} is taken", username.as_str()),
        Err(CreateError::Db(e)) => Err(e.into()),
    }
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
