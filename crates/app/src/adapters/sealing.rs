//! Secrets at rest (provider tokens under `OAUTH_TOKEN_KEY`, TOTP secrets under
//! `MFA_SECRET_KEY`): AES-256-GCM with a fresh 96-bit nonce per seal, bound by associated
//! data to where the secret belongs, so a ciphertext copied to another row or column
//! does not open.

use super::random::os_random;
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};

/// Length of the random nonce stored in front of each ciphertext.
const NONCE_LEN: usize = 12;

/// Seals and opens secrets with one 32-byte key.
pub(super) struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    /// A sealer with a 32-byte key.
    pub(super) fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
        }
    }

    /// `nonce ‖ ciphertext ‖ tag` of `secret`, bound to `context` (the associated data:
    /// what the secret is and whose; unambiguous, versioned).
    ///
    /// # Panics
    /// When the OS random number generator fails (a repeated nonce would break GCM).
    pub(super) fn seal(&self, secret: &[u8], context: &[u8]) -> Vec<u8> {
        let nonce = os_random::<NONCE_LEN>();
        let payload = Payload {
            msg: secret,
            aad: context,
        };
        // Encryption fails only for messages over 64 GiB.
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    /// The secret in `sealed`, if this key sealed it for `context`.
    pub(super) fn open(&self, sealed: &[u8], context: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::from(<[u8; NONCE_LEN]>::try_from(nonce).ok()?);
        let payload = Payload {
            msg: ciphertext,
            aad: context,
        };
        self.cipher.decrypt(&nonce, payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"ya29.provider-access-token";
    const CONTEXT: &[u8] = b"authd-test-v1|one";

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_context() {
        let sealer = Sealer::new(&[7; 32]);
        let sealed = sealer.seal(SECRET, CONTEXT);

        assert_eq!(sealer.open(&sealed, CONTEXT).as_deref(), Some(SECRET));
        assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET));
        assert_eq!(Sealer::new(&[8; 32]).open(&sealed, CONTEXT), None);
        assert_eq!(sealer.open(&sealed, b"authd-test-v1|two"), None);
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let sealer = Sealer::new(&[7; 32]);
        let a = sealer.seal(SECRET, CONTEXT);
        let b = sealer.seal(SECRET, CONTEXT);

        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn a_tampered_ciphertext_does_not_open() {
        let sealer = Sealer::new(&[7; 32]);
        let mut sealed = sealer.seal(SECRET, CONTEXT);
        let last = sealed.len() - 1;
        sealed[last] ^= 1;

        assert_eq!(sealer.open(&sealed, CONTEXT), None);
        assert_eq!(sealer.open(&sealed[..5], CONTEXT), None);
    }
}
