//! The background task that deletes expired rows.

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::MySqlSessionStore;

/// Deletes expired sessions every [cleanup interval], in batches, until stopped.
///
/// Started by [`MySqlSessionStore::spawn_cleanup`] on the current tokio runtime (use a store
/// whose pool belongs to that runtime). Safe to run in every app instance at once: each
/// statement deletes a small ordered batch, so instances share the work instead of
/// conflicting. An error is logged and the task carries on at the next tick.
///
/// Stop it with [`CleanupTask::stop`], which waits for a batch in progress to finish;
/// dropping the handle aborts the task.
///
/// [cleanup interval]: crate::MySqlSessionStoreBuilder::cleanup_interval
#[derive(Debug)]
#[must_use = "dropping a CleanupTask stops the cleanup"]
pub struct CleanupTask {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MySqlSessionStore {
    /// Start the expired-row cleanup on the current tokio runtime.
    pub fn spawn_cleanup(&self) -> CleanupTask {
        self.spawn_cleanup_with(|_| {})
    }

    /// [`spawn_cleanup`](Self::spawn_cleanup), calling `on_run` with how long each run took
    /// (successful or not): a hook for a metrics histogram.
    ///
    /// ```no_run
    /// # async fn example(store: actix_session_mysql::MySqlSessionStore) {
    /// let cleanup = store.spawn_cleanup_with(|took| {
    ///     tracing::debug!(?took, "session cleanup ran");
    /// });
    /// // … serve …
    /// cleanup.stop().await;
    /// # }
    /// ```
    pub fn spawn_cleanup_with(
        &self,
        mut on_run: impl FnMut(std::time::Duration) + Send + 'static,
    ) -> CleanupTask {
        let (stop, mut stopped) = oneshot::channel();
        let store = self.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(store.cleanup_interval());
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {}
                }
                let started = std::time::Instant::now();
                let purged = store.purge_expired().await;
                on_run(started.elapsed());
                match purged {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "expired sessions deleted"),
                    Err(error) => {
                        tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "session cleanup failed; retrying at the next tick")
                    }
                }
            }
        });
        CleanupTask {
            stop: Some(stop),
            task: Some(task),
        }
    }
}

impl CleanupTask {
    /// Stop the task, letting a batch in progress finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for CleanupTask {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
