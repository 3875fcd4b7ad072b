//! The transport `MAIL_TRANSPORT` names.

use auth_ports::MailMessage;
use lettre::message::Mailbox;

use super::file::FileTransport;
use super::log::LogTransport;
use super::smtp::SmtpTransport;
use super::transport::Transport;
use crate::config::MailTransport;

/// The configured transport.
pub(super) enum Configured {
    Log(LogTransport),
    File(FileTransport),
    Smtp(SmtpTransport),
}

impl Configured {
    /// The transport `MAIL_TRANSPORT` names; `from` is the sender of SMTP mail
    /// (`Config::mail_from`).
    ///
    /// # Errors
    /// When lettre cannot use the SMTP URL (for example an unknown `tls=` value); the
    /// message shows the URL without its password.
    pub(super) fn new(transport: &MailTransport, from: Mailbox) -> anyhow::Result<Self> {
        Ok(match transport {
            MailTransport::Log => Self::Log(LogTransport),
            MailTransport::File(dir) => Self::File(FileTransport::new(dir.clone())),
            MailTransport::Smtp(url) => Self::Smtp(SmtpTransport::new(url, from)?),
        })
    }
}

impl Transport for Configured {
    async fn deliver(&self, message: &MailMessage) -> anyhow::Result<()> {
        match self {
            Self::Log(transport) => transport.deliver(message).await,
            Self::File(transport) => transport.deliver(message).await,
            Self::Smtp(transport) => transport.deliver(message).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_smtp_url_is_an_error_without_the_password() {
        // Past config, which refuses credentials without TLS: lettre's own check.
        let (url, _) =
            crate::config::CredentialUrl::parse("smtp://u:pa55word@mail.example.com?tls=maybe")
                .unwrap();
        let from = "authd <no-reply@example.com>".parse().unwrap();

        let err = Configured::new(&MailTransport::Smtp(url), from)
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
