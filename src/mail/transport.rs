//! [`Transport`]: how a mail leaves the instance — over SMTP (`lettre`'s tokio transport,
//! pooled connections), or as an `.eml` file in development — and [`compose`], the message
//! itself.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::domain::message_id_local;

/// Where mail goes (`SMTP_URL`).
#[derive(Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// Over SMTP, to this URL (`smtp://`, `smtp://…?tls=required`, `smtps://`).
    Smtp(String),
    /// Development without `SMTP_URL`: each mail an `.eml` file in this folder (`MAIL_DIR`).
    Files(PathBuf),
    /// E-mail features off (`SMTP_URL=off`, or production without `SMTP_URL`).
    Off,
}

impl std::fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The URL may hold a password: only where it points.
            Self::Smtp(url) => write!(f, "Smtp({})", smtp_endpoint(url)),
            Self::Files(dir) => write!(f, "Files({})", dir.display()),
            Self::Off => f.write_str("Off"),
        }
    }
}

/// `scheme://host:port` of an SMTP URL, without credentials or query: what logs may show.
pub fn smtp_endpoint(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("smtp", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest.split(['?', '/']).next().unwrap_or("");
    format!("{scheme}://{host}")
}

/// The longest an SMTP conversation may take before it counts as failed (and is retried).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp {
        /// The pooled transport.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `scheme://host:port`, for logs.
        endpoint: String,
    },
    /// A folder of `.eml` files (development without `SMTP_URL`).
    Files {
        /// The transport.
        transport: AsyncFileTransport<Tokio1Executor>,
        /// The folder.
        dir: PathBuf,
    },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Why a delivery failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{text}")]
pub struct SendError {
    /// A permanent refusal (an SMTP 5xx reply, or a message that cannot be built): never
    /// retried.
    pub permanent: bool,
    /// What went wrong, in one line (never the body).
    pub text: String,
}

impl Transport {
    /// The transport `setting` names; `None` when e-mail is off.
    pub fn from_setting(setting: &MailTransport) -> anyhow::Result<Option<Self>> {
        match setting {
            MailTransport::Off => Ok(None),
            MailTransport::Smtp(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("SMTP_URL")?
                    .timeout(Some(SEND_TIMEOUT))
                    .build();
                Ok(Some(Self::Smtp {
                    transport,
                    endpoint: smtp_endpoint(url),
                }))
            }
            MailTransport::Files(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("MAIL_DIR: could not create {}", dir.display()))?;
                Ok(Some(Self::Files {
                    transport: AsyncFileTransport::new(dir),
                    dir: dir.clone(),
                }))
            }
        }
    }

    /// Where mail goes, for logs: never credentials.
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp { endpoint, .. } => endpoint.clone(),
            Self::Files { dir, .. } => format!("files in {}", dir.display()),
        }
    }

    /// Deliver `message`, within [`SEND_TIMEOUT`].
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        let sent = tokio::time::timeout(SEND_TIMEOUT, async {
            match self {
                Self::Smtp { transport, .. } => {
                    transport
                        .send(message)
                        .await
                        .map(drop)
                        .map_err(|e| SendError {
                            permanent: e.is_permanent(),
                            text: e.to_string(),
                        })
                }
                Self::Files { transport, dir } => {
                    let id = transport.send(message).await.map_err(|e| SendError {
                        permanent: false,
                        text: e.to_string(),
                    })?;
                    tracing::info!(file = %dir.join(format!("{id}.eml")).display(), "mail written");
                    Ok(())
                }
            }
        })
        .await;
        sent.unwrap_or_else(|_| {
            Err(SendError {
                permanent: false,
                text: format!("no answer within {} s", SEND_TIMEOUT.as_secs()),
            })
        })
    }
}

/// The message: `From`, `To`, `Subject`, a `Date`, a `Message-ID` at the sender's domain, and
/// the body as `text/plain; charset=utf-8`.
pub fn compose(from: &Mailbox, to: &str, subject: &str, body: &str) -> Result<Message, SendError> {
    let permanent = |text: String| SendError {
        permanent: true,
        text,
    };
    let to: Mailbox = to
        .parse()
        .map_err(|_| permanent("the recipient is not a valid address".to_owned()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .date_now()
        .message_id(Some(format!(
            "<{}@{}>",
            message_id_local(),
            from.email.domain()
        )))
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| permanent(format!("the message could not be built: {e}")))
}
