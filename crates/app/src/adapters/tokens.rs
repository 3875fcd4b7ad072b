//! Bearer tokens behind the `TokenGenerator` port: 256 bits from the OS RNG, base64url
//! without padding, stored only as their SHA-256; and recovery codes: 80 bits in
//! lowercase base32, grouped by four.

use auth_ports::{BearerToken, RecoveryCode, TokenGenerator, TokenHash};
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

    /// # Panics
    /// As [`generate`](Self::generate).
    fn recovery_code(&self) -> RecoveryCode {
        let bits = os_random_bytes();
        // 80 bits are sixteen base32 digits of five bits each.
        let bits = bits[..10]
            .iter()
            .fold(0u128, |acc, &byte| (acc << 8) | u128::from(byte));
        let digits: Vec<char> = (0..16)
            .rev()
            .map(|i| BASE32[((bits >> (i * 5)) & 0x1f) as usize] as char)
            .collect();
        let groups: Vec<String> = digits.chunks(4).map(|g| g.iter().collect()).collect();
        RecoveryCode::new(groups.join("-"))
    }

    fn hash_recovery_code(&self, code: &RecoveryCode) -> TokenHash {
        let normalised: String = code
            .expose()
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        TokenHash(Sha256::digest(normalised.as_bytes()).into())
    }
}

/// The RFC 4648 base32 alphabet in lower case: no 0/1/8/9, which read like letters.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

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
    fn recovery_codes_are_four_groups_of_four_base32_digits() {
        let code = RandomTokenGenerator.recovery_code();
        let groups: Vec<&str> = code.expose().split('-').collect();
        assert_eq!(groups.len(), 4, "{}", code.expose());
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 4 && g.bytes().all(|b| BASE32.contains(&b)))
        );
        assert_ne!(code, RandomTokenGenerator.recovery_code());
    }

    #[test]
    fn a_recovery_code_hashes_alike_in_any_case_and_spacing() {
        let code = RandomTokenGenerator.recovery_code();
        let typed = code.expose().to_uppercase().replace('-', " ");
        let hash = RandomTokenGenerator.hash_recovery_code(&code);
        assert_eq!(
            RandomTokenGenerator.hash_recovery_code(&RecoveryCode::new(typed)),
            hash
        );
        let other = RandomTokenGenerator.hash_recovery_code(&RecoveryCode::new("x".into()));
        assert_ne!(other, hash);
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
