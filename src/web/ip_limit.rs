//! The per-IP limit on sign-in attempts (`LOGIN_IP_LIMIT` a minute), kept in memory per
//! instance, checked before any hashing or database work.
//!
//! The per-account throttle ([`crate::data`]) stops guessing at one account; this stops one
//! client from making the server hash for ever-new account names. Like the per-account
//! throttle, it counts an attempt *before* its password is verified: a limiter cannot take a
//! count back, and counting only after verification would let N parallel guesses all pass the
//! check before the first failure is recorded. A legitimate client signs in far less often
//! than the limit, so counting its successes costs it nothing.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The limiter shared by every worker of an instance. Cloning shares it.
#[derive(Clone, Default)]
pub struct SignInIpLimit(Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>);

impl std::fmt::Debug for SignInIpLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInIpLimit")
            .field("enabled", &self.0.is_some())
            .finish()
    }
}

impl SignInIpLimit {
    /// `per_minute` attempts a minute per client IP, refilled evenly over the minute; `0`
    /// turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self(
            NonZeroU32::new(per_minute).map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n)))),
        )
    }

    /// Count an attempt from `ip`: `Err(wait)` if it is over the limit (then not counted).
    pub fn attempt(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forget the IPs whose allowance is full again, so the map does not grow with every
    /// address ever seen.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.0 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_ip_and_turns_off_at_zero() {
        let limit = SignInIpLimit::new(3);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        for _ in 0..3 {
            assert!(limit.attempt(a).is_ok());
        }
        let wait = limit.attempt(a).expect_err("over the limit");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20));
        assert!(limit.attempt(b).is_ok(), "another IP has its own allowance");
        let off = SignInIpLimit::new(0);
        for _ in 0..1000 {
            assert!(off.attempt(a).is_ok());
        }
    }
}
