//! What the second-factor use cases take and give: a factor as the client presents it,
//! a challenge as the client receives it, and the limits they share.

use auth_ports::{AuthMethod, BearerToken, RecoveryCode};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

/// How long a challenge (the second step of a login, a passkey ceremony) stays open.
pub const CHALLENGE_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Wrong answers a challenge takes before it is thrown away.
pub const MAX_CHALLENGE_FAILURES: u32 = 5;

/// How many recovery codes a set holds.
pub const RECOVERY_CODES: usize = 10;

/// The longest name a passkey may have, in characters.
pub const MAX_PASSKEY_NAME_CHARS: usize = 100;

/// A second factor as the client presents it.
#[derive(Debug, Clone)]
pub enum FactorAnswer {
    /// A code from the authenticator app.
    Totp(String),
    /// One of the recovery codes.
    RecoveryCode(RecoveryCode),
    /// The browser's answer to the challenge's WebAuthn options.
    Webauthn(Value),
}

impl FactorAnswer {
    /// The method the answer is for.
    #[must_use]
    pub fn method(&self) -> AuthMethod {
        match self {
            Self::Totp(_) => AuthMethod::Totp,
            Self::RecoveryCode(_) => AuthMethod::RecoveryCode,
            Self::Webauthn(_) => AuthMethod::Webauthn,
        }
    }
}

/// A challenge handed to the client: the token that names it and what to answer with.
#[derive(Debug, Clone)]
pub struct IssuedChallenge {
    /// The token, shown to the client once.
    pub token: BearerToken,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The methods it can be answered with.
    pub methods: Vec<AuthMethod>,
    /// WebAuthn `publicKey` options, when a passkey can answer it.
    pub webauthn: Option<Value>,
}
