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

#[derive(Debug, Default)]
pub(crate) struct TouchCache {
    due: Mutex<HashMap<SessionId, Instant>>,
}

impl TouchCache {
    /// Remember that `id` was last touched `age` ago.
    pub(crate) fn loaded(&self, id: SessionId, age: Duration, interval: Duration) {
        let now = Instant::now();
        let due_at = now + interval.saturating_sub(age);
        let mut due = self.lock();
        if due.len() >= SWEEP_ABOVE {
            due.retain(|_, at| *at > now);
        }
        due.insert(id, due_at);
    }

    /// Whether a touch may be skipped because `id` was touched within the interval.
    pub(crate) fn is_fresh(&self, id: &SessionId) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|due_at| Instant::now() < *due_at)
    }

    pub(crate) fn touched(&self, id: SessionId, interval: Duration) {
        self.lock().insert(id, Instant::now() + interval);
    }

    pub(crate) fn forget(&self, id: &SessionId) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Instant>> {
        // The map holds only hints; a panic elsewhere cannot leave it in a harmful state.
        self.due
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
