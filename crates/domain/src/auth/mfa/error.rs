//! Why a second-factor step failed.

use crate::auth::login::LoginError;
use crate::error::{Failure, FieldErrors};
use crate::principal::ReauthenticationRequired;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Why a second-factor step (a login's second step, a passkey login, a step-up, or a
/// change of one's factors) failed.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// Too many attempts from this client or for this account.
    #[error("rate limited")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// The input is malformed, or names a method the challenge does not offer.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// The challenge token is unknown, expired, used up or of another kind or session.
    #[error("invalid challenge token")]
    InvalidToken,
    /// The code or passkey answer is wrong.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failures: locked until then.
    #[error("account locked")]
    AccountLocked {
        /// When the lock ends.
        until: DateTime<Utc>,
    },
    /// The account is not active.
    #[error("account disabled")]
    AccountDisabled,
    /// The email must be verified first.
    #[error("email not verified")]
    EmailNotVerified,
    /// The session ended while it was being re-authenticated.
    #[error("session ended")]
    SessionEnded,
    /// The session was authenticated too long ago for this change.
    #[error(transparent)]
    ReauthenticationRequired(#[from] ReauthenticationRequired),
    /// TOTP needs `MFA_SECRET_KEY`, which is not set.
    #[error("TOTP is not configured")]
    NotConfigured,
    /// A confirmed TOTP authenticator exists already; remove it first.
    #[error("TOTP is enrolled already")]
    TotpEnrolled,
    /// The user has no second factor, so there is nothing to back up or use.
    #[error("MFA is not enabled")]
    NotEnabled,
    /// No such factor (or nothing pending to confirm).
    #[error("not found")]
    NotFound,
    /// That credential is registered already.
    #[error("passkey registered already")]
    PasskeyRegistered,
    /// The browser's answer to a passkey registration does not check out.
    #[error("passkey rejected: {0}")]
    PasskeyRejected(String),
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl From<LoginError> for MfaError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            LoginError::Invalid(fields) => Self::Invalid(fields),
            LoginError::InvalidCredentials => Self::InvalidCredentials,
            LoginError::AccountLocked { until } => Self::AccountLocked { until },
            LoginError::AccountDisabled => Self::AccountDisabled,
            LoginError::EmailNotVerified => Self::EmailNotVerified,
            LoginError::Failure(failure) => Self::Failure(failure),
        }
    }
}

impl From<auth_ports::StoreError> for MfaError {
    fn from(err: auth_ports::StoreError) -> Self {
        Self::Failure(err.into())
    }
}

impl From<auth_ports::SecondFactorError> for MfaError {
    fn from(err: auth_ports::SecondFactorError) -> Self {
        Self::Failure(Failure::Unexpected(Box::new(err)))
    }
}

/// `Invalid`, naming `field`.
pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> MfaError {
    let mut errors = FieldErrors::default();
    errors.add(field, message);
    MfaError::Invalid(errors)
}
