//! Coalesced session reads: the loads a worker is asked for while it has no read in flight,
//! or while one is in flight, share one `SELECT … WHERE id IN (…)`.
//!
//! Under load an actix-web worker wakes with several requests ready at once, and each would
//! read its session on a connection of its own: a round trip, a wake-up of a server thread and
//! a statement each. Queued here instead, they go out as one statement when the pass is over,
//! and each request gets its own row back. The first load queued when no sender is running
//! spawns the task that sends the queue; that task runs once the requests already woken in the
//! pass have queued theirs. While its statement is in flight, new loads only queue: when the
//! answer is in, the same task sends everything that queued meanwhile as the next batch, and
//! stops once the queue is empty. So a worker has one read in flight (a queue longer than
//! [`BATCH_MAX`] goes out as several statements at once), and under load the batches fill
//! with the requests that arrived during one round trip, instead of each pass sending a
//! nearly empty batch of its own. Nothing waits for a timer: a load waits at most for the
//! round trip already in flight, and a lone request costs a task spawn, not a round trip.

use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::id::SessionId;

/// The most sessions one statement reads; a longer queue is split.
pub(crate) const BATCH_MAX: usize = 16;

/// The batch sizes with a statement of their own: a batch is padded (with its last id) to the
/// next one, so every connection caches five statements, not sixteen, and a batch carries
/// less than twice its ids (each id in the `IN` list costs the server's range optimizer).
pub(crate) const BATCH_SIZES: [usize; 5] = [1, 2, 4, 8, BATCH_MAX];

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
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    waiting: Vec<(SessionId, Reply)>,
    /// A sender task is running (spawned, or with a statement in flight).
    sending: bool,
}

impl LoadQueue {
    /// Queue a load. Returns `true` when no sender is running, so the caller must start the
    /// task that sends the queue ([`LoadQueue::next`] until it says `None`).
    pub(crate) fn push(&self, id: SessionId, reply: Reply) -> bool {
        let mut state = self.lock();
        state.waiting.push((id, reply));
        !std::mem::replace(&mut state.sending, true)
    }

    /// Everything queued so far, in batches of at most [`BATCH_MAX`]; `None` when nothing is,
    /// which ends the sender's turn (the next [`push`](Self::push) starts a new sender).
    pub(crate) fn next(&self) -> Option<Vec<Vec<(SessionId, Reply)>>> {
        let mut state = self.lock();
        if state.waiting.is_empty() {
            state.sending = false;
            return None;
        }
        let mut all = std::mem::take(&mut state.waiting);
        drop(state);
        let mut batches = Vec::with_capacity(all.len().div_ceil(BATCH_MAX));
        while all.len() > BATCH_MAX {
            let rest = all.split_off(BATCH_MAX);
            batches.push(std::mem::replace(&mut all, rest));
        }
        batches.push(all);
        Some(batches)
    }

    /// The sender stopped before the queue was empty (its task was dropped with its runtime,
    /// or panicked): the loads still waiting are answered with an error at once (their replies
    /// are dropped) rather than never, and the next push starts a new sender.
    pub(crate) fn abandon(&self) {
        let waiting = {
            let mut state = self.lock();
            state.sending = false;
            std::mem::take(&mut state.waiting)
        };
        drop(waiting);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // Pushes and takes cannot panic half-way: a poisoned queue is still a valid one.
        self.state
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
        for (n, class, size) in [
            (1, 0, 1),
            (2, 1, 2),
            (3, 2, 4),
            (5, 3, 8),
            (9, 4, 16),
            (16, 4, 16),
        ] {
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
        let sizes: Vec<_> = queue.next().expect("queued").iter().map(Vec::len).collect();
        assert_eq!(sizes, [BATCH_MAX, BATCH_MAX, 1]);
        assert!(queue.next().is_none(), "taken means gone");
    }

    #[test]
    fn loads_queued_while_a_batch_is_in_flight_wait_for_the_same_sender() {
        let queue = LoadQueue::default();
        let (tx, _rx0) = oneshot::channel();
        assert!(queue.push(id(0), tx), "the first load starts the sender");
        assert_eq!(queue.next().expect("one load").len(), 1);
        // The sender's statement is in flight: these only queue.
        let mut receivers = Vec::new();
        for n in 1..=3 {
            let (tx, rx) = oneshot::channel();
            receivers.push(rx);
            assert!(!queue.push(id(n), tx), "no second sender");
        }
        let next = queue.next().expect("the next batch");
        assert_eq!((next.len(), next[0].len()), (1, 3));
        assert!(queue.next().is_none(), "the sender's turn ends");
        let (tx, _rx) = oneshot::channel();
        assert!(queue.push(id(9), tx), "and the next load starts a new one");
    }

    #[test]
    fn an_abandoned_queue_fails_its_loads_and_starts_over() {
        let queue = LoadQueue::default();
        let (tx, mut rx) = oneshot::channel();
        assert!(queue.push(id(0), tx));
        queue.abandon();
        assert!(
            rx.try_recv().is_err(),
            "the waiting load is answered (closed)"
        );
        let (tx, _rx) = oneshot::channel();
        assert!(queue.push(id(1), tx), "a new sender starts");
    }
}
