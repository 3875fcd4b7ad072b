//! The worker against an in-memory outbox with the port's semantics, on tokio's paused
//! clock; the SQL outbox itself is tested in the adapter, and the whole path end to end
//! in `tests/it/mail.rs`. Every test captures the log on its thread: a thread without a
//! subscriber that reached the worker's log lines first could leave them switched off
//! for the tests that read them (tracing caches each call site's interest).

use super::super::tests::{Logs, SECRET, message};
use super::*;
use auth_ports::{MailId, MailMessage, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::time::Instant;
use tracing::Level;

/// The wall clock as tokio's (paused) clock moves it.
struct TokioClock {
    wall: DateTime<Utc>,
    start: Instant,
}

impl TokioClock {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            wall: DateTime::UNIX_EPOCH,
            start: Instant::now(),
        })
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        self.wall + chrono::Duration::from_std(self.start.elapsed()).unwrap()
    }
}

#[derive(Clone, Debug)]
struct Row {
    id: MailId,
    message: MailMessage,
    attempts: u32,
    next: Option<DateTime<Utc>>,
    error: Option<String>,
}

/// The outbox in memory; `down` makes every call fail as an unreachable database does.
#[derive(Default)]
struct MemoryOutbox {
    rows: Mutex<Vec<Row>>,
    down: AtomicBool,
}

impl MemoryOutbox {
    fn with(messages: &[MailMessage], at: DateTime<Utc>) -> Arc<Self> {
        let outbox = Self::default();
        outbox
            .rows
            .lock()
            .unwrap()
            .extend(messages.iter().map(|message| Row {
                id: MailId::new(),
                message: message.clone(),
                attempts: 0,
                next: Some(at),
                error: None,
            }));
        Arc::new(outbox)
    }

    fn rows(&self) -> Vec<Row> {
        self.rows.lock().unwrap().clone()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("database is down".into()));
        }
        Ok(())
    }

    fn update(&self, id: MailId, change: impl FnOnce(&mut Row)) {
        if let Some(row) = self.rows.lock().unwrap().iter_mut().find(|r| r.id == id) {
            change(row);
        }
    }
}

#[async_trait::async_trait]
impl MailOutbox for MemoryOutbox {
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        self.check()?;
        let mut rows = self.rows.lock().unwrap();
        let due = rows
            .iter_mut()
            .filter(|r| r.next.is_some_and(|next| next <= now));
        Ok(due
            .take(limit as usize)
            .map(|row| {
                row.attempts += 1;
                row.next = Some(lease_until);
                QueuedMail {
                    id: row.id,
                    message: row.message.clone(),
                    attempt: row.attempts,
                }
            })
            .collect())
    }

    async fn delivered(&self, ids: &[MailId]) -> Result<(), StoreError> {
        self.check()?;
        self.rows
            .lock()
            .unwrap()
            .retain(|row| !ids.contains(&row.id));
        Ok(())
    }

    async fn retry(&self, id: MailId, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.check()?;
        self.update(id, |row| {
            row.next = Some(at);
            row.error = Some(error.to_owned());
        });
        Ok(())
    }

    async fn give_up(&self, id: MailId, _: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.check()?;
        self.update(id, |row| {
            row.next = None;
            row.error = Some(error.to_owned());
            row.message.text.clear();
            row.message.html.clear();
        });
        Ok(())
    }

    async fn backlog(&self) -> Result<OutboxBacklog, StoreError> {
        self.check()?;
        let rows = self.rows.lock().unwrap();
        Ok(OutboxBacklog {
            queued: rows.iter().filter(|r| r.next.is_some()).count() as u64,
            failed: rows.iter().filter(|r| r.next.is_none()).count() as u64,
            next_due: rows.iter().filter_map(|r| r.next).min(),
        })
    }

    async fn delete_failed(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        unreachable!("the worker never deletes")
    }
}

/// Fails its first `failures` attempts (or every attempt at a message whose subject
/// is `hang`, which never finishes), then delivers; records when each attempt was made
/// and what was delivered.
#[derive(Clone)]
struct Flaky {
    failures: usize,
    hang: Option<&'static str>,
    attempts: Arc<Mutex<Vec<Instant>>>,
    delivered: Arc<Mutex<Vec<MailMessage>>>,
}

impl Flaky {
    fn failing(failures: usize) -> Self {
        Self {
            failures,
            hang: None,
            attempts: Arc::default(),
            delivered: Arc::default(),
        }
    }

    /// When each attempt was made, counted from `start`.
    fn attempt_times(&self, start: Instant) -> Vec<Duration> {
        let attempts = self.attempts.lock().unwrap();
        attempts.iter().map(|at| *at - start).collect()
    }

    fn delivered(&self) -> Vec<MailMessage> {
        self.delivered.lock().unwrap().clone()
    }
}

impl Transport for Flaky {
    async fn deliver(&self, message: &MailMessage) -> anyhow::Result<()> {
        if self.hang == Some(message.subject.as_str()) {
            std::future::pending::<()>().await;
        }
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            attempts.push(Instant::now());
            attempts.len()
        };
        anyhow::ensure!(attempt > self.failures, "421 try again later");
        self.delivered.lock().unwrap().push(message.clone());
        Ok(())
    }
}

/// Refuses every message for good.
struct Refusing;

impl Transport for Refusing {
    async fn deliver(&self, _: &MailMessage) -> anyhow::Result<()> {
        Err(anyhow::anyhow!("550 no such mailbox").context(Permanent))
    }
}

fn worker<T: Transport>(
    transport: T,
    outbox: Arc<MemoryOutbox>,
    clock: Arc<TokioClock>,
) -> Worker<T> {
    Worker {
        transport: Arc::new(transport),
        outbox,
        signal: MailSignal::default(),
        clock,
        retry_base: Duration::from_secs(1),
        counters: MailCounters::default(),
    }
}

fn secs(values: &[u64]) -> Vec<Duration> {
    values.iter().copied().map(Duration::from_secs).collect()
}

/// Lets the worker run for `duration` of (paused) time.
async fn run_for(duration: Duration) {
    tokio::time::sleep(duration).await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_delivery_is_retried_with_backoff_and_delivered_once() {
    let (_logs, _guard) = Logs::capture(Level::INFO);
    let (logs, _guard) = Logs::capture(Level::INFO);
    let clock = TokioClock::new();
    let outbox = MemoryOutbox::with(&[message()], clock.now());
    let flaky = Flaky::failing(2);
    let worker = worker(flaky.clone(), outbox.clone(), clock);
    let counters = worker.counters.clone();
    let start = Instant::now();

    let running = worker.start();
    run_for(Duration::from_secs(10)).await;
    running.stop().await;

    assert_eq!(flaky.delivered(), [message()]);
    assert_eq!(flaky.attempt_times(start), secs(&[0, 1, 3]));
    assert!(
        outbox.rows().is_empty(),
        "a delivered message leaves the outbox"
    );
    assert_eq!(
        (
            counters.sent.get(),
            counters.retried.get(),
            counters.failed.get()
        ),
        (1, 2, 0)
    );
    let logs = logs.text();
    assert_eq!(logs.matches("WARN").count(), 2, "{logs}");
    assert!(logs.contains("421 try again later"), "{logs}");
    assert!(!logs.contains("ERROR"), "{logs}");
    assert!(!logs.contains(SECRET), "{logs}");
}

#[tokio::test(start_paused = true)]
async fn delivery_gives_up_after_the_last_attempt_and_erases_the_body() {
    let (_logs, _guard) = Logs::capture(Level::INFO);
    let (logs, _guard) = Logs::capture(Level::INFO);
    let clock = TokioClock::new();
    let outbox = MemoryOutbox::with(&[message()], clock.now());
    let flaky = Flaky::failing(usize::MAX);
    let worker = worker(flaky.clone(), outbox.clone(), clock);
    let counters = worker.counters.clone();
    let start = Instant::now();

    let running = worker.start();
    run_for(Duration::from_secs(3600)).await;
    running.stop().await;

    // 1, 2, 4 … 256 s apart, the last pause capped at 15 minutes.
    let expected = secs(&[0, 1, 3, 7, 15, 31, 63, 127, 255, 511]);
    assert_eq!(flaky.attempt_times(start), expected);
    let [row] = outbox.rows().try_into().unwrap();
    assert_eq!(row.next, None, "given up");
    assert_eq!(row.error.as_deref(), Some("421 try again later"));
    assert!(row.message.text.is_empty() && row.message.html.is_empty());
    assert_eq!(row.message.subject, message().subject, "kept for operators");
    assert_eq!((counters.failed.get(), counters.kept_failed.get()), (1, 1));
    let logs = logs.text();
    assert_eq!(logs.matches("ERROR").count(), 1, "{logs}");
    assert!(logs.contains("giving up"), "{logs}");
    assert!(logs.contains("to_domain=example.com"), "{logs}");
    assert!(!logs.contains("ada@"), "{logs}");
    assert!(!logs.contains(SECRET), "{logs}");
}

#[test]
fn the_pause_doubles_up_to_fifteen_minutes() {
    let clock = TokioClock::new();
    let worker = worker(Refusing, Arc::default(), clock);
    let pauses: Vec<_> = (1..=12)
        .map(|attempt| worker.pause_after(attempt))
        .collect();
    assert_eq!(
        pauses,
        secs(&[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900])
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_given_up_at_once() {
    let (_logs, _guard) = Logs::capture(Level::INFO);
    let clock = TokioClock::new();
    let outbox = MemoryOutbox::with(&[message()], clock.now());
    let worker = worker(Refusing, outbox.clone(), clock);
    let counters = worker.counters.clone();

    let running = worker.start();
    run_for(Duration::from_secs(1)).await;
    running.stop().await;

    let [row] = outbox.rows().try_into().unwrap();
    assert_eq!((row.attempts, row.next), (1, None));
    assert!(row.error.unwrap().contains("550 no such mailbox"));
    assert_eq!((counters.failed.get(), counters.retried.get()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_hanging_delivery_holds_no_other_message() {
    let (_logs, _guard) = Logs::capture(Level::INFO);
    let clock = TokioClock::new();
    let stuck = MailMessage {
        subject: "hang".into(),
        ..message()
    };
    let outbox = MemoryOutbox::with(&[stuck, message()], clock.now());
    let flaky = Flaky {
        hang: Some("hang"),
        ..Flaky::failing(0)
    };
    let worker = worker(flaky.clone(), outbox.clone(), clock);
    let running = worker.start();

    run_for(Duration::from_secs(1)).await;
    assert_eq!(
        flaky.delivered(),
        [message()],
        "delivered beside the hanging one"
    );

    // The hanging attempt times out and counts as a failure, to be retried.
    run_for(ATTEMPT_TIMEOUT).await;
    let [row] = outbox.rows().try_into().unwrap();
    assert_eq!(row.message.subject, "hang");
    assert!(row.next.is_some(), "still queued");
    assert!(row.error.unwrap().contains("no answer within"));
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_outbox_outage_pauses_delivery_until_the_database_is_back() {
    let (_logs, _guard) = Logs::capture(Level::INFO);
    let (logs, _guard) = Logs::capture(Level::INFO);
    let clock = TokioClock::new();
    let outbox = MemoryOutbox::with(&[message()], clock.now());
    outbox.down.store(true, Ordering::SeqCst);
    let flaky = Flaky::failing(0);
    let running = worker(flaky.clone(), outbox.clone(), clock).start();

    run_for(Duration::from_secs(30)).await;
    assert!(flaky.delivered().is_empty());
    assert!(logs.text().contains("cannot read the mail outbox"));

    outbox.down.store(false, Ordering::SeqCst);
    run_for(OUTAGE_PAUSE).await;
    running.stop().await;
    assert_eq!(flaky.delivered(), [message()]);
    assert!(outbox.rows().is_empty());
}

#[tokio::test(start_paused = true)]
async fn committed_mail_is_delivered_promptly_and_other_mail_at_the_next_poll() {
    let (_logs, _guard) = Logs::capture(Level::INFO);
    let clock = TokioClock::new();
    let outbox = MemoryOutbox::with(&[], clock.now());
    let flaky = Flaky::failing(0);
    let worker = worker(flaky.clone(), outbox.clone(), clock.clone());
    let signal = worker.signal.clone();
    let running = worker.start();
    run_for(Duration::from_millis(10)).await;

    // Written by this process: the signal wakes the idle worker, which gathers more
    // for a moment, then delivers.
    let own = MemoryOutbox::with(&[message()], clock.now()).rows();
    outbox.rows.lock().unwrap().extend(own);
    signal.mail_committed();
    run_for(GATHER - Duration::from_millis(10)).await;
    assert!(flaky.delivered().is_empty(), "still gathering");
    run_for(Duration::from_millis(20)).await;
    assert_eq!(flaky.delivered().len(), 1);

    // Written by another process: no signal here, so the next poll finds it.
    let other = MemoryOutbox::with(&[message()], clock.now()).rows();
    outbox.rows.lock().unwrap().extend(other);
    run_for(Duration::from_millis(10)).await;
    assert_eq!(flaky.delivered().len(), 1);
    run_for(POLL).await;
    assert_eq!(flaky.delivered().len(), 2);
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_batch_at_a_time_drains_a_long_queue() {
    let (_logs, _guard) = Logs::capture(Level::INFO);
    let clock = TokioClock::new();
    let queue = vec![message(); 40];
    let outbox = MemoryOutbox::with(&queue, clock.now());
    let flaky = Flaky::failing(0);
    let running = worker(flaky.clone(), outbox.clone(), clock).start();

    run_for(Duration::from_millis(10)).await;
    running.stop().await;

    assert_eq!(flaky.delivered().len(), 40);
    assert!(outbox.rows().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_stop_waits_for_a_hanging_attempt_only_so_long() {
    let (_logs, _guard) = Logs::capture(Level::INFO);
    let clock = TokioClock::new();
    let stuck = MailMessage {
        subject: "hang".into(),
        ..message()
    };
    let outbox = MemoryOutbox::with(&[stuck], clock.now());
    let flaky = Flaky {
        hang: Some("hang"),
        ..Flaky::failing(0)
    };
    let running = worker(flaky, outbox.clone(), clock.clone()).start();
    run_for(Duration::from_millis(10)).await;

    let start = Instant::now();
    running.stop().await;

    assert_eq!(start.elapsed(), STOP_WAIT);
    let [row] = outbox.rows().try_into().unwrap();
    assert_eq!(row.attempts, 1);
    let lease_end = row.next.unwrap();
    assert!(
        lease_end > clock.now(),
        "still claimed: due again after the lease"
    );
}
