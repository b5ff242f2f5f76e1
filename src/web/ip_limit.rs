//! The per-client limit on failed sign-in attempts (`LOGIN_IP_LIMIT` a minute), kept in
//! memory per instance, checked before any hashing or database work.
//!
//! The per-account throttle ([`crate::data::count_attempt`]) stops guessing at one account;
//! this stops one client from making the server hash for ever-new account names. It counts
//! *failures*, so members who sign in correctly are not what it limits: a classroom of 40
//! behind one NAT address all sign in within a minute. Parallel guesses still get no more
//! verifications than sequential ones, because an attempt *reserves* an allowance before it
//! is verified ([`SignInIpLimit::reserve`]): a success gives it back, a failure (or anything
//! else that ends the attempt) spends it. When every remaining allowance is reserved by
//! attempts still being verified, a new attempt waits for their verdicts rather than being
//! refused: a correct sign-in gives its allowance back, and the waiting one goes on.
//!
//! A client is its IP address; an IPv6 client is its /64, the block one customer is given.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How long an attempt may wait for the verdicts of the attempts holding the allowances
/// before it is refused.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// A waiting attempt looks again at least this often (a wake-up can be missed between
/// looking and starting to wait).
const RECHECK: Duration = Duration::from_millis(50);

/// Whom the limit counts: an IPv4 address, or the /64 of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of `ip` (IPv4-mapped IPv6 counts as IPv4).
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(bits.into()))
            }
            v4 => Self(v4),
        }
    }
}

/// One client's allowance: a bucket of `limit` failures refilled evenly over a minute, and
/// the attempts in flight that hold part of it.
#[derive(Debug)]
struct Allowance {
    tokens: f64,
    refilled: Instant,
    in_flight: u32,
    verdicts: Arc<Notify>,
}

#[derive(Debug)]
struct Limiter {
    per_minute: f64,
    clients: Mutex<HashMap<ClientKey, Allowance>>,
}

impl Limiter {
    fn refill(&self, allowance: &mut Allowance, now: Instant) {
        let earned = now.duration_since(allowance.refilled).as_secs_f64() * self.per_minute / 60.0;
        allowance.tokens = (allowance.tokens + earned).min(self.per_minute);
        allowance.refilled = now;
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<ClientKey, Allowance>> {
        // The map holds plain numbers: a panic while it was locked left nothing half-done.
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// End an attempt of `key`: `spent` takes its allowance, otherwise it is given back.
    fn settle(&self, key: ClientKey, spent: bool) {
        let mut clients = self.clients();
        if let Some(allowance) = clients.get_mut(&key) {
            allowance.in_flight = allowance.in_flight.saturating_sub(1);
            if spent {
                self.refill(allowance, Instant::now());
                allowance.tokens -= 1.0;
            }
            allowance.verdicts.notify_waiters();
        }
    }
}

/// The limiter shared by every worker of an instance. Cloning shares it.
#[derive(Clone, Default)]
pub struct SignInIpLimit(Option<Arc<Limiter>>);

impl std::fmt::Debug for SignInIpLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInIpLimit")
            .field("enabled", &self.0.is_some())
            .finish()
    }
}

/// An attempt's hold on one allowance of its client. [`succeeded`](Self::succeeded) gives
/// it back; dropped otherwise, it is spent (a failed attempt, or one cut short by an error).
#[derive(Debug)]
#[must_use = "dropping a reservation spends it"]
pub struct Reservation {
    held: Option<(Arc<Limiter>, ClientKey)>,
}

impl Reservation {
    /// The attempt succeeded: its allowance goes back to the client.
    pub fn succeeded(mut self) {
        if let Some((limiter, key)) = self.held.take() {
            limiter.settle(key, false);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some((limiter, key)) = self.held.take() {
            limiter.settle(key, true);
        }
    }
}

impl SignInIpLimit {
    /// `per_minute` failed attempts a minute per client, refilled evenly over the minute;
    /// `0` turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self((per_minute > 0).then(|| {
            Arc::new(Limiter {
                per_minute: f64::from(per_minute),
                clients: Mutex::default(),
            })
        }))
    }

    /// Reserve an allowance for an attempt from `ip`, waiting (up to 10 s) for attempts in
    /// flight when they hold the rest. `Err(wait)`: over the limit; try again after `wait`.
    pub async fn reserve(&self, ip: IpAddr) -> Result<Reservation, Duration> {
        let Some(limiter) = &self.0 else {
            return Ok(Reservation { held: None });
        };
        let key = ClientKey::of(ip);
        let deadline = Instant::now() + MAX_WAIT;
        loop {
            let verdicts = {
                let now = Instant::now();
                let mut clients = limiter.clients();
                let allowance = clients.entry(key).or_insert_with(|| Allowance {
                    tokens: limiter.per_minute,
                    refilled: now,
                    in_flight: 0,
                    verdicts: Arc::default(),
                });
                limiter.refill(allowance, now);
                let free = allowance.tokens - f64::from(allowance.in_flight);
                if free >= 1.0 {
                    allowance.in_flight += 1;
                    return Ok(Reservation {
                        held: Some((Arc::clone(limiter), key)),
                    });
                }
                if allowance.in_flight == 0 || now >= deadline {
                    let missing = 1.0 - free;
                    return Err(Duration::from_secs_f64(missing * 60.0 / limiter.per_minute));
                }
                Arc::clone(&allowance.verdicts)
            };
            // A verdict may come in before this starts to wait: look again soon regardless.
            let _ = tokio::time::timeout(RECHECK, verdicts.notified()).await;
        }
    }

    /// Forget the clients whose allowance is full again and who have nothing in flight, so
    /// the map does not grow with every address ever seen.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.0 {
            let now = Instant::now();
            let mut clients = limiter.clients();
            clients.retain(|_, allowance| {
                limiter.refill(allowance, now);
                allowance.in_flight > 0 || allowance.tokens < limiter.per_minute
            });
            clients.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_spend_successes_give_back() {
        let limit = SignInIpLimit::new(3);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        for _ in 0..10 {
            limit.reserve(a).await.expect("a success").succeeded();
        }
        for _ in 0..3 {
            drop(limit.reserve(a).await.expect("a failure"));
        }
        let wait = limit.reserve(a).await.expect_err("over the limit");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            limit.reserve(b).await.is_ok(),
            "another IP has its own allowance"
        );
        let off = SignInIpLimit::new(0);
        for _ in 0..1000 {
            drop(off.reserve(a).await.expect("no limit"));
        }
    }

    #[tokio::test]
    async fn an_attempt_waits_for_the_verdicts_of_those_in_flight() {
        let limit = SignInIpLimit::new(2);
        let ip: IpAddr = [198, 51, 100, 7].into();
        let first = limit.reserve(ip).await.expect("first");
        let second = limit.reserve(ip).await.expect("second");
        let waiting = tokio::spawn({
            let limit = limit.clone();
            async move { limit.reserve(ip).await.map(Reservation::succeeded) }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "both allowances are held");
        first.succeeded();
        assert!(
            waiting.await.expect("joined").is_ok(),
            "a success freed one"
        );
        drop(second);
        drop(limit.reserve(ip).await.expect("one left after one failure"));
        assert!(limit.reserve(ip).await.is_err(), "two failures: none left");
    }

    #[test]
    fn ipv6_clients_are_their_64_blocks() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let same: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(ClientKey::of(one), ClientKey::of(same));
        assert_ne!(ClientKey::of(one), ClientKey::of(other));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(ClientKey::of(mapped), ClientKey::of([192, 0, 2, 1].into()));
        assert_ne!(
            ClientKey::of([192, 0, 2, 1].into()),
            ClientKey::of([192, 0, 2, 2].into())
        );
    }
}
