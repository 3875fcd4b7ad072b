//! The cryptographic ports of second factors: TOTP codes (RFC 6238) and WebAuthn
//! ceremonies. The domain decides when a factor is needed and what a result means; the
//! adapters do the cryptography with well-kept libraries.

use crate::{Email, Passkey, TotpSecret, UserId};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A fresh TOTP secret: sealed for storage, and in the two forms shown to the user once.
#[derive(Debug, Clone)]
pub struct NewTotpSecret {
    /// The secret sealed for this user, to store.
    pub sealed: Vec<u8>,
    /// The secret in base32, to type into an authenticator app.
    pub secret: TotpSecret,
    /// The `otpauth://totp/…` URI, for a QR code.
    pub otpauth_uri: TotpSecret,
}

/// Why a second factor could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    /// What the client sent is not a valid answer (malformed, wrong signature, unknown
    /// credential, wrong origin or challenge).
    #[error("rejected: {0}")]
    Rejected(String),
    /// The server side failed (a secret that does not open under the configured key,
    /// corrupt stored state).
    #[error("second factor check failed: {0}")]
    Failed(String),
}

/// Makes and checks TOTP secrets. Secrets are sealed with a server key bound to the user.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TotpAuthenticator: Send + Sync {
    /// A fresh 160-bit secret for `user`, labelled with their address.
    fn generate(&self, user: UserId, account: &Email) -> NewTotpSecret;

    /// The time step `code` belongs to if it is right for `user`'s sealed secret at
    /// `now`, one step of clock skew either way; `None` for a wrong code.
    ///
    /// # Errors
    /// [`SecondFactorError::Failed`] when the secret does not open.
    fn check(
        &self,
        user: UserId,
        sealed: &[u8],
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, SecondFactorError>;
}

/// A WebAuthn ceremony begun: options for the browser and state to keep server-side.
#[derive(Debug, Clone, PartialEq)]
pub struct Ceremony {
    /// The `publicKey` options for `navigator.credentials.create()` or `.get()`.
    pub options: Value,
    /// The library's state, as JSON; never sent to the client.
    pub state: String,
}

/// A credential the browser made, checked and ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredCredential {
    /// The authenticator's credential id.
    pub credential_id: Vec<u8>,
    /// The library's record of it, as JSON.
    pub data: String,
}

/// A checked assertion: which credential signed it and its updated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The credential that signed.
    pub credential_id: Vec<u8>,
    /// The library's record with the new signature counter, as JSON.
    pub data: String,
}

/// Runs WebAuthn ceremonies for one relying party.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait PasskeyAuthenticator: Send + Sync {
    /// Begins registering a credential for `user`, excluding the ones they have.
    ///
    /// # Errors
    /// [`SecondFactorError::Failed`] on a library failure.
    fn start_registration(
        &self,
        user: UserId,
        account: &Email,
        existing: &[Passkey],
    ) -> Result<Ceremony, SecondFactorError>;

    /// Checks the browser's answer to a registration begun with `state`.
    ///
    /// # Errors
    /// [`SecondFactorError::Rejected`] for an answer that does not check out.
    fn finish_registration(
        &self,
        state: &str,
        response: &Value,
    ) -> Result<RegisteredCredential, SecondFactorError>;

    /// Begins an assertion by one of `passkeys` (a second factor or a step-up).
    ///
    /// # Errors
    /// [`SecondFactorError::Failed`] on a library failure.
    fn start_authentication(&self, passkeys: &[Passkey]) -> Result<Ceremony, SecondFactorError>;

    /// Begins a passwordless login by a discoverable credential of anyone.
    ///
    /// # Errors
    /// [`SecondFactorError::Failed`] on a library failure.
    fn start_discoverable(&self) -> Result<Ceremony, SecondFactorError>;

    /// The user a discoverable assertion claims to be from (its user handle), before it
    /// is checked.
    ///
    /// # Errors
    /// [`SecondFactorError::Rejected`] for a malformed answer or one without a handle.
    fn claimed_user(&self, response: &Value) -> Result<UserId, SecondFactorError>;

    /// Checks the browser's answer to an assertion begun with `state` against the
    /// claimed user's `passkeys`.
    ///
    /// # Errors
    /// [`SecondFactorError::Rejected`] for an answer that does not check out.
    fn finish_authentication(
        &self,
        state: &str,
        response: &Value,
        passkeys: &[Passkey],
    ) -> Result<Assertion, SecondFactorError>;
}
