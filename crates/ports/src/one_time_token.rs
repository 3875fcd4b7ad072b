//! Single-use email-verification and password-reset tokens, stored as SHA-256 hashes,
//! and what redeeming one does.

use crate::{AuditWith, MailMessage, PasswordHash, StoreError, TokenHash, UserId};
use chrono::{DateTime, Utc};

/// What a one-time token is for; a token of one purpose never serves the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    /// Confirms that the user reads mail at their address.
    EmailVerification,
    /// Lets the user set a new password without the old one.
    PasswordReset,
}

impl TokenPurpose {
    /// The stored name (`one_time_tokens.purpose`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// A token to store, by the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOneTimeToken {
    /// Whose it is.
    pub user_id: UserId,
    /// What it is for.
    pub purpose: TokenPurpose,
    /// SHA-256 of the secret sent by mail.
    pub token_hash: TokenHash,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Issue time.
    pub created_at: DateTime<Utc>,
}

/// What redeeming a token does, in the transaction that uses it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// Marks the user's email verified.
    VerifyEmail,
    /// Replaces the password hash, clears failed logins and any lock, revokes every
    /// session of the user, marks the email verified (the link came by mail) and puts
    /// `notice` (telling the owner) in the outbox.
    ResetPassword {
        /// The new password's hash.
        hash: PasswordHash,
        /// The password-change notice.
        notice: MailMessage,
    },
}

impl Redemption {
    /// The purpose a token must have to be redeemed this way.
    #[must_use]
    pub fn purpose(&self) -> TokenPurpose {
        match self {
            Self::VerifyEmail => TokenPurpose::EmailVerification,
            Self::ResetPassword { .. } => TokenPurpose::PasswordReset,
        }
    }
}

/// Stores one-time tokens. A token is live while unused and unexpired.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait OneTimeTokenRepository: Send + Sync {
    /// Stores `token`, puts `mail` (which carries its secret) in the outbox and appends
    /// `audit`, in one transaction; the user's earlier live tokens of the same purpose
    /// are used up, so only the newest link works.
    ///
    /// # Errors
    /// `NotFound` if the user does not exist; `Conflict(OneTimeToken)` on a hash
    /// collision.
    async fn issue(
        &self,
        token: NewOneTimeToken,
        mail: MailMessage,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError>;

    /// The owner of the live token with this hash and purpose at `now`.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_live(
        &self,
        token_hash: &TokenHash,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError>;

    /// Uses up the live token with this hash and the redemption's purpose at `at`,
    /// applies the redemption and appends `audit`, in one transaction; returns the
    /// owner. Of concurrent redemptions of one token exactly one succeeds.
    ///
    /// # Errors
    /// `NotFound` when no such token is live (unknown, used, expired or of the other
    /// purpose); storage failures.
    async fn redeem(
        &self,
        token_hash: &TokenHash,
        redemption: Redemption,
        at: DateTime<Utc>,
        audit: AuditWith<UserId>,
    ) -> Result<UserId, StoreError>;

    /// Deletes tokens that were used, or that expired before `now`. Returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete_spent(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
