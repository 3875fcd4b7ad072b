//! The cryptographic ports: password hashing, and bearer-token and recovery-code
//! generation. The domain
//! decides when to hash and what to compare; the adapters decide how.

use crate::{BearerToken, Password, PasswordHash, RecoveryCode, TokenHash};

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password matches.
    Match {
        /// The hash was made with other parameters than the configured ones: store a new
        /// hash of this password.
        needs_rehash: bool,
    },
    /// It does not (or there was no hash to check against).
    Mismatch,
}

/// Why hashing could not be done.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot stayed busy for too long: the server is overloaded; retry later.
    #[error("password hashing is saturated")]
    Busy,
    /// The hasher failed (bad parameters, corrupt stored hash, crashed worker).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Hashes and verifies passwords (argon2id in production; hashes imported from other
/// systems are verified too, and a match asks for a rehash). Both are slow on purpose.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A new salted hash of `password`.
    ///
    /// # Errors
    /// [`HashError::Busy`] under overload; [`HashError::Failed`] otherwise.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// Checks `password` against `hash`. With `None` (unknown user, OAuth-only account)
    /// it does the same work against a dummy hash and answers `Mismatch`, so the answer
    /// takes the same time either way.
    ///
    /// # Errors
    /// [`HashError::Busy`] under overload; [`HashError::Failed`] otherwise.
    async fn verify(
        &self,
        password: &Password,
        hash: Option<PasswordHash>,
    ) -> Result<Verification, HashError>;

    /// Whether [`verify`](Self::verify) can check `hash`: one of the hasher's own, or a
    /// hash another system made in a format it knows (an import brings those), within
    /// its cost bounds. Cheap: parses, hashes nothing.
    fn accepts(&self, hash: &PasswordHash) -> bool;
}

/// Makes bearer tokens and hashes presented ones for lookup.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TokenGenerator: Send + Sync {
    /// A fresh token of 256 random bits and its hash.
    fn generate(&self) -> (BearerToken, TokenHash);

    /// The hash under which `token` would be stored.
    fn hash(&self, token: &BearerToken) -> TokenHash;

    /// A fresh recovery code of 80 random bits, in a form easy to type.
    fn recovery_code(&self) -> RecoveryCode;

    /// The hash under which `code` would be stored: of its normalised form, so case,
    /// spaces and dashes do not matter.
    fn hash_recovery_code(&self, code: &RecoveryCode) -> TokenHash;
}
