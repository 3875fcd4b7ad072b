//! The `log` transport, the development default: a line per message in the log. The
//! body, with its one-time link, is logged at DEBUG only, so `RUST_LOG=debug` shows a
//! developer the link while an INFO log never holds a live token.

use auth_ports::MailMessage;

use super::Transport;

/// Writes each message to the log instead of sending it.
pub(super) struct LogTransport;

impl Transport for LogTransport {
    async fn deliver(&self, message: &MailMessage) -> anyhow::Result<()> {
        tracing::info!(
            to = %message.to,
            subject = %message.subject,
            "mail sent (MAIL_TRANSPORT=log)"
        );
        tracing::debug!(to = %message.to, text = %message.text, "mail body");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Logs, SECRET, message};
    use super::*;
    use tracing::Level;

    #[tokio::test]
    async fn info_shows_recipient_and_subject_but_never_the_body() {
        let (logs, _guard) = Logs::capture(Level::INFO);

        LogTransport.deliver(&message()).await.unwrap();

        let logs = logs.text();
        assert!(logs.contains("ada@example.com"), "{logs}");
        assert!(logs.contains("Verify your email"), "{logs}");
        assert!(!logs.contains(SECRET), "{logs}");
    }

    #[tokio::test]
    async fn debug_shows_the_text_body() {
        let (logs, _guard) = Logs::capture(Level::DEBUG);

        LogTransport.deliver(&message()).await.unwrap();

        let logs = logs.text();
        assert!(
            logs.contains(&format!("https://auth.example.com/verify?token={SECRET}")),
            "{logs}"
        );
    }
}
