//! What every transport is: one attempt at one message, failing for now or for good.

use std::future::Future;

use auth_ports::MailMessage;

/// Marks a delivery error that trying again cannot fix (the server refused the recipient
/// for good, say): the message is given up at once.
#[derive(Debug)]
pub(super) struct Permanent;

impl std::fmt::Display for Permanent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("permanent failure")
    }
}

/// One way of delivering a message, tried once per call.
pub(super) trait Transport: Send + Sync + 'static {
    /// Delivers `message`, or says why not.
    fn deliver(&self, message: &MailMessage) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The domain of the recipient: enough to tell which mail server is failing, without
/// writing a personal address into logs read at INFO.
pub(super) fn recipient_domain(message: &MailMessage) -> &str {
    let to = message.to.as_str();
    to.rsplit_once('@').map_or(to, |(_, domain)| domain)
}
