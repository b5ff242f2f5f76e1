//! [`BreachedPasswords`]: whether a new password is in a list of passwords exposed in data
//! breaches (`PWNED_PASSWORDS_URL`), asked of a k-anonymity range API such as Have I Been
//! Pwned's Pwned Passwords.
//!
//! Only the first five hex digits of the password's SHA-1 leave the app
//! (`GET {base}/range/{prefix}`); the service answers every suffix it knows under that prefix
//! (with `Add-Padding: true`, padded with decoys of count 0 so the answer's size says nothing),
//! and the match is made here. The password, its full hash and the prefix are never logged.
//!
//! The check is advice from outside, not a rule of ours: when the service does not answer
//! within [`DEADLINE`], or answers something that is not a range, the password is accepted
//! and a warning logged, so an outage of theirs never stops a member from registering,
//! changing or resetting a password.
//!
//! May touch: `domain`.

use std::sync::Arc;
use std::time::Duration;

use sha1::{Digest, Sha1};
use tokio::sync::Semaphore;

use crate::domain::NewPassword;

/// How long a check may take, from waiting for its turn to the last byte of the answer.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// The largest answer read: a real range is about 40 KiB (padded), so anything much larger is
/// not one, and reading it would only cost memory.
const MAX_ANSWER: usize = 1 << 20;

/// Checks in flight at once, per instance: a flood of registrations costs the service (and
/// this process) no more than this many open requests; the rest wait, within their deadline.
const MAX_IN_FLIGHT: usize = 32;

/// What a member reads when the password is found.
pub const BREACHED: &str = "That password appears in a list of passwords exposed in data \
                            breaches, so attackers try it early. Choose another one.";

/// A client of a k-anonymity range API (`PWNED_PASSWORDS_URL`).
#[derive(Debug, Clone)]
pub struct BreachedPasswords {
    client: reqwest::Client,
    /// The base URL without a trailing `/`; ranges are at `{base}/range/{prefix}`.
    base: String,
    /// [`MAX_IN_FLIGHT`] permits, shared by every clone (every HTTP worker).
    in_flight: Arc<Semaphore>,
}

/// The `PWNED_PASSWORDS_URL` given is not one this client can ask.
#[derive(Debug, thiserror::Error)]
pub enum BreachesUrlError {
    /// Not an absolute `http://` or `https://` URL with a host.
    #[error("{0:?} is not an http:// or https:// URL such as https://api.pwnedpasswords.com")]
    NotHttp(String),
    /// The URL carries a query, a fragment or credentials: `/range/…` cannot follow the
    /// first two, and the URL is logged at start.
    #[error("{0:?} has a query, a fragment or credentials; give the base URL only")]
    Extra(String),
    /// The HTTP client could not be built (its TLS roots).
    #[error("the HTTP client for the breached-password check could not be set up: {0}")]
    Client(#[source] reqwest::Error),
}

impl BreachedPasswords {
    /// A client of the range API at `base` (for example `https://api.pwnedpasswords.com`).
    pub fn new(base: &str) -> Result<Self, BreachesUrlError> {
        let base = base.trim();
        let url = reqwest::Url::parse(base).map_err(|_| BreachesUrlError::NotHttp(base.into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(BreachesUrlError::NotHttp(base.into()));
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(BreachesUrlError::Extra(base.into()));
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("member-portal/", env!("CARGO_PKG_VERSION")))
            .timeout(DEADLINE)
            .connect_timeout(DEADLINE)
            // The range is all the service is asked for; a redirect is not followed elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            // A new connection per check (they are rare: a password being set). One client
            // serves every HTTP worker, each on its own runtime, and a pooled connection
            // belongs to the runtime that opened it.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(BreachesUrlError::Client)?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// `Err` with what the member reads when `password` is in the list; `Ok` when it is not,
    /// or when the service could not tell within [`DEADLINE`] (then a warning is logged).
    pub async fn check(&self, password: &NewPassword) -> Result<(), &'static str> {
        let digest = hex::encode_upper(Sha1::digest(password.as_str().as_bytes()));
        let (prefix, suffix) = digest.split_at(5);
        // The deadline covers the wait for a permit too.
        let answer = tokio::time::timeout(DEADLINE, async {
            let _permit = self
                .in_flight
                .acquire()
                .await
                .map_err(|_| "the check is shutting down".to_owned())?;
            self.range(prefix).await
        })
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {DEADLINE:?}")));
        match answer {
            Ok(range) if times_seen(&range, suffix) > 0 => Err(BREACHED),
            Ok(_) => Ok(()),
            Err(problem) => {
                tracing::warn!(
                    service = %self.base,
                    "breached-password check: {problem}; the password was accepted unchecked"
                );
                Ok(())
            }
        }
    }

    /// The service's answer for `prefix`, read whole (at most [`MAX_ANSWER`] bytes).
    async fn range(&self, prefix: &str) -> Result<String, String> {
        let mut answer = self
            .client
            .get(format!("{}/range/{prefix}", self.base))
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(|e| describe(&e))?;
        if !answer.status().is_success() {
            return Err(format!("the service answered {}", answer.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(format!("the answer is over {MAX_ANSWER} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| "the answer is not text".to_owned())
    }
}

/// How a request failed, in words an operator can act on (no URL path: it holds the prefix).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        format!("no answer within {DEADLINE:?}")
    } else if error.is_connect() {
        "the service could not be reached".to_owned()
    } else {
        "the answer could not be read".to_owned()
    }
}

/// How often the range says the password with hash `suffix` was seen; 0 when it is not there
/// (or only as padding, whose count is 0). Lines are `SUFFIX:COUNT`, suffixes in upper case.
fn times_seen(range: &str, suffix: &str) -> u64 {
    range
        .lines()
        .filter_map(|line| line.trim().split_once(':'))
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(suffix))
        .and_then(|(_, count)| count.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_split_into_the_prefix_sent_and_the_suffix_kept() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
        let digest = hex::encode_upper(Sha1::digest(b"password"));
        assert_eq!(digest, "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8");
        let (prefix, suffix) = digest.split_at(5);
        assert_eq!(prefix, "5BAA6");
        assert_eq!(suffix.len(), 35);
    }

    #[test]
    fn a_suffix_counts_only_with_a_count_above_zero() {
        let range = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n\
                     1E4C9B93F3F0682250B6CF8331B7EE68FD8:52256179\r\n\
                     011053FD0102E94D6AE2F8B83D76FAF94F6:0\r\n";
        assert_eq!(
            times_seen(range, "1E4C9B93F3F0682250B6CF8331B7EE68FD8"),
            52_256_179
        );
        assert_eq!(
            times_seen(range, "1e4c9b93f3f0682250b6cf8331b7ee68fd8"),
            52_256_179
        );
        assert_eq!(times_seen(range, "011053FD0102E94D6AE2F8B83D76FAF94F6"), 0);
        assert_eq!(times_seen(range, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"), 0);
        assert_eq!(
            times_seen("not a range", "1E4C9B93F3F0682250B6CF8331B7EE68FD8"),
            0
        );
    }

    #[test]
    fn only_a_base_http_url_is_taken() {
        assert!(BreachedPasswords::new("https://api.pwnedpasswords.com").is_ok());
        assert_eq!(
            BreachedPasswords::new("http://127.0.0.1:9/ranges/")
                .expect("a base URL")
                .base,
            "http://127.0.0.1:9/ranges"
        );
        for bad in [
            "api.pwnedpasswords.com",
            "ftp://example.com",
            "https://x.test/?k=1",
        ] {
            assert!(BreachedPasswords::new(bad).is_err(), "{bad}");
        }
    }
}
