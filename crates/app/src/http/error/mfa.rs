//! The answers of second-factor steps. A wrong factor is 401 at login (no session yet)
//! and 403 at a step-up (the session is valid; the proof is not), like a wrong password.

use super::{ApiError, fields};
use auth_domain::MfaError;

impl ApiError {
    /// The answer to `err` at a login's second step or a passwordless login.
    pub(in crate::http) fn from_mfa_login(err: MfaError) -> Self {
        match err {
            MfaError::InvalidCredentials => Self::WrongSecondFactor,
            other => other.into(),
        }
    }
}

impl From<MfaError> for ApiError {
    /// The answer to `err` where a session made the request (a step-up, a change of one's
    /// factors).
    fn from(err: MfaError) -> Self {
        match err {
            MfaError::RateLimited { retry_after } => Self::RateLimited(retry_after),
            MfaError::Invalid(errors) => Self::Validation(fields(&errors)),
            MfaError::InvalidToken => Self::InvalidChallenge,
            MfaError::InvalidCredentials => Self::WrongStepUp,
            MfaError::AccountLocked { .. } => Self::AccountLocked,
            MfaError::AccountDisabled => Self::AccountDisabled,
            MfaError::EmailNotVerified => Self::EmailNotVerified,
            MfaError::SessionEnded => Self::Unauthorized,
            MfaError::ReauthenticationRequired(_) => Self::ReauthenticationRequired,
            MfaError::NotConfigured => Self::NotConfigured,
            MfaError::TotpEnrolled => Self::TotpEnrolled,
            MfaError::NotEnabled => Self::MfaNotEnabled,
            MfaError::NotFound => Self::NotFound,
            MfaError::PasskeyRegistered => Self::PasskeyRegistered,
            MfaError::PasskeyRejected(why) => {
                tracing::debug!(%why, "passkey registration rejected");
                Self::PasskeyRejected
            }
            MfaError::Failure(failure) => failure.into(),
        }
    }
}
