//! Why an OAuth flow or an unlink failed. The variants say which answer the caller gets;
//! none carries a code, state, nonce, verifier or provider token.

use crate::error::Failure;
use crate::principal::ReauthenticationRequired;
use std::time::Duration;

/// Why beginning or finishing a flow failed.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// No provider of that name is configured (404 `not_found`).
    #[error("unknown provider")]
    UnknownProvider,
    /// Too many flows from this client (429).
    #[error("rate limited")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// The provider could not be reached to begin a flow (503); the reason is for logs.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The state is missing, unknown, expired, used, of another provider, came back to
    /// another browser than the one that began the login, or is of a link flow whose
    /// session is no longer active (400 `invalid_state`).
    #[error("invalid state")]
    InvalidState,
    /// The provider sent an error, refused the code, sent an identity that does not
    /// verify, or shared no usable email for a new account (400 `oauth_failed`).
    #[error("oauth failed")]
    OAuthFailed,
    /// The provider's email belongs to an account it may not sign in to: the provider
    /// does not vouch for the address, the account's owner never verified it, or that
    /// account has another account of this provider linked (409 `email_taken`; the
    /// owner can prove the mailbox by verification or reset, then link it while signed
    /// in).
    #[error("email taken")]
    EmailTaken,
    /// The account is not active (403 `account_disabled`).
    #[error("account disabled")]
    AccountDisabled,
    /// The policy asks for a verified email and this one is not (403
    /// `email_not_verified`).
    #[error("email not verified")]
    EmailNotVerified,
    /// A link flow brought an external account that is linked to another user (409).
    #[error("provider account linked to another user")]
    ProviderAccountTaken,
    /// A link flow brought another account of a provider the user has linked already
    /// (409).
    #[error("provider already linked")]
    AlreadyLinked,
    /// Linking needs a session authenticated within the step-up window (403
    /// `reauthentication_required`).
    #[error(transparent)]
    ReauthenticationRequired(#[from] ReauthenticationRequired),
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl OAuthError {
    /// The reason an audit entry of this refusal gives (`details.reason`).
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownProvider => "unknown_provider",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "provider_unavailable",
            Self::InvalidState => "invalid_state",
            Self::OAuthFailed => "oauth_failed",
            Self::EmailTaken => "email_taken",
            Self::AccountDisabled => "account_disabled",
            Self::EmailNotVerified => "email_not_verified",
            Self::ProviderAccountTaken => "provider_account_taken",
            Self::AlreadyLinked => "already_linked",
            Self::ReauthenticationRequired(_) => "reauthentication_required",
            Self::Failure(_) => "failure",
        }
    }
}

/// Why unlinking a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum UnlinkError {
    /// The caller has no account of that provider linked (404).
    #[error("not linked")]
    NotFound,
    /// It is the caller's last way to log in: no password and no other link (409
    /// `last_login_method`).
    #[error("last login method")]
    LastLoginMethod,
    /// Unlinking needs a session authenticated within the step-up window (403
    /// `reauthentication_required`).
    #[error(transparent)]
    ReauthenticationRequired(#[from] ReauthenticationRequired),
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}
