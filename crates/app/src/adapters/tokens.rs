//! Bearer tokens behind the `TokenGenerator` port: 256 bits from the OS RNG, base64url
//! without padding, stored only as their SHA-256.

use auth_ports::{BearerToken, TokenGenerator, TokenHash};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// Makes session and one-time tokens: 32 bytes from the OS RNG as 43 base64url characters.
///
/// A token is high-entropy, so a plain SHA-256 (no salt, no stretching) is a safe lookup key.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomTokenGenerator;

impl RandomTokenGenerator {
    /// The generator (it holds no state).
    #[must_use]
    pub const fn new() -> Self {
        Self
    }
}

impl TokenGenerator for RandomTokenGenerator {
    /// # Panics
    /// When the OS random number generator fails, which a working kernel never does: a
    /// token that is not random would be worse than a failed request.
    fn generate(&self) -> (BearerToken, TokenHash) {
        let token = BearerToken::new(URL_SAFE_NO_PAD.encode(os_random_bytes()));
        let hash = self.hash(&token);
        (token, hash)
    }

    fn hash(&self, token: &BearerToken) -> TokenHash {
        TokenHash(Sha256::digest(token.expose().as_bytes()).into())
    }
}

#[expect(
    clippy::panic,
    reason = "the port cannot report an RNG failure, and a predictable token must never be issued"
)]
fn os_random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut bytes) {
        panic!("the OS random number generator failed: {e}");
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters() {
        let (token, _) = RandomTokenGenerator.generate();
        let token = token.expose();
        assert_eq!(token.len(), 43);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{token}"
        );
    }

    #[test]
    fn two_tokens_differ() {
        let (a, ha) = RandomTokenGenerator.generate();
        let (b, hb) = RandomTokenGenerator.generate();
        assert_ne!(a, b);
        assert_ne!(ha, hb);
    }

    #[test]
    fn hash_is_deterministic_and_matches_generate() {
        let generator = RandomTokenGenerator::new();
        let (token, hash) = generator.generate();
        assert_eq!(generator.hash(&token), hash);
        assert_eq!(
            generator.hash(&BearerToken::new(token.expose().to_owned())),
            hash
        );
    }

    #[test]
    fn hash_is_sha256_of_the_token_string() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        let hash = RandomTokenGenerator.hash(&BearerToken::new("abc".into()));
        assert_eq!(hash.0[..4], [0xba, 0x78, 0x16, 0xbf]);
        assert_eq!(hash.0[28..], [0xf2, 0x00, 0x15, 0xad]);
    }
}
