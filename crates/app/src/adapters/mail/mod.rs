//! The `Mailer` adapter: `send` puts the message on a bounded queue and returns; one
//! background task delivers it through the configured transport (log, file or SMTP) and
//! retries failures with exponential backoff. Bodies carry one-time links, so nothing
//! logs them; recipients are personal data, so logs above DEBUG name only their domain.

mod file;
mod log;
mod smtp;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use auth_ports::{MailMessage, Mailer};
use lettre::message::Mailbox;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;

use crate::config::MailTransport;

/// Messages waiting for delivery. A backlog this long means the transport is down or far
/// too slow; further messages are dropped (and logged) rather than held in memory, and
/// the user can ask for the mail again.
const QUEUE_CAPACITY: usize = 1024;

/// Tries per message: the first and three retries, `retry_base` × 1, 2 and 4 apart.
const MAX_ATTEMPTS: u32 = 4;

/// Marks a delivery error that trying again cannot fix (the server refused the recipient
/// for good, say): the message is given up at once instead of holding the queue.
#[derive(Debug)]
struct Permanent;

impl std::fmt::Display for Permanent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("permanent failure")
    }
}

/// One way of delivering a message, tried once per call.
trait Transport: Send + Sync + 'static {
    /// Delivers `message`, or says why not.
    fn deliver(&self, message: &MailMessage) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The mailer for `transport`, with its delivery task started. A failed delivery is
/// tried four times in all, `retry_base`, twice that and four times that apart (the
/// composition root passes a second; tests pass milliseconds). `from` is the sender of
/// SMTP mail (`Config::mail_from`). The task ends once every clone of the returned `Arc`
/// is dropped.
///
/// # Errors
/// When lettre cannot use the SMTP URL (for example an unknown `tls=` value); the
/// message shows the URL without its password.
///
/// # Panics
/// When called outside a tokio runtime.
pub fn mailer(
    transport: &MailTransport,
    from: Mailbox,
    retry_base: Duration,
) -> anyhow::Result<Arc<dyn Mailer>> {
    let (mailer, _worker) = match transport {
        MailTransport::Log => spawn(log::LogTransport, QUEUE_CAPACITY, retry_base),
        MailTransport::File(dir) => spawn(
            file::FileTransport::new(dir.clone()),
            QUEUE_CAPACITY,
            retry_base,
        ),
        MailTransport::Smtp(url) => spawn(
            smtp::SmtpTransport::new(url, from)?,
            QUEUE_CAPACITY,
            retry_base,
        ),
    };
    Ok(Arc::new(mailer))
}

/// The sending end of the queue.
struct QueuedMailer {
    /// Feeds the delivery task.
    queue: mpsc::Sender<MailMessage>,
}

impl Mailer for QueuedMailer {
    fn send(&self, message: MailMessage) {
        match self.queue.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(message)) => tracing::warn!(
                to_domain = %recipient_domain(&message),
                subject = %message.subject,
                "mail queue is full; message dropped"
            ),
            Err(TrySendError::Closed(message)) => tracing::error!(
                to_domain = %recipient_domain(&message),
                subject = %message.subject,
                "mail delivery task has stopped; message dropped"
            ),
        }
    }
}

/// The domain of the recipient: enough to tell which mail server is failing, without
/// writing a personal address into logs read at INFO.
fn recipient_domain(message: &MailMessage) -> &str {
    let to = message.to.as_str();
    to.rsplit_once('@').map_or(to, |(_, domain)| domain)
}

/// Starts the task that delivers queued messages one after the other through
/// `transport`, and returns the mailer that feeds it with the task's handle.
fn spawn<T: Transport>(
    transport: T,
    capacity: usize,
    retry_base: Duration,
) -> (QueuedMailer, JoinHandle<()>) {
    let (queue, mut inbox) = mpsc::channel(capacity);
    let worker = tokio::spawn(async move {
        while let Some(message) = inbox.recv().await {
            deliver(&transport, &message, retry_base).await;
        }
    });
    (QueuedMailer { queue }, worker)
}

/// Tries `message` up to [`MAX_ATTEMPTS`] times, doubling the pause after each failure.
async fn deliver<T: Transport>(transport: &T, message: &MailMessage, retry_base: Duration) {
    let mut pause = retry_base;
    for attempt in 1..=MAX_ATTEMPTS {
        let Err(err) = transport.deliver(message).await else {
            return;
        };
        if attempt == MAX_ATTEMPTS || err.downcast_ref::<Permanent>().is_some() {
            tracing::error!(
                to_domain = %recipient_domain(message),
                subject = %message.subject,
                error = format!("{err:#}"),
                attempt,
                "mail delivery failed; giving up"
            );
            return;
        }
        tracing::warn!(
            to_domain = %recipient_domain(message),
            subject = %message.subject,
            attempt,
            error = format!("{err:#}"),
            "mail delivery failed; retrying in {pause:?}"
        );
        tokio::time::sleep(pause).await;
        pause = pause.saturating_mul(2);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use auth_ports::Email;
    use std::io;
    use std::sync::Mutex;
    use tokio::time::Instant;
    use tracing::Level;
    use tracing::subscriber::DefaultGuard;

    /// In every test body: it must never reach a log line above DEBUG.
    pub(crate) const SECRET: &str = "s3cret-token";

    pub(crate) fn message() -> MailMessage {
        MailMessage {
            to: Email::parse("ada@example.com").unwrap(),
            subject: "Verify your email".into(),
            text: format!("Open https://auth.example.com/verify?token={SECRET}"),
            html: format!("<a href=\"https://auth.example.com/verify?token={SECRET}\">Verify</a>"),
        }
    }

    /// Log output captured from the current thread (the tests' runtime runs every task
    /// there, the delivery task included).
    #[derive(Clone, Default)]
    pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

    impl Logs {
        /// Captures events up to `level` until the guard is dropped.
        pub(crate) fn capture(level: Level) -> (Self, DefaultGuard) {
            let logs = Self::default();
            let writer = logs.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(level)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            (logs, tracing::subscriber::set_default(subscriber))
        }

        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl io::Write for Logs {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Fails its first `failures` attempts, then delivers; records when each attempt
    /// was made and what was delivered.
    #[derive(Clone)]
    struct Flaky {
        failures: usize,
        attempts: Arc<Mutex<Vec<Instant>>>,
        delivered: Arc<Mutex<Vec<MailMessage>>>,
    }

    impl Flaky {
        fn failing(failures: usize) -> Self {
            Self {
                failures,
                attempts: Arc::default(),
                delivered: Arc::default(),
            }
        }

        /// When each attempt was made, counted from `start`.
        fn attempt_times(&self, start: Instant) -> Vec<Duration> {
            let attempts = self.attempts.lock().unwrap();
            attempts.iter().map(|at| *at - start).collect()
        }
    }

    impl Transport for Flaky {
        async fn deliver(&self, message: &MailMessage) -> anyhow::Result<()> {
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

    /// Never finishes a delivery.
    struct Hanging;

    impl Transport for Hanging {
        async fn deliver(&self, _: &MailMessage) -> anyhow::Result<()> {
            std::future::pending().await
        }
    }

    fn secs(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_secs).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_delivery_is_retried_with_backoff_and_delivered_once() {
        let (logs, _guard) = Logs::capture(Level::INFO);
        let flaky = Flaky::failing(2);
        let (mailer, worker) = spawn(flaky.clone(), 8, Duration::from_secs(1));
        let start = Instant::now();

        mailer.send(message());
        drop(mailer);
        worker.await.unwrap();

        assert_eq!(*flaky.delivered.lock().unwrap(), [message()]);
        assert_eq!(flaky.attempt_times(start), secs(&[0, 1, 3]));
        let logs = logs.text();
        assert_eq!(logs.matches("WARN").count(), 2, "{logs}");
        assert!(logs.contains("421 try again later"), "{logs}");
        assert!(!logs.contains("ERROR"), "{logs}");
        assert!(!logs.contains(SECRET), "{logs}");
    }

    #[tokio::test(start_paused = true)]
    async fn delivery_gives_up_after_the_last_attempt() {
        let (logs, _guard) = Logs::capture(Level::INFO);
        let flaky = Flaky::failing(usize::MAX);
        let (mailer, worker) = spawn(flaky.clone(), 8, Duration::from_secs(1));
        let start = Instant::now();

        mailer.send(message());
        drop(mailer);
        worker.await.unwrap();

        assert!(flaky.delivered.lock().unwrap().is_empty());
        assert_eq!(flaky.attempt_times(start), secs(&[0, 1, 3, 7]));
        let logs = logs.text();
        assert_eq!(logs.matches("WARN").count(), 3, "{logs}");
        assert_eq!(logs.matches("ERROR").count(), 1, "{logs}");
        assert!(logs.contains("giving up"), "{logs}");
        assert!(logs.contains("to_domain=example.com"), "{logs}");
        assert!(!logs.contains("ada@"), "{logs}");
        assert!(!logs.contains(SECRET), "{logs}");
    }

    /// Refuses every message for good.
    struct Refusing(Arc<Mutex<usize>>);

    impl Transport for Refusing {
        async fn deliver(&self, _: &MailMessage) -> anyhow::Result<()> {
            *self.0.lock().unwrap() += 1;
            Err(anyhow::anyhow!("550 no such mailbox").context(Permanent))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_failure_is_not_retried() {
        let (logs, _guard) = Logs::capture(Level::INFO);
        let attempts = Arc::new(Mutex::new(0));
        let (mailer, worker) = spawn(Refusing(attempts.clone()), 8, Duration::from_secs(1));
        let start = Instant::now();

        mailer.send(message());
        drop(mailer);
        worker.await.unwrap();

        assert_eq!(*attempts.lock().unwrap(), 1);
        assert_eq!(Instant::now() - start, Duration::ZERO, "no pause");
        let logs = logs.text();
        assert_eq!(logs.matches("ERROR").count(), 1, "{logs}");
        assert!(!logs.contains("WARN"), "{logs}");
    }

    #[tokio::test(start_paused = true)]
    async fn messages_queued_behind_a_failing_one_are_delivered_in_order() {
        let flaky = Flaky::failing(1);
        let (mailer, worker) = spawn(flaky.clone(), 8, Duration::from_secs(1));
        let second = MailMessage {
            subject: "Reset your password".into(),
            ..message()
        };

        mailer.send(message());
        mailer.send(second.clone());
        drop(mailer);
        worker.await.unwrap();

        assert_eq!(*flaky.delivered.lock().unwrap(), [message(), second]);
    }

    #[tokio::test]
    async fn send_returns_at_once_while_delivery_hangs_and_drops_what_does_not_fit() {
        let (logs, _guard) = Logs::capture(Level::INFO);
        let (mailer, _worker) = spawn(Hanging, 2, Duration::from_secs(1));
        let start = std::time::Instant::now();

        // The delivery task has not run yet: two messages fill the queue, three are dropped.
        for _ in 0..5 {
            mailer.send(message());
        }

        assert!(start.elapsed() < Duration::from_secs(1));
        let logs = logs.text();
        assert_eq!(logs.matches("mail queue is full").count(), 3, "{logs}");
        assert!(logs.contains("to_domain=example.com"), "{logs}");
        assert!(!logs.contains("ada@"), "{logs}");
        assert!(!logs.contains(SECRET), "{logs}");
    }

    #[tokio::test]
    async fn a_bad_smtp_url_is_an_error_without_the_password() {
        // Past config, which refuses credentials without TLS: lettre's own check.
        let (url, _) =
            crate::config::CredentialUrl::parse("smtp://u:pa55word@mail.example.com?tls=maybe")
                .unwrap();
        let from = "authd <no-reply@example.com>".parse().unwrap();

        let err = mailer(&MailTransport::Smtp(url), from, Duration::from_secs(1))
            .err()
            .unwrap();

        let shown = format!("{err:#}");
        assert!(
            shown.contains("MAIL_TRANSPORT smtp://u:***@mail.example.com"),
            "{shown}"
        );
        assert!(!shown.contains("pa55word"), "{shown}");
    }
}
