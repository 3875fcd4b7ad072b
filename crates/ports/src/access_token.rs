//! The access-token port: short-lived signed tokens (JWTs) that other services verify
//! on their own (SPEC 4.4). The domain decides what a token says; the adapter signs it.

use crate::{AccessToken, SessionId, UserId};
use serde::{Deserialize, Serialize};

/// What an access token asserts about its holder. Times are seconds since the Unix epoch,
/// as RFC 7519 wants them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user.
    pub sub: UserId,
    /// The session the token was issued for.
    pub sid: SessionId,
    /// Names of the user's roles when the token was issued.
    pub roles: Vec<String>,
    /// Issued at.
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
    /// The issuer: authd's public URL.
    pub iss: String,
}

/// Signing failed: a broken key or library, never the caller's fault.
#[derive(Debug, thiserror::Error)]
#[error("signing the access token failed: {0}")]
pub struct SignError(pub String);

/// Signs access tokens with the configured key (EdDSA or HS256 in production).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait AccessTokenSigner: Send + Sync {
    /// `claims` as a compact signed token whose header names the key (`kid`).
    ///
    /// # Errors
    /// [`SignError`] when the key cannot sign.
    fn sign(&self, claims: &AccessClaims) -> Result<AccessToken, SignError>;
}
