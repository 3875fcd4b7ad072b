//! The lookup key of a bearer or one-time token: its SHA-256. The token itself is never
//! stored.

use std::fmt;

/// SHA-256 of a session or one-time token. `Debug` shows only a prefix, so a log line
/// can tell hashes apart without holding enough to look one up.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

#[cfg(test)]
mod tests {
    use super::TokenHash;

    #[test]
    fn token_hash_debug_shows_only_a_prefix() {
        let shown = format!("{:?}", TokenHash([0xab; 32]));
        assert_eq!(shown, "TokenHash(abab…)");
    }
}
