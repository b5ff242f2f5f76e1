//! Coalesced session reads: the loads a worker is asked for in one pass of its scheduler share
//! one `SELECT … WHERE id IN (…)`.
//!
//! Under load an actix-web worker wakes with several requests ready at once, and each would
//! read its session on a connection of its own: a round trip, a wake-up of a server thread and
//! a statement each. Queued here instead, they go out as one statement when the pass is over,
//! and each request gets its own row back. The first load of a pass spawns the task that sends
//! the queue; that task runs once the requests already woken in the pass have queued theirs.
//! Nothing waits for a timer, and a lone request costs a task spawn, not a round trip.

use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::id::SessionId;

/// The most sessions one statement reads; a longer queue is split.
pub(crate) const BATCH_MAX: usize = 16;

/// The batch sizes with a statement of their own: a batch is padded (with its last id) to the
/// next one, so every connection caches three statements, not sixteen.
pub(crate) const BATCH_SIZES: [usize; 3] = [1, 4, BATCH_MAX];

/// A live session row as `load` reads it.
#[derive(Debug, Clone)]
pub(crate) struct LoadedRow {
    /// The JSON state, as stored.
    pub(crate) data: Vec<u8>,
    /// Microseconds since the row was last touched (server clock).
    pub(crate) age_us: i64,
    /// The session's own TTL in seconds, if it has one.
    pub(crate) ttl: Option<i64>,
}

/// Where a queued load gets its answer.
pub(crate) type Reply = oneshot::Sender<Result<Option<LoadedRow>, StoreError>>;

/// The loads waiting for the next statement, of one store on one pool (one worker).
#[derive(Debug, Default)]
pub(crate) struct LoadQueue {
    waiting: Mutex<Vec<(SessionId, Reply)>>,
}

impl LoadQueue {
    /// Queue a load. Returns `true` when the queue was empty, so the caller must start the task
    /// that sends it ([`LoadQueue::take`]).
    pub(crate) fn push(&self, id: SessionId, reply: Reply) -> bool {
        let mut waiting = self.lock();
        waiting.push((id, reply));
        waiting.len() == 1
    }

    /// Everything queued so far, in batches of at most [`BATCH_MAX`].
    pub(crate) fn take(&self) -> Vec<Vec<(SessionId, Reply)>> {
        let mut all = std::mem::take(&mut *self.lock());
        if all.is_empty() {
            return Vec::new();
        }
        let mut batches = Vec::with_capacity(all.len().div_ceil(BATCH_MAX));
        while all.len() > BATCH_MAX {
            let rest = all.split_off(BATCH_MAX);
            batches.push(std::mem::replace(&mut all, rest));
        }
        batches.push(all);
        batches
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(SessionId, Reply)>> {
        // Pushes and takes cannot panic half-way: a poisoned queue is still a valid one.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The ids of a batch of `n` sessions padded to its statement's size: the index of that
/// statement among [`BATCH_SIZES`] and the ids as parameters.
pub(crate) fn padded(ids: &[SessionId]) -> (usize, Vec<mysql_async::Value>) {
    let class = BATCH_SIZES
        .iter()
        .position(|&size| size >= ids.len())
        .unwrap_or(BATCH_SIZES.len() - 1);
    let size = BATCH_SIZES[class];
    let last = ids.last().copied();
    let params = ids
        .iter()
        .copied()
        .chain(std::iter::repeat_n(last, size.saturating_sub(ids.len())).flatten())
        .map(|id| mysql_async::Value::Bytes(id.as_bytes().to_vec()))
        .collect();
    (class, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> SessionId {
        SessionId::from_slice(&[n; 32]).expect("32 bytes")
    }

    #[test]
    fn batches_are_padded_to_a_statement_size() {
        for (n, class, size) in [(1, 0, 1), (2, 1, 4), (4, 1, 4), (5, 2, 16), (16, 2, 16)] {
            let ids: Vec<_> = (0..n).map(|i| id(i as u8)).collect();
            let (c, params) = padded(&ids);
            assert_eq!((c, params.len()), (class, size), "{n} ids");
            let last = mysql_async::Value::Bytes(vec![(n - 1) as u8; 32]);
            assert!(
                params[n - 1..].iter().all(|p| *p == last),
                "padding repeats the last id"
            );
        }
    }

    #[test]
    fn a_long_queue_is_split() {
        let queue = LoadQueue::default();
        let mut receivers = Vec::new();
        for n in 0..(2 * BATCH_MAX + 1) {
            let (tx, rx) = oneshot::channel();
            receivers.push(rx);
            assert_eq!(
                queue.push(id(n as u8), tx),
                n == 0,
                "only the first push starts a task"
            );
        }
        let sizes: Vec<_> = queue.take().iter().map(Vec::len).collect();
        assert_eq!(sizes, [BATCH_MAX, BATCH_MAX, 1]);
        assert!(queue.take().is_empty(), "taken means gone");
    }
}
