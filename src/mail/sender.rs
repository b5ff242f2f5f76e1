//! [`Sender`]: the background job that delivers the outbox, one per instance.
//!
//! It claims due mails in small batches ([`data::claim_mail`]), delivers a batch at once (a
//! pooled SMTP connection per mail), and records each outcome: sent (the row goes), retried with backoff (5 s, doubling, at most
//! 5 minutes apart, for a day), or failed (an SMTP 5xx reply; a letter no key opens). It runs
//! when woken by a commit on this instance and otherwise polls every second, so mail queued
//! by any instance goes out within seconds. Delivery is at least once: a sender that dies
//! between the SMTP server's "250" and the delete leaves a row that is sent again when its
//! lease ends — the one duplicate no outbox can rule out.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use mysql_async::Pool;
use tokio::sync::Notify;

use super::transport::{compose, Transport, SEND_TIMEOUT};
use crate::data::{self, QueuedMail};
use crate::domain::MailSeal;
use crate::telemetry::{MailOutcome, Metrics};

/// Mails claimed at once.
const BATCH: u32 = 10;
/// How long a claim holds: longer than a whole batch sent one mail after another, each using
/// its whole send timeout (they go at once, so this is a wide margin).
const LEASE: Duration = Duration::from_secs(BATCH as u64 * SEND_TIMEOUT.as_secs() + 30);
/// How often the outbox is looked at when nothing woke the sender.
const POLL: Duration = Duration::from_secs(1);
/// The first retry's delay; each further one doubles it, up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(5);
/// The longest wait between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5 * 60);
/// A mail not delivered this long after it was queued is given up on.
const GIVE_UP_AFTER_SECS: i64 = 25 * 60 * 60;

/// Delivers the outbox of the database behind `pool`.
#[derive(Debug, Clone)]
pub struct Sender {
    pool: Pool,
    transport: Transport,
    seal: MailSeal,
    from: Mailbox,
    metrics: Metrics,
    wake: Arc<Notify>,
}

impl Sender {
    /// A sender over `transport`, opening letters with `seal`, woken by `wake`.
    pub fn new(
        pool: Pool,
        transport: Transport,
        seal: MailSeal,
        from: Mailbox,
        metrics: Metrics,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            pool,
            transport,
            seal,
            from,
            metrics,
            wake,
        }
    }

    /// Deliver until `stopped` resolves; the mail in hand is finished first.
    pub async fn run(self, stopped: impl std::future::Future<Output = ()>) {
        tracing::info!(to = %self.transport.describe(), "mail sender started");
        tokio::pin!(stopped);
        let claim: [u8; 16] = rand::random();
        loop {
            let batch = match data::claim_mail(&self.pool, claim, BATCH, LEASE).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(error = ?error, "could not read the mail outbox; trying again");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    () = &mut stopped => return,
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
                continue;
            }
            // Shutting down: a batch just claimed is left to its lease (its rows are due again
            // when it ends, on any instance).
            tokio::select! {
                biased;
                () = &mut stopped => return,
                () = std::future::ready(()) => {}
            }
            // A batch is delivered at once, each mail on a pooled connection of its own: lettre
            // writes a message's body and its final "." in two writes, so on one connection
            // each mail waits out the peer's delayed ACK (40 ms on Linux) — 22 mails/s, where
            // ten at a time make it ten times that.
            let mut deliveries = tokio::task::JoinSet::new();
            for mail in batch {
                let sender = self.clone();
                deliveries.spawn(async move { sender.deliver(claim, mail).await });
            }
            while deliveries.join_next().await.is_some() {}
        }
    }

    /// Deliver one claimed mail and record what happened.
    async fn deliver(&self, claim: [u8; 16], mail: QueuedMail) {
        let (id, kind) = (mail.id, mail.kind.as_str());
        let Some((subject, body)) = self.seal.open(&mail.recipient, &mail.sealed) else {
            let why = "sealed under another key (SESSION_KEY changed since it was queued)";
            self.finish(
                id,
                kind,
                Outcome::Failed(why),
                data::mail_failed(&self.pool, id, claim, why).await,
            );
            return;
        };
        let sent = match compose(&self.from, &mail.recipient, &subject, &body) {
            Ok(message) => self.transport.send(message).await,
            Err(error) => Err(error),
        };
        match sent {
            Ok(()) => {
                let recorded = data::mail_sent(&self.pool, id, claim).await;
                self.finish(id, kind, Outcome::Sent, recorded);
            }
            Err(error) if error.permanent || mail.age_secs >= GIVE_UP_AFTER_SECS => {
                let recorded = data::mail_failed(&self.pool, id, claim, &error.text).await;
                self.finish(id, kind, Outcome::Failed(&error.text), recorded);
            }
            Err(error) => {
                let delay = retry_delay(mail.attempts);
                let recorded = data::mail_retry(&self.pool, id, claim, delay, &error.text).await;
                self.finish(id, kind, Outcome::Retry(&error.text, delay), recorded);
            }
        }
    }

    fn finish(
        &self,
        id: u64,
        kind: &str,
        outcome: Outcome<'_>,
        recorded: Result<(), data::DbError>,
    ) {
        // Only the row id and the kind: never the address, subject or body.
        match outcome {
            Outcome::Sent => {
                self.metrics.mail(MailOutcome::Sent);
                tracing::info!(id, kind, "mail sent");
            }
            Outcome::Retry(error, delay) => {
                self.metrics.mail(MailOutcome::Retry);
                tracing::warn!(
                    id,
                    kind,
                    error,
                    retry_in_secs = delay.as_secs(),
                    "mail not sent; it will be tried again"
                );
            }
            Outcome::Failed(error) => {
                self.metrics.mail(MailOutcome::Failed);
                tracing::error!(id, kind, error, "mail given up on");
            }
        }
        if let Err(error) = recorded {
            tracing::warn!(id, error = ?error, "could not record a mail's outcome; it is tried again when its claim ends");
        }
    }
}

enum Outcome<'a> {
    Sent,
    Retry(&'a str, Duration),
    Failed(&'a str),
}

/// The wait before attempt `attempts + 1`: 5 s, doubling, at most 5 minutes.
fn retry_delay(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_RETRY_DELAY
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_five_minutes_and_last_a_day() {
        assert_eq!(retry_delay(1), Duration::from_secs(5));
        assert_eq!(retry_delay(2), Duration::from_secs(10));
        assert_eq!(retry_delay(4), Duration::from_secs(40));
        assert_eq!(retry_delay(7), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
    }

    // Retried for at least a day; a claim outlasts a whole batch's send timeouts.
    const _: () = assert!(GIVE_UP_AFTER_SECS >= 24 * 60 * 60);
    const _: () = assert!(LEASE.as_secs() > SEND_TIMEOUT.as_secs() * BATCH as u64);
}
