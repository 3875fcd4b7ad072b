//! Secrets that cross the boundary: a plaintext password on its way to the hasher, and a
//! bearer token on its way to the client. Neither can be printed by accident.

use std::fmt;

/// A plaintext password as the user typed it. `Debug` is redacted; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps what the user sent.
    #[must_use]
    pub fn new(plaintext: String) -> Self {
        Self(plaintext)
    }

    /// The plaintext, for the hasher and the password policy only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A bearer token (256 random bits, base64url) handed to the client once. Only its
/// hash is stored. `Debug` is redacted; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps a token string (freshly generated, or as presented by a client).
    #[must_use]
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The token, for the response body and the hash function only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        assert!(!format!("{:?}", Password::new("hunter2hunter2".into())).contains("hunter2"));
        assert!(!format!("{:?}", BearerToken::new("abcdef".into())).contains("abcdef"));
    }
}
