//! Provider tokens at rest: AES-256-GCM under `OAUTH_TOKEN_KEY`, each with a fresh 96-bit
//! nonce, bound to the account and the token's role so a ciphertext copied to another row
//! or column does not open.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};

/// Length of the random nonce stored in front of each ciphertext.
const NONCE_LEN: usize = 12;

/// Which token of an account a ciphertext holds (part of the associated data).
#[derive(Debug, Clone, Copy)]
pub(super) enum TokenRole {
    Access,
    Refresh,
}

/// Seals provider tokens with the configured key.
pub(super) struct TokenSealer {
    cipher: Aes256Gcm,
}

impl TokenSealer {
    /// A sealer with a 32-byte key.
    pub(super) fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
        }
    }

    /// `nonce ‖ ciphertext ‖ tag` of `token` for the account (`provider`, `subject`).
    ///
    /// # Panics
    /// When the OS random number generator fails (a repeated nonce would break GCM).
    pub(super) fn seal(
        &self,
        token: &str,
        provider: &str,
        subject: &str,
        role: TokenRole,
    ) -> Vec<u8> {
        let nonce = random_nonce();
        let aad = associated_data(provider, subject, role);
        let payload = Payload {
            msg: token.as_bytes(),
            aad: &aad,
        };
        // Encryption fails only for messages over 64 GiB.
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    /// The token in `sealed`, if this key sealed it for this account and role.
    #[cfg(test)]
    pub(super) fn open(
        &self,
        sealed: &[u8],
        provider: &str,
        subject: &str,
        role: TokenRole,
    ) -> Option<String> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::from(<[u8; NONCE_LEN]>::try_from(nonce).ok()?);
        let aad = associated_data(provider, subject, role);
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        let plain = self.cipher.decrypt(&nonce, payload).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// The context a ciphertext is bound to. Unambiguous: provider names cannot hold `|`, and
/// the subject, which can, comes last.
fn associated_data(provider: &str, subject: &str, role: TokenRole) -> Vec<u8> {
    let role = match role {
        TokenRole::Access => "access",
        TokenRole::Refresh => "refresh",
    };
    format!("authd-oauth-token-v1|{role}|{provider}|{subject}").into_bytes()
}

#[expect(
    clippy::panic,
    reason = "a nonce that is not random could repeat, and a repeated GCM nonce leaks the key stream"
)]
fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    if let Err(e) = getrandom::fill(&mut nonce) {
        panic!("the OS random number generator failed: {e}");
    }
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "ya29.provider-access-token";

    #[test]
    fn a_sealed_token_opens_only_with_its_key_account_and_role() {
        let sealer = TokenSealer::new(&[7; 32]);
        let sealed = sealer.seal(TOKEN, "google", "sub-1", TokenRole::Access);

        assert_eq!(
            sealer.open(&sealed, "google", "sub-1", TokenRole::Access),
            Some(TOKEN.to_owned())
        );
        assert!(!sealed.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
        let other_key = TokenSealer::new(&[8; 32]);
        assert_eq!(
            other_key.open(&sealed, "google", "sub-1", TokenRole::Access),
            None
        );
        assert_eq!(
            sealer.open(&sealed, "google", "sub-2", TokenRole::Access),
            None
        );
        assert_eq!(
            sealer.open(&sealed, "gitlab", "sub-1", TokenRole::Access),
            None
        );
        assert_eq!(
            sealer.open(&sealed, "google", "sub-1", TokenRole::Refresh),
            None
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let sealer = TokenSealer::new(&[7; 32]);
        let a = sealer.seal(TOKEN, "google", "sub-1", TokenRole::Access);
        let b = sealer.seal(TOKEN, "google", "sub-1", TokenRole::Access);

        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn a_tampered_ciphertext_does_not_open() {
        let sealer = TokenSealer::new(&[7; 32]);
        let mut sealed = sealer.seal(TOKEN, "google", "sub-1", TokenRole::Access);
        let last = sealed.len() - 1;
        sealed[last] ^= 1;

        assert_eq!(
            sealer.open(&sealed, "google", "sub-1", TokenRole::Access),
            None
        );
        assert_eq!(
            sealer.open(&sealed[..5], "google", "sub-1", TokenRole::Access),
            None
        );
    }
}
