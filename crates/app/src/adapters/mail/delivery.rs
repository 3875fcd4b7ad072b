//! The delivery worker: claims due messages from the outbox, delivers a batch at a time
//! concurrently (so one slow message holds no other), and records each outcome —
//! delivered (removed), retried later with exponential backoff, or given up. It wakes
//! when this process commits mail, when the next retry is due, and at least every
//! [`POLL`] for mail other processes wrote (a CLI command, or an instance that died with
//! messages claimed). Every instance runs one; claims keep them apart.

use std::sync::Arc;
use std::time::Duration;

use auth_ports::{Clock, MailId, MailOutbox, OutboxBacklog, QueuedMail};
use auth_sea_orm::MailSignal;
use lettre::message::Mailbox;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::configured::Configured;
use super::transport::{Permanent, Transport, recipient_domain};
use crate::config::MailTransport;

/// Attempts per message: the first and nine retries, `retry_base` × 1, 2, 4 … apart
/// (with the composition root's base of 5 s and [`MAX_PAUSE`], about 36 minutes in all).
const MAX_ATTEMPTS: u32 = 10;

/// Longest pause between two attempts.
const MAX_PAUSE: Duration = Duration::from_secs(15 * 60);

/// Messages claimed at once, and so delivered concurrently.
const BATCH: u32 = 16;

/// Longest one attempt may take; a transport that hangs longer counts as failed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a claim holds a message: longer than an attempt with its bookkeeping, so a
/// live worker always reports first; after it, another worker may try again.
const LEASE: Duration = Duration::from_secs(120);

/// Longest sleep between looks at the outbox.
const POLL: Duration = Duration::from_secs(5);

/// How long a wake-up waits for more mail before it claims: under load, mail of many
/// requests goes out in one claim and one removal instead of one of each per message.
const GATHER: Duration = Duration::from_millis(100);

/// Pause after the outbox could not be read (the database is down).
const OUTAGE_PAUSE: Duration = Duration::from_secs(1);

/// How long a stop waits for the attempts under way; those still running then are
/// abandoned, and their messages tried again once their claims run out.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What the worker counts, for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct MailCounters {
    /// Messages delivered.
    pub sent: Counter,
    /// Failed attempts followed by a retry.
    pub retried: Counter,
    /// Messages given up.
    pub failed: Counter,
    /// Messages waiting in the outbox, as last seen.
    pub queued: Gauge,
    /// Given-up messages kept in the outbox, as last seen.
    pub kept_failed: Gauge,
}

/// Everything the worker needs, checked at start-up; [`MailDelivery::start`] runs it.
pub struct MailDelivery {
    worker: Worker<Configured>,
}

impl MailDelivery {
    /// Delivery through `transport` (sending as `from`) of the mail in `outbox`, woken by
    /// `signal`. A failed attempt is retried `retry_base`, twice that, four times that …
    /// later (the composition root passes seconds; tests pass milliseconds).
    ///
    /// # Errors
    /// When lettre cannot use the SMTP URL; the message shows it without its password.
    pub fn new(
        transport: &MailTransport,
        from: Mailbox,
        outbox: Arc<dyn MailOutbox>,
        signal: MailSignal,
        clock: Arc<dyn Clock>,
        retry_base: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            worker: Worker {
                transport: Arc::new(Configured::new(transport, from)?),
                outbox,
                signal,
                clock,
                retry_base,
                counters: MailCounters::default(),
            },
        })
    }

    /// The worker's counters.
    #[must_use]
    pub fn counters(&self) -> &MailCounters {
        &self.worker.counters
    }

    /// Starts the worker.
    #[must_use]
    pub fn start(&self) -> RunningDelivery {
        self.worker.clone().start()
    }
}

/// A running worker.
pub struct RunningDelivery {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningDelivery {
    /// Stops the worker once the attempts under way are recorded, waiting at most
    /// [`STOP_WAIT`]; queued messages wait in the outbox for any instance.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        match tokio::time::timeout(STOP_WAIT, &mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "mail delivery worker failed"),
            Err(_) => {
                tracing::warn!("mail deliveries still under way at shutdown are abandoned");
                self.task.abort();
            }
        }
    }
}

struct Worker<T> {
    transport: Arc<T>,
    outbox: Arc<dyn MailOutbox>,
    signal: MailSignal,
    clock: Arc<dyn Clock>,
    retry_base: Duration,
    counters: MailCounters,
}

impl<T> Clone for Worker<T> {
    fn clone(&self) -> Self {
        Self {
            transport: Arc::clone(&self.transport),
            outbox: Arc::clone(&self.outbox),
            signal: self.signal.clone(),
            clock: Arc::clone(&self.clock),
            retry_base: self.retry_base,
            counters: self.counters.clone(),
        }
    }
}

impl<T: Transport> Worker<T> {
    fn start(self) -> RunningDelivery {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.run(stopped));
        RunningDelivery { stop, task }
    }

    async fn run(self, mut stopped: watch::Receiver<bool>) {
        while !*stopped.borrow() {
            let pause = match self.round().await {
                Ok(Some(pause)) => pause,
                // A full batch: more may be due at once.
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the mail outbox; trying again");
                    OUTAGE_PAUSE
                }
            };
            tokio::select! {
                () = self.signal.committed() => {
                    tokio::select! {
                        () = tokio::time::sleep(GATHER) => {}
                        _ = stopped.changed() => {}
                    }
                }
                () = tokio::time::sleep(pause) => {}
                _ = stopped.changed() => {}
            }
        }
    }

    /// Delivers one batch of due messages; then `None` when the batch was full (more may
    /// be due), else how long to sleep: until the next message is due, at most [`POLL`].
    async fn round(&self) -> Result<Option<Duration>, auth_ports::StoreError> {
        let now = self.clock.now();
        let lease_until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let batch = self.outbox.claim(now, lease_until, BATCH).await?;
        let full = batch.len() == BATCH as usize;
        let attempts = batch.iter().map(|mail| self.attempt(mail));
        let delivered: Vec<MailId> = futures::future::join_all(attempts)
            .await
            .into_iter()
            .flatten()
            .collect();
        if !delivered.is_empty()
            && let Err(err) = self.outbox.delivered(&delivered).await
        {
            tracing::warn!(
                error = %err,
                "cannot record mail deliveries; the messages will be sent again"
            );
        }
        if full {
            return Ok(None);
        }
        let backlog = self.outbox.backlog().await?;
        self.show(backlog);
        let until_due = backlog.next_due.map_or(POLL, |due| {
            (due - self.clock.now()).to_std().unwrap_or_default()
        });
        Ok(Some(until_due.min(POLL)))
    }

    fn show(&self, backlog: OutboxBacklog) {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.counters.queued.set(gauge(backlog.queued));
        self.counters.kept_failed.set(gauge(backlog.failed));
    }

    /// One attempt at `mail`: its id when delivered (the batch removes them together),
    /// else the failure recorded. A record that fails (the database went away) leaves
    /// the claim to expire, so the message is tried again: delivery is at least once.
    async fn attempt(&self, mail: &QueuedMail) -> Option<MailId> {
        let outcome = tokio::time::timeout(ATTEMPT_TIMEOUT, self.transport.deliver(&mail.message))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {ATTEMPT_TIMEOUT:?}")));
        let err = match outcome {
            Ok(()) => {
                self.counters.sent.inc();
                return Some(mail.id);
            }
            Err(err) => err,
        };
        if let Err(record) = self.failed(mail, &err).await {
            tracing::warn!(
                error = %record,
                to_domain = %recipient_domain(&mail.message),
                "cannot record a failed mail delivery; the message will be tried again"
            );
        }
        None
    }

    async fn failed(
        &self,
        mail: &QueuedMail,
        err: &anyhow::Error,
    ) -> Result<(), auth_ports::StoreError> {
        let error = format!("{err:#}");
        let now = self.clock.now();
        if mail.attempt >= MAX_ATTEMPTS || err.downcast_ref::<Permanent>().is_some() {
            tracing::error!(
                to_domain = %recipient_domain(&mail.message),
                subject = %mail.message.subject,
                error,
                attempt = mail.attempt,
                "mail delivery failed; giving up"
            );
            self.counters.failed.inc();
            return self.outbox.give_up(mail.id, now, &error).await;
        }
        let pause = self.pause_after(mail.attempt);
        tracing::warn!(
            to_domain = %recipient_domain(&mail.message),
            subject = %mail.message.subject,
            attempt = mail.attempt,
            error,
            "mail delivery failed; retrying in {pause:?}"
        );
        self.counters.retried.inc();
        let at = now + chrono::Duration::from_std(pause).unwrap_or_default();
        self.outbox.retry(mail.id, at, &error).await
    }

    /// The pause after failed attempt `attempt`: `retry_base` doubled per earlier
    /// attempt, at most [`MAX_PAUSE`].
    fn pause_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.retry_base
            .saturating_mul(1 << doublings)
            .min(MAX_PAUSE)
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
