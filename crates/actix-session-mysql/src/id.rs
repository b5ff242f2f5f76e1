//! Session keys as the database sees them: a SHA-256 digest, never the key itself.

use std::fmt;
use std::str::FromStr;

use actix_session::storage::SessionKey;
use rand::distr::{Alphanumeric, SampleString};
use rand::TryRngCore;
use sha2::{Digest, Sha256};

/// Length of a freshly generated session key: 64 alphanumeric characters, ~381 bits.
const KEY_LEN: usize = 64;

/// The primary key of a session row: `SHA-256(session key)`.
///
/// The raw key lives only in the (encrypted or signed) cookie. Someone who reads the table —
/// a backup, a replica, a log of slow queries — learns digests, and a digest cannot be turned
/// back into a cookie that the middleware accepts.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionId([u8; 32]);

impl SessionId {
    pub(crate) fn of(key: &SessionKey) -> Self {
        Self(Sha256::digest(key.as_ref().as_bytes()).into())
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The first four bytes in hex: enough to follow one session through the logs, useless
    /// for finding it in the table.
    pub(crate) fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({}…)", self.short())
    }
}

/// An opaque, shareable name for one session, for pages such as "your devices".
///
/// It is the hex form of the row's id (the SHA-256 of the key), so showing it to its owner
/// reveals nothing that could be replayed as a cookie. Handles are only ever acted upon
/// together with a user id (see [`MySqlSessionStore::revoke_session`]), so a handle of
/// another member's session has no effect.
///
/// [`MySqlSessionStore::revoke_session`]: crate::MySqlSessionStore::revoke_session
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionHandle(pub(crate) SessionId);

impl SessionHandle {
    /// The handle of the session that `key` names.
    pub fn of(key: &SessionKey) -> Self {
        Self(SessionId::of(key))
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0 .0))
    }
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionHandle({}…)", self.0.short())
    }
}

/// The text was not a session handle: 64 hexadecimal digits.
#[derive(Debug, thiserror::Error)]
#[error("not a session handle")]
pub struct InvalidHandle;

impl FromStr for SessionHandle {
    type Err = InvalidHandle;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| InvalidHandle)?;
        Ok(Self(SessionId(bytes)))
    }
}

/// A new random session key from the operating system's CSPRNG.
pub(crate) fn generate_key() -> SessionKey {
    // Straight from `getrandom`, not a user-space generator seeded from it: a session key is
    // the whole of a member's signed-in state.
    let raw = Alphanumeric.sample_string(&mut rand::rngs::OsRng.unwrap_err(), KEY_LEN);
    SessionKey::try_from(raw).expect("a 64-byte key is below the 4064-byte cookie limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_round_trips_through_text() {
        let key = generate_key();
        let handle = SessionHandle::of(&key);
        let parsed: SessionHandle = handle.to_string().parse().expect("parses");
        assert_eq!(parsed, handle);
        assert!("zz".parse::<SessionHandle>().is_err());
        assert!(format!("{handle:?}").len() < 30, "debug output is short");
    }

    #[test]
    fn keys_are_long_and_distinct() {
        let a = generate_key();
        let b = generate_key();
        assert_eq!(a.as_ref().len(), KEY_LEN);
        assert_ne!(a, b);
    }
}
