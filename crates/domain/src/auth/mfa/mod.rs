//! Multi-factor authentication: the second step of a login, passwordless passkey logins,
//! step-up re-authentication of a session, and managing one's second factors.

mod answer;
mod error;
mod factors;
mod login;
pub(super) mod model;
mod passkey_login;
mod step_up;

pub use error::MfaError;
pub use factors::{NewTotp, RegisteredPasskey};
pub use model::{
    CHALLENGE_LIFETIME, FactorAnswer, IssuedChallenge, MAX_CHALLENGE_FAILURES,
    MAX_PASSKEY_NAME_CHARS, RECOVERY_CODES,
};
pub use step_up::{Reauthenticated, StepUpAnswer};
