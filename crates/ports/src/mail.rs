//! Outgoing mail: the message and the outbox it waits in until it is delivered.

use crate::{Email, MailId, StoreError};
use chrono::{DateTime, Utc};
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

/// A message of the outbox, claimed for one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    /// Which message.
    pub id: MailId,
    /// What to deliver.
    pub message: MailMessage,
    /// Which attempt this is: 1 for the first.
    pub attempt: u32,
}

/// How much mail waits, and how much was given up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    /// Messages waiting for a first delivery or a retry (claimed ones included).
    pub queued: u64,
    /// Messages given up after their last attempt, kept (without bodies) for operators.
    pub failed: u64,
    /// When the next waiting message is due, if one waits.
    pub next_due: Option<DateTime<Utc>>,
}

/// The mail outbox. Writes that send mail (a new account's verification link, a reset
/// link, a password-change notice) add the message to it in their own transaction, so a
/// message exists exactly when its write committed; a delivery worker on any instance
/// takes it from here.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait MailOutbox: Send + Sync {
    /// Claims up to `limit` messages due at `now`, oldest first, for one attempt each.
    /// A claimed message is due again at `lease_until`, so of concurrent claimers
    /// (instances) each gets other messages, and a message whose attempt never reported
    /// back (its process died) is tried again once the lease is over.
    ///
    /// # Errors
    /// Storage failures.
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError>;

    /// Removes delivered messages.
    ///
    /// # Errors
    /// Storage failures.
    async fn delivered(&self, ids: &[MailId]) -> Result<(), StoreError>;

    /// Schedules another attempt at `at`, keeping `error` as the reason.
    ///
    /// # Errors
    /// Storage failures.
    async fn retry(&self, id: MailId, at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;

    /// Gives the message up at `at` for `error`: its bodies (which carry one-time links)
    /// are erased; recipient, subject and reason stay for operators.
    ///
    /// # Errors
    /// Storage failures.
    async fn give_up(&self, id: MailId, at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;

    /// How many messages wait, how many were given up, and when the next one is due.
    ///
    /// # Errors
    /// Storage failures.
    async fn backlog(&self) -> Result<OutboxBacklog, StoreError>;

    /// Deletes the given-up messages that failed before `cutoff`; how many.
    ///
    /// # Errors
    /// Storage failures.
    async fn delete_failed(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;
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
