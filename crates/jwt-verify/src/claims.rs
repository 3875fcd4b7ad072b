//! The claims authd puts in its access JWTs (SPEC §4.4), typed.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A verified authd access token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// The authd session the token was issued for.
    pub sid: Uuid,
    /// The user's role names when the token was issued.
    pub roles: Vec<String>,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Expires at, unix seconds.
    pub exp: u64,
    /// The authd public URL that issued the token.
    pub iss: String,
}

impl Claims {
    /// Whether the user held the role `name` when the token was issued.
    #[must_use]
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|role| role == name)
    }
}
