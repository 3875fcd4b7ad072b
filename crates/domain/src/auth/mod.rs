//! AuthService: registration, login, sessions and password changes (SPEC.md section
//! 4.1), with the lockout, session-expiry and rate-limit rules they need, and account
//! recovery by mail.

mod account;
mod login;
mod mfa;
mod password;
mod recovery;
mod register;
mod service;
mod session;
#[cfg(test)]
mod tests;

pub use crate::names::MAX_NAME_CHARS;
pub use crate::principal::{Principal, ReauthenticationRequired, STEP_UP_WINDOW};
pub use crate::rate_limits::WIDE_PREFIX_FACTORS;
pub use account::DeleteAccountError;
pub use login::{LoginError, LoginOutcome, LoginSuccess};
pub use mfa::{
    CHALLENGE_LIFETIME, FactorAnswer, IssuedChallenge, MAX_CHALLENGE_FAILURES,
    MAX_PASSKEY_NAME_CHARS, MfaError, NewTotp, RECOVERY_CODES, Reauthenticated, RegisteredPasskey,
    StepUpAnswer,
};
pub use password::{ChangePasswordError, PasswordCheckError};
pub use recovery::{MAILBOX_FACTOR, RecoveryRequestError, ResetRequest, TokenError};
pub(crate) use register::{Checked as CheckedRegistration, check as check_registration};
pub use register::{DEFAULT_ROLE, RegisterError, Registration};
pub use service::{AuthPolicy, AuthPorts, AuthService, SecondFactorPorts};
pub use session::{AuthenticateError, RevokeError, SessionView};
