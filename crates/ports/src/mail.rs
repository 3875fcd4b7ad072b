//! Outgoing mail: the message and the port that delivers it.

use crate::Email;
use std::fmt;

/// One message to one recipient, as plain text and as HTML.
#[derive(Clone, PartialEq, Eq)]
pub struct MailMessage {
    /// The recipient.
    pub to: Email,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// Shows the recipient and subject only: bodies carry one-time links.
impl fmt::Debug for MailMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailMessage")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Delivers mail.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Mailer: Send + Sync {
    /// Hands `message` over for delivery and returns at once: delivery, with retries,
    /// happens in the background, so sending never blocks or fails a request. A message
    /// that cannot be delivered is logged (without its body); the user can ask again.
    fn send(&self, message: MailMessage);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_out_the_bodies() {
        let message = MailMessage {
            to: Email::parse("ada@example.com").unwrap(),
            subject: "Reset your password".into(),
            text: "https://auth.example.com/reset?token=s3cret".into(),
            html: "<a href=\"https://auth.example.com/reset?token=s3cret\">reset</a>".into(),
        };
        let shown = format!("{message:?}");
        assert!(shown.contains("Reset your password"));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
