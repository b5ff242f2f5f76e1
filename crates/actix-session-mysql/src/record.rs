//! [`SessionRecord`]: one listed session, with read access to its state.

use std::collections::HashMap;
use std::fmt;

use mysql_async::Row;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::error::StoreError;
use crate::id::{SessionHandle, SessionId};
use crate::sql::take;

/// One live session of a user, as listed by [`MySqlSessionStore::list_user_sessions`].
///
/// The session state is read through [`get`](Self::get) only. Its representation is
/// actix-session's and is changing: 0.11's `HashMap<String, String>` of JSON-encoded values
/// becomes a versioned `serde_json::Map` on actix-session's main branch. Keeping it out of
/// this crate's API means that when it changes, `get` keeps its signature and callers keep
/// compiling.
///
/// [`MySqlSessionStore::list_user_sessions`]: crate::MySqlSessionStore::list_user_sessions
#[derive(Clone)]
#[non_exhaustive]
pub struct SessionRecord {
    /// Names this session for [`MySqlSessionStore::revoke_session`].
    ///
    /// [`MySqlSessionStore::revoke_session`]: crate::MySqlSessionStore::revoke_session
    pub handle: SessionHandle,
    /// When the session was saved (sign-in, for identity sessions).
    pub created_at: OffsetDateTime,
    /// When the session was last written or touched (within one touch interval).
    pub last_seen_at: OffsetDateTime,
    /// When the session expires unless it is used again.
    pub expires_at: OffsetDateTime,
    /// The session's own TTL, if its state asked for one (see
    /// [`ttl_key`](crate::MySqlSessionStoreBuilder::ttl_key)); `None` for the default TTL.
    pub ttl: Option<std::time::Duration>,
    /// The state as actix-session 0.11 stores it (values JSON-encoded); `None` if the stored
    /// state is corrupt.
    state: Option<HashMap<String, String>>,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state may hold secrets (a CSRF token, say): it stays out of logs.
        f.debug_struct("SessionRecord")
            .field("handle", &self.handle)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("expires_at", &self.expires_at)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SessionRecord {
    /// Decodes a row of the `list_user` query.
    pub(crate) fn from_row(mut row: Row) -> Result<Self, StoreError> {
        const OP: &str = "list_user_sessions";
        let id: Vec<u8> = take(&mut row, 0, OP, "id")?;
        let data: Vec<u8> = take(&mut row, 1, OP, "data")?;
        let utc = |t: PrimitiveDateTime| t.assume_utc();
        Ok(Self {
            handle: SessionHandle(SessionId::from_slice(&id).ok_or(StoreError::Decode {
                op: OP,
                column: "id",
            })?),
            created_at: utc(take(&mut row, 2, OP, "created_at")?),
            last_seen_at: utc(take(&mut row, 3, OP, "last_seen_at")?),
            expires_at: utc(take(&mut row, 4, OP, "expires_at")?),
            ttl: take::<Option<u64>>(&mut row, 5, OP, "ttl_seconds")?
                .map(std::time::Duration::from_secs),
            state: crate::state::decode(&data).ok(),
        })
    }

    /// The value of `key` in the session state, decoded from JSON; `None` if it is absent, of
    /// another type, or the stored state is corrupt.
    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let raw = self.state.as_ref()?.get(key)?;
        serde_json::from_str(raw).ok()
    }
}
