//! The store's error types.
//!
//! Policy: every database call is wrapped with the operation it served, so a log line says
//! what was being done (`load`, `save`, …) and why it failed; no error ever carries a session
//! key. Errors reach actix-session as `anyhow::Error` wrapped in its own error enums.

use std::time::Duration;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed the statement, or could not be reached.
    #[error("session store: {op} failed")]
    Database {
        /// The operation, e.g. `load` or `revoke_session`.
        op: &'static str,
        /// What the driver reported.
        #[source]
        source: mysql_async::Error,
    },
    /// The operation did not finish in time: usually the database is unreachable or the pool
    /// is exhausted.
    #[error("session store: {op} timed out after {after:?}")]
    Timeout {
        /// The operation, e.g. `load`.
        op: &'static str,
        /// The configured [operation timeout](crate::MySqlSessionStoreBuilder::operation_timeout).
        after: Duration,
    },
    /// The session state could not be encoded as JSON.
    #[error("session store: the session state could not be serialized")]
    Serialize(#[source] serde_json::Error),
    /// The user id in the session state does not fit the `user_id` column.
    #[error("session store: the user id is longer than {max} bytes")]
    UserIdTooLong {
        /// The column's width in bytes.
        max: usize,
    },
    /// A column held a value of an unexpected type (the table was altered by hand?).
    #[error("session store: {op} read an unexpected value in column `{column}`")]
    Decode {
        /// The operation, e.g. `list_user_sessions`.
        op: &'static str,
        /// The column.
        column: &'static str,
    },
    /// `save` drew colliding keys several times in a row: the key source is broken.
    #[error("session store: could not find a free session key after {attempts} attempts")]
    KeySpaceExhausted {
        /// How many keys were tried.
        attempts: usize,
    },
}

impl StoreError {
    pub(crate) fn db(op: &'static str) -> impl FnOnce(mysql_async::Error) -> Self {
        move |source| Self::Database { op, source }
    }

    /// The same error again, for every request of a batch that failed (see `crate::batch`).
    /// Errors that cannot be cloned (the driver's, serde's) are carried as I/O errors with
    /// their message; a driver error stays an "unavailable" one.
    pub(crate) fn replicate(&self) -> Self {
        match self {
            Self::Database { op, source } => Self::Database {
                op,
                source: match source {
                    mysql_async::Error::Server(e) => mysql_async::Error::Server(e.clone()),
                    other => mysql_async::Error::Io(mysql_async::IoError::Io(
                        std::io::Error::other(other.to_string()),
                    )),
                },
            },
            Self::Timeout { op, after } => Self::Timeout { op, after: *after },
            Self::Serialize(e) => {
                Self::Serialize(serde_json::Error::io(std::io::Error::other(e.to_string())))
            }
            Self::UserIdTooLong { max } => Self::UserIdTooLong { max: *max },
            Self::Decode { op, column } => Self::Decode { op, column },
            Self::KeySpaceExhausted { attempts } => Self::KeySpaceExhausted {
                attempts: *attempts,
            },
        }
    }

    /// Whether the error says the database could not be reached (as opposed to a statement
    /// that the database rejected). Useful for choosing between "503, try again" and "500".
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            // A refusal (too many connections, a locked account) or a rolled-back conflict
            // that kept recurring is as transient as a lost connection.
            Self::Database { source, .. } => crate::retry::unavailable(source),
            _ => false,
        }
    }
}

/// Building the store failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The table name is not a plain SQL identifier.
    #[error(
        "invalid session table name {0:?}: use 1 to 64 ASCII letters, digits or underscores, \
         not starting with a digit"
    )]
    InvalidTableName(String),
    /// The database URL could not be parsed.
    #[error("invalid MySQL URL")]
    InvalidUrl(#[source] mysql_async::UrlError),
    /// The session table could not be created.
    #[error("could not create the session table")]
    CreateTable(#[source] StoreError),
    /// An interval or size was zero where zero has no meaning.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
}
