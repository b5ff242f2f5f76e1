//! The in-memory half of the touch throttle.
//!
//! `load` learns how long ago a session was last touched; `update_ttl`, which actix-session
//! calls right after, consults that to skip the write when the touch is not yet due. So a
//! read-only request costs one read and no write, and each session is written at most once per
//! touch interval. When the cache has no entry (another instance loaded it, or the entry was
//! evicted) the store falls back to a guarded `UPDATE`, which is just as correct, only dearer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::id::SessionId;

/// Past this many entries, stale ones are swept before inserting.
const SWEEP_ABOVE: usize = 16_384;

/// When each session was last touched (written), as far as this instance knows, and its own
/// TTL if it has one.
///
/// The instant is stored rather than a due time so that the interval can be chosen per call:
/// the store shortens it for sessions whose TTL is not much longer than the interval.
#[derive(Debug, Default)]
pub(crate) struct TouchCache {
    seen: Mutex<HashMap<SessionId, Seen>>,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    at: Instant,
    /// The session's own TTL in seconds, if it has one.
    ttl: Option<i64>,
}

impl TouchCache {
    /// Remember that `id`, whose own TTL is `ttl`, was last touched `age` ago. `keep` is how
    /// long an entry can be useful (the longest interval in use); older entries are swept when
    /// the map is large.
    pub(crate) fn loaded(&self, id: SessionId, age: Duration, ttl: Option<i64>, keep: Duration) {
        let now = Instant::now();
        let mut seen = self.lock();
        if seen.len() >= SWEEP_ABOVE {
            seen.retain(|_, s| now.saturating_duration_since(s.at) < keep);
        }
        match now.checked_sub(age) {
            Some(at) => {
                seen.insert(id, Seen { at, ttl });
            }
            // Older than this clock can express: certainly due.
            None => {
                seen.remove(&id);
            }
        }
    }

    /// Whether a touch may be skipped because `id` was touched less than `interval` ago.
    pub(crate) fn is_fresh(&self, id: &SessionId, interval: Duration) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|s| s.at.elapsed() < interval)
    }

    /// The own TTL of `id` as last read or written here (`None`: none, or not known).
    pub(crate) fn ttl_of(&self, id: &SessionId) -> Option<i64> {
        self.lock().get(id).and_then(|s| s.ttl)
    }

    /// `id` was written just now, with `ttl` as its own TTL.
    pub(crate) fn touched(&self, id: SessionId, ttl: Option<i64>) {
        self.lock().insert(
            id,
            Seen {
                at: Instant::now(),
                ttl,
            },
        );
    }

    pub(crate) fn forget(&self, id: &SessionId) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Seen>> {
        // The map holds only hints; a panic elsewhere cannot leave it in a harmful state.
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
