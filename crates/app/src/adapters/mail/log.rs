//! The `log` transport, the development default: a line per message in the log. Bodies
//! carry live one-time links and are never logged, at any level; the recipient is a
//! personal address and is logged at DEBUG only. To read links in development, use
//! `MAIL_TRANSPORT=file:<dir>`.

use auth_ports::MailMessage;

use super::transport::{Transport, recipient_domain};

/// Writes a line per message to the log instead of sending it.
pub(super) struct LogTransport;

impl Transport for LogTransport {
    async fn deliver(&self, message: &MailMessage) -> anyhow::Result<()> {
        tracing::info!(
            to_domain = %recipient_domain(message),
            subject = %message.subject,
            "mail sent (MAIL_TRANSPORT=log; the body is not logged)"
        );
        tracing::debug!(to = %message.to, subject = %message.subject, "mail recipient");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Logs, SECRET, message};
    use super::*;
    use tracing::Level;

    #[tokio::test]
    async fn info_shows_the_subject_but_neither_the_address_nor_the_body() {
        let (logs, _guard) = Logs::capture(Level::INFO);

        LogTransport.deliver(&message()).await.unwrap();

        let logs = logs.text();
        assert!(logs.contains("Verify your email"), "{logs}");
        assert!(logs.contains("example.com"), "{logs}");
        assert!(!logs.contains("ada@"), "{logs}");
        assert!(!logs.contains(SECRET), "{logs}");
    }

    #[tokio::test]
    async fn no_level_shows_the_body() {
        let (logs, _guard) = Logs::capture(Level::TRACE);

        LogTransport.deliver(&message()).await.unwrap();

        let logs = logs.text();
        assert!(logs.contains("ada@example.com"), "{logs}");
        assert!(!logs.contains(SECRET), "{logs}");
    }
}
