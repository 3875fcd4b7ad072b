//! The `smtp://` and `smtps://` transport, on lettre: `smtp://host:port` is plain SMTP,
//! `?tls=required` adds STARTTLS, `smtps://` is TLS from the first byte, and
//! `user:pass@` in the URL logs in. Each message goes out as multipart/alternative
//! (text and HTML).

use anyhow::Context as _;
use auth_ports::MailMessage;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use super::transport::{Permanent, Transport};
use crate::config::CredentialUrl;
use std::time::Duration;

/// Longest wait for the server at each step, so a server that stopped answering holds
/// the queue for seconds, not minutes (lettre's default is 60 s).
const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends through one SMTP server, reusing pooled connections.
pub(super) struct SmtpTransport {
    client: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpTransport {
    /// A client for `url` (nothing is connected yet) sending as `from`.
    ///
    /// # Errors
    /// When lettre cannot use the URL; the message shows it without its password.
    pub(super) fn new(url: &CredentialUrl, from: Mailbox) -> anyhow::Result<Self> {
        let client = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .with_context(|| format!("cannot use MAIL_TRANSPORT {url}"))?
            .timeout(Some(TIMEOUT))
            .build();
        Ok(Self { client, from })
    }
}

impl Transport for SmtpTransport {
    async fn deliver(&self, message: &MailMessage) -> anyhow::Result<()> {
        let to: Address = message
            .to
            .as_str()
            .parse()
            .context(Permanent)
            .context("the recipient is not an address SMTP accepts")?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(&message.subject)
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .context("cannot build the message")?;
        match self.client.send(email).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => Err(anyhow::Error::new(err)
                .context(Permanent)
                .context("the SMTP server refused the message")),
            Err(err) => {
                Err(anyhow::Error::new(err).context("the SMTP server did not take the message"))
            }
        }
    }
}
