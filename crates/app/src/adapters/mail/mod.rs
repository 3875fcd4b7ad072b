//! Mail delivery: the transports (log, file or SMTP) and the worker that takes messages
//! from the outbox ([`MailOutbox`](auth_ports::MailOutbox)) and delivers them, retrying
//! failures with exponential backoff. Bodies carry one-time links, so nothing logs them;
//! recipients are personal data, so logs above DEBUG name only their domain.

mod configured;
mod delivery;
mod file;
mod log;
mod smtp;
mod transport;

pub use delivery::{MailCounters, MailDelivery, RunningDelivery};

#[cfg(test)]
pub(super) mod tests {
    use auth_ports::Email;
    use auth_ports::MailMessage;
    use std::io;
    use std::sync::{Arc, Mutex};
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
}
