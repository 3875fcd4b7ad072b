//! Single-use email-verification and password-reset tokens (stored as SHA-256 hashes).
//! The flows that issue and consume them come with the email features; what exists now
//! is their cleanup.

use crate::StoreError;
use chrono::{DateTime, Utc};

/// Stores one-time tokens.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait OneTimeTokenRepository: Send + Sync {
    /// Deletes tokens that were used, or that expired before `now`. Returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete_spent(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
