//! The access-token port: short-lived signed tokens (JWTs) that other services verify
//! on their own (SPEC 4.4). The domain decides what a token says; the adapter signs it.

use crate::{SessionId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

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

/// A signed access token in compact form. `Debug` is redacted; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a compact token.
    #[must_use]
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The token, for the response body only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        assert!(!format!("{:?}", AccessToken::new("eyJabc.def.ghi".into())).contains("eyJ"));
    }
}
