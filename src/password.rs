//! Password hashing: argon2id at OWASP's minimum or above, off the async workers, with bounded
//! concurrency, and a dummy hash so unknown users cost what known ones do.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// argon2id, m = 19 MiB, t = 2, p = 1: OWASP's recommended minimum.
const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Hashing failed (only if the hashing pool went away during shutdown).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError(#[source] anyhow::Error);

/// What a verification found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Wrong password, or no such user.
    Rejected,
    /// Right password; the stored hash is current.
    Accepted,
    /// Right password; here is a hash with today's parameters to store instead.
    AcceptedRehashed(String),
}

/// Hashes and verifies passwords on the blocking pool, a few at a time.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(M_COST, T_COST, P_COST, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether a stored hash uses weaker settings than today's.
fn is_outdated(hash: &PasswordHash<'_>) -> bool {
    let Ok(params) = Params::try_from(hash) else {
        return true;
    };
    hash.algorithm != argon2::ARGON2ID_IDENT
        || params.m_cost() < M_COST
        || params.t_cost() < T_COST
        || params.p_cost() < P_COST
}

impl Hasher {
    /// A hasher allowing as many concurrent hashes as the machine has cores. Computes the
    /// dummy hash once, here.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy = hash_now("a password nobody has: unknown users are verified against it")
            .expect("hashing a constant cannot fail");
        Self {
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: dummy.into(),
        }
    }

    /// A PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.blocking(move || hash_now(&password).map_err(|e| HashError(anyhow::anyhow!(e))))
            .await?
    }

    /// Check `password` against `stored`; with `None` (no such user) check against the dummy
    /// hash so that the answer takes just as long, then reject.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verdict, HashError> {
        let dummy = Arc::clone(&self.dummy_hash);
        self.blocking(move || {
            let known = stored.is_some();
            let stored = stored.unwrap_or_else(|| dummy.to_string());
            // An unparsable stored hash is treated like a wrong password (and logged).
            let Ok(parsed) = PasswordHash::new(&stored) else {
                tracing::error!("a stored password hash is not a PHC string");
                return Ok(Verdict::Rejected);
            };
            if argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_err()
                || !known
            {
                return Ok(Verdict::Rejected);
            }
            if is_outdated(&parsed) {
                let fresh = hash_now(&password).map_err(|e| HashError(anyhow::anyhow!(e)))?;
                return Ok(Verdict::AcceptedRehashed(fresh));
            }
            Ok(Verdict::Accepted)
        })
        .await?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HashError(e.into()))
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

/// A hash with deliberately weak parameters, for tests of the upgrade on sign-in.
#[doc(hidden)]
pub fn weak_hash_for_tests(password: &str) -> String {
    let params = Params::new(8, 1, 1, None).expect("valid");
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("valid salt");
    Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .expect("hash")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_upgrade() {
        let hasher = Hasher::new();
        let hash = hasher.hash("correct horse".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let ok = hasher.verify("correct horse".into(), Some(hash.clone()));
        assert_eq!(ok.await.expect("verify"), Verdict::Accepted);
        let bad = hasher.verify("wrong horse".into(), Some(hash));
        assert_eq!(bad.await.expect("verify"), Verdict::Rejected);
        let unknown = hasher.verify("correct horse".into(), None);
        assert_eq!(unknown.await.expect("verify"), Verdict::Rejected);
        let weak = weak_hash_for_tests("old password");
        match hasher.verify("old password".into(), Some(weak)).await {
            Ok(Verdict::AcceptedRehashed(new)) => assert!(new.starts_with("$argon2id$")),
            other => panic!("expected a rehash, got {other:?}"),
        }
    }
}
