//! [`Tasks`]: the one owner of an instance's background work.
//!
//! Every job the app runs beside its requests — expired-session cleanup, the purges of stale
//! throttle rows and old security events, the per-IP limiter's housekeeping, the live-session
//! gauge — is started here, on one [`JoinSet`], and stopped by one shutdown signal. A job's
//! run in progress finishes before shutdown returns (a purge is a few short statements); no job
//! outlives the [`Application`](crate::startup::Application) that started it.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

/// Background jobs of one instance, and their shutdown signal.
#[derive(Debug)]
#[must_use = "dropping Tasks aborts every job"]
pub struct Tasks {
    jobs: JoinSet<()>,
    shutdown: watch::Sender<bool>,
}

impl Default for Tasks {
    fn default() -> Self {
        Self::new()
    }
}

impl Tasks {
    /// No jobs yet.
    pub fn new() -> Self {
        Self {
            jobs: JoinSet::new(),
            shutdown: watch::channel(false).0,
        }
    }

    /// Run `job` at once and then every `every`, on the current runtime, until shutdown. Ticks
    /// missed while a run was slow are not made up.
    pub fn every<F, Fut>(&mut self, every: Duration, mut job: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stopped = Shutdown(self.shutdown.subscribe()).wait();
        self.jobs.spawn(async move {
            tokio::pin!(stopped);
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = &mut stopped => break,
                    _ = ticks.tick() => job().await,
                }
            }
        });
    }

    /// Run `job` until it ends by itself or the future it is given (shutdown) resolves: for
    /// jobs with a stop of their own, such as the store's cleanup task.
    pub fn until_shutdown<F, Fut>(&mut self, job: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shutdown = Shutdown(self.shutdown.subscribe());
        self.jobs.spawn(job(shutdown));
    }

    /// Signal shutdown and wait for every job to finish its run in progress.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        while self.jobs.join_next().await.is_some() {}
    }
}

/// Resolves when the owning [`Tasks`] shuts down.
#[derive(Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Wait for shutdown (also when the [`Tasks`] was dropped).
    pub async fn wait(mut self) {
        // The guard `wait_for` returns is not `Send`: dropped here, not held by the caller.
        let _ = self.0.wait_for(|&stop| stop).await.map(drop);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn jobs_run_on_their_schedule_and_stop_together() {
        let mut tasks = Tasks::new();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&runs);
        tasks.every(Duration::from_secs(10), move || {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        let stopped = Arc::new(AtomicU32::new(0));
        let flag = Arc::clone(&stopped);
        tasks.until_shutdown(|shutdown| async move {
            shutdown.wait().await;
            flag.store(1, Ordering::SeqCst);
        });
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "at 0 s, 10 s and 20 s");
        tasks.shutdown().await;
        assert_eq!(
            stopped.load(Ordering::SeqCst),
            1,
            "told to stop, and waited for"
        );
    }
}
