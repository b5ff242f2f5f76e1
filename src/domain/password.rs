//! Password hashing: argon2id at OWASP's minimum or above, on a fixed set of threads that
//! cannot eat the machine.
//!
//! - One hashing thread per core, started once. Each allocates its argon2 memory (19 MiB)
//!   once and reuses it for every hash, through argon2's `*_with_memory` API: a sign-in flood
//!   costs no allocation, and the process's memory stays flat (the allocator would otherwise
//!   keep every thread's freed 19 MiB).
//! - The threads run at a lower OS priority (nice +10) than the HTTP workers, so page views
//!   stay fast while sign-ins queue.
//! - The wait queue is bounded: when it is full, [`Hasher`] answers [`HashError::Busy`] at once
//!   (a 503 page with `Retry-After`) rather than letting requests wait without bound.
//! - Unknown users are verified against a dummy hash, so they cost what known ones do.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// argon2id, m = 19 MiB, t = 2, p = 1: OWASP's recommended minimum.
const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Bytes of salt and of output in the hashes we write.
const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;
/// Jobs that may wait per hashing thread before sign-ins are turned away.
const QUEUE_PER_THREAD: usize = 16;
/// The hashing threads' nice value: below the HTTP workers (0).
const HASHING_NICE: i32 = 10;

/// Hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread is busy and the wait queue is full.
    #[error("password hashing is saturated")]
    Busy,
    /// The hashing threads are gone (only during shutdown) or argon2 refused its input.
    #[error("password hashing failed")]
    Failed(#[source] anyhow::Error),
}

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

enum Work {
    Hash(String),
    Verify {
        password: String,
        stored: Option<String>,
    },
}

enum Done {
    Hashed(Result<String, HashError>),
    Verified(Result<Verdict, HashError>),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Done>,
}

/// Hashes and verifies passwords on the hashing threads. Cloning shares the threads.
#[derive(Clone)]
pub struct Hasher {
    jobs: SyncSender<Job>,
    /// Jobs submitted and not yet finished (waiting or running).
    in_flight: Arc<AtomicUsize>,
    threads: usize,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("threads", &self.threads)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

fn params() -> Params {
    Params::new(M_COST, T_COST, P_COST, Some(OUTPUT_LEN)).expect("constant parameters are valid")
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

/// One hashing thread's state: its argon2 memory, allocated once.
struct Worker {
    memory: Vec<Block>,
    dummy_hash: Arc<str>,
}

impl Worker {
    fn new(dummy_hash: Arc<str>) -> Self {
        Self {
            memory: vec![Block::default(); params().block_count()],
            dummy_hash,
        }
    }

    /// A PHC string for `password` with today's parameters and a fresh salt.
    fn hash(&mut self, password: &str) -> Result<String, HashError> {
        let failed = |e: argon2::Error| HashError::Failed(anyhow::anyhow!(e));
        let salt_bytes = rand::random::<[u8; SALT_LEN]>();
        let mut out = [0_u8; OUTPUT_LEN];
        let params = params();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                &salt_bytes,
                &mut out,
                &mut self.memory,
            )
            .map_err(failed)?;
        let phc = |e: argon2::password_hash::Error| HashError::Failed(anyhow::anyhow!(e));
        let salt = SaltString::encode_b64(&salt_bytes).map_err(phc)?;
        let hash = PasswordHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(phc)?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(phc)?),
        };
        Ok(hash.to_string())
    }

    /// Whether `password` matches the PHC string `stored` (any argon2 variant and parameters).
    fn matches(&mut self, password: &str, stored: &PasswordHash<'_>) -> bool {
        let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(stored.algorithm) else {
            return false;
        };
        let version = stored
            .version
            .and_then(|v| Version::try_from(v).ok())
            .unwrap_or_default();
        let Ok(params) = Params::try_from(stored).and_then(|p| {
            Params::new(p.m_cost(), p.t_cost(), p.p_cost(), Some(expected.len()))
                .map_err(Into::into)
        }) else {
            return false;
        };
        let mut salt_buf = [0_u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let mut out = vec![0_u8; expected.len()];
        let hashed = if params.block_count() <= self.memory.len() {
            argon2.hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut out,
                &mut self.memory,
            )
        } else {
            // Stronger than today's parameters: rare, so a one-off allocation is fine.
            argon2.hash_password_into(password.as_bytes(), salt, &mut out)
        };
        // `Output`'s equality is constant-time.
        hashed.is_ok() && Output::new(&out).is_ok_and(|out| out == expected)
    }

    fn verify(&mut self, password: &str, stored: Option<&str>) -> Result<Verdict, HashError> {
        let known = stored.is_some();
        let dummy = Arc::clone(&self.dummy_hash);
        let stored = stored.unwrap_or(&dummy);
        // An unparsable stored hash is treated like a wrong password (and logged).
        let Ok(parsed) = PasswordHash::new(stored) else {
            tracing::error!("a stored password hash is not a PHC string");
            return Ok(Verdict::Rejected);
        };
        if !self.matches(password, &parsed) || !known {
            return Ok(Verdict::Rejected);
        }
        if is_outdated(&parsed) {
            return Ok(Verdict::AcceptedRehashed(self.hash(password)?));
        }
        Ok(Verdict::Accepted)
    }

    fn run(mut self, jobs: &Mutex<Receiver<Job>>, in_flight: &AtomicUsize) {
        loop {
            // Holding the lock only while waiting: one idle thread takes the next job.
            let job = match jobs.lock() {
                Ok(receiver) => receiver.recv(),
                Err(_) => return,
            };
            let Ok(Job { work, reply }) = job else {
                return; // every Hasher is gone
            };
            let done = match work {
                Work::Hash(password) => Done::Hashed(self.hash(&password)),
                Work::Verify { password, stored } => {
                    Done::Verified(self.verify(&password, stored.as_deref()))
                }
            };
            in_flight.fetch_sub(1, Ordering::Relaxed);
            // The requester may have gone away (client disconnected): nothing to do then.
            let _ = reply.send(done);
        }
    }
}

impl Hasher {
    /// One hashing thread per core, with room for `QUEUE_PER_THREAD` waiting jobs each.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_threads(cores, cores * QUEUE_PER_THREAD)
    }

    /// `threads` hashing threads and a wait queue of `queue` jobs. The first thread computes
    /// the dummy hash in its own memory before it takes jobs (so that no other 19 MiB is ever
    /// allocated); this waits for it.
    pub fn with_threads(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, receiver) = mpsc::sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let (dummy_sender, dummy) = mpsc::channel::<Arc<str>>();
        for n in 0..threads {
            let receiver = Arc::clone(&receiver);
            let in_flight = Arc::clone(&in_flight);
            let dummy_sender = dummy_sender.clone();
            let dummy = (n > 0).then(|| dummy.recv().expect("the first hashing thread started"));
            std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || {
                    lower_priority();
                    let mut worker = Worker::new(dummy.clone().unwrap_or_else(|| Arc::from("")));
                    if dummy.is_none() {
                        worker.dummy_hash = worker
                            .hash("a password nobody has: unknown users are verified against it")
                            .expect("hashing a constant cannot fail")
                            .into();
                    }
                    // Pass it on to the next thread (the last one's send goes nowhere).
                    let _ = dummy_sender.send(Arc::clone(&worker.dummy_hash));
                    worker.run(&receiver, &in_flight);
                })
                .expect("spawning a hashing thread");
        }
        // Wait until the last thread has the dummy hash too: every thread is ready.
        dummy.recv().expect("the hashing threads started");
        Self {
            jobs,
            in_flight,
            threads,
        }
    }

    /// Hashes waiting or running right now (for the queue gauge).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// A PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        match self.submit(Work::Hash(password)).await? {
            Done::Hashed(result) => result,
            Done::Verified(_) => Err(HashError::Failed(anyhow::anyhow!("mismatched reply"))),
        }
    }

    /// Check `password` against `stored`; with `None` (no such user) check against the dummy
    /// hash so that the answer takes just as long, then reject.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verdict, HashError> {
        match self.submit(Work::Verify { password, stored }).await? {
            Done::Verified(result) => result,
            Done::Hashed(_) => Err(HashError::Failed(anyhow::anyhow!("mismatched reply"))),
        }
    }

    async fn submit(&self, work: Work) -> Result<Done, HashError> {
        let (reply, done) = oneshot::channel();
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = self.jobs.try_send(Job { work, reply }) {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return Err(match error {
                TrySendError::Full(_) => HashError::Busy,
                TrySendError::Disconnected(_) => {
                    HashError::Failed(anyhow::anyhow!("the hashing threads are gone"))
                }
            });
        }
        done.await
            .map_err(|_| HashError::Failed(anyhow::anyhow!("a hashing thread died")))
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

/// Lower the calling thread's priority (on Linux the nice value is per thread). Failing to is
/// not fatal: hashing still works, only without the preference for page views.
fn lower_priority() {
    if let Err(error) = rustix::process::setpriority_process(None, HASHING_NICE) {
        tracing::warn!(%error, "could not lower the hashing threads' priority");
    }
}

/// A hash with deliberately weak parameters, for tests of the upgrade on sign-in.
#[doc(hidden)]
pub fn weak_hash_for_tests(password: &str) -> String {
    use argon2::password_hash::PasswordHasher;
    let params = Params::new(8, 1, 1, None).expect("valid");
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("valid salt");
    Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .expect("hash")
        .to_string()
}

/// The credential stamp of a password hash: its first 8 SHA-256 bytes. Derived from the hash
/// itself, so every way of changing a password changes it — through the app, the command
/// line, or an `UPDATE` in SQL — and no code path can forget to bump it. (A hash upgraded to
/// stronger parameters at sign-in changes it too: the member's other sessions then end within
/// one touch interval, once.)
pub fn password_stamp(password_hash: &str) -> i64 {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(password_hash.as_bytes());
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[tokio::test]
    async fn hashes_verify_and_upgrade() {
        let hasher = Hasher::with_threads(1, 4);
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
        assert_eq!(hasher.in_flight(), 0);
    }

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crate_both_ways() {
        let hasher = Hasher::with_threads(1, 4);
        let ours = hasher.hash("пароль 🔑".into()).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC");
        assert!(Argon2::default()
            .verify_password("пароль 🔑".as_bytes(), &parsed)
            .is_ok());
        let salt = SaltString::encode_b64(&[7; 16]).expect("salt");
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
            .hash_password(b"another one", &salt)
            .expect("hash")
            .to_string();
        let verdict = hasher.verify("another one".into(), Some(theirs)).await;
        assert_eq!(verdict.expect("verify"), Verdict::Accepted);
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let hasher = Hasher::with_threads(1, 1);
        let jobs: Vec<_> = (0..8)
            .map(|n| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(format!("password {n}")).await })
            })
            .collect();
        let mut busy = 0;
        for job in jobs {
            match job.await.expect("join") {
                Ok(_) => {}
                Err(HashError::Busy) => busy += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        // One running and one waiting at most: the rest were turned away.
        assert!(busy >= 5, "only {busy} of 8 were turned away");
    }
}
