//! The key material of the JWT adapter: Ed25519 key files read and checked, key ids
//! that name a key without revealing it, and the JWKS that publishes the public keys.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::io::Read as _;
use std::path::Path;

/// Why a key file cannot be used; the message names the variable and the path, never
/// the file's contents.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file is missing or unreadable.
    #[error("{variable}: cannot read {path}: {cause}")]
    Unreadable {
        /// The variable that named the file.
        variable: &'static str,
        /// The file.
        path: String,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// The file holds no Ed25519 key of the expected kind.
    #[error("{variable}: {path} is not {expected} in PEM form")]
    Malformed {
        /// The variable that named the file.
        variable: &'static str,
        /// The file.
        path: String,
        /// What it should have held.
        expected: &'static str,
    },
}

/// A PEM key file holds a few hundred bytes; reading stops well past that, so a wrong
/// path (a device, a huge file) cannot stall start-up or exhaust memory.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// The PEM text of `path`; a file too large or not text is no PEM of `expected`.
fn read_pem(
    variable: &'static str,
    path: &Path,
    expected: &'static str,
) -> Result<String, KeyFileError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|cause| KeyFileError::Unreadable {
            variable,
            path: path.display().to_string(),
            cause,
        })?;
    let malformed = || KeyFileError::Malformed {
        variable,
        path: path.display().to_string(),
        expected,
    };
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(malformed());
    }
    String::from_utf8(bytes).map_err(|_| malformed())
}

/// The Ed25519 private key (PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes
/// it) at `path`.
///
/// # Errors
/// [`KeyFileError`] naming `variable` when the file is unreadable or holds no such key.
pub fn read_signing_key(variable: &'static str, path: &Path) -> Result<SigningKey, KeyFileError> {
    const EXPECTED: &str = "an Ed25519 private key (PKCS#8)";
    let pem = read_pem(variable, path, EXPECTED)?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|_| KeyFileError::Malformed {
        variable,
        path: path.display().to_string(),
        expected: EXPECTED,
    })
}

/// The Ed25519 public key of the file at `path`: a private key (PKCS#8) or a public key
/// (SubjectPublicKeyInfo), so a retired key can be kept as either.
///
/// # Errors
/// [`KeyFileError`] naming `variable` when the file is unreadable or holds neither.
pub fn read_public_key(variable: &'static str, path: &Path) -> Result<VerifyingKey, KeyFileError> {
    const EXPECTED: &str = "an Ed25519 private or public key";
    let pem = read_pem(variable, path, EXPECTED)?;
    SigningKey::from_pkcs8_pem(&pem)
        .map(|key| key.verifying_key())
        .or_else(|_| VerifyingKey::from_public_key_pem(&pem))
        .map_err(|_| KeyFileError::Malformed {
            variable,
            path: path.display().to_string(),
            expected: EXPECTED,
        })
}

/// One public key of the JWKS (RFC 8037: an `OKP` key on `Ed25519`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicJwk {
    kty: &'static str,
    crv: &'static str,
    /// The public key, base64url without padding.
    x: String,
    /// Its RFC 7638 thumbprint.
    pub kid: String,
    alg: &'static str,
    #[serde(rename = "use")]
    use_: &'static str,
}

impl PublicJwk {
    /// The JWK of `key`, named by its thumbprint.
    #[must_use]
    pub fn of(key: &VerifyingKey) -> Self {
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        // RFC 7638 section 3.2: the required members only, in lexicographic order, no
        // whitespace; for an OKP key (RFC 8037 section 2) they are crv, kty and x.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self {
            kty: "OKP",
            crv: "Ed25519",
            x,
            kid,
            alg: "EdDSA",
            use_: "sig",
        }
    }
}

/// The document of `GET /.well-known/jwks.json`.
#[derive(Debug, Serialize)]
pub struct Jwks {
    /// The current key first, then the retired ones, each once.
    pub keys: Vec<PublicJwk>,
}

/// Label mixed into the HS256 key id, so the id is not a plain hash of the secret that
/// could be matched against hashes computed elsewhere.
const HS256_KID_LABEL: &[u8] = b"authd jwt kid v1\0";

/// Characters of the HS256 key id: 96 bits, plenty to tell a few secrets apart.
const HS256_KID_CHARS: usize = 16;

/// The key id of an HS256 secret: a truncated labelled SHA-256 of it. The secret is at
/// least 256 bits, so the id cannot be turned back into it; it only lets a verifier
/// holding several secrets during a rotation pick the right one.
#[must_use]
pub fn hs256_kid(secret: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(HS256_KID_LABEL);
    hash.update(secret);
    let mut kid = URL_SAFE_NO_PAD.encode(hash.finalize());
    kid.truncate(HS256_KID_CHARS);
    kid
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file too large to be a key (`/dev/zero` is the extreme case) and a binary (DER)
    /// file are reported as no PEM key, naming the variable, not read to the end.
    #[test]
    fn a_file_that_is_no_pem_text_is_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let large = dir.path().join("large.pem");
        std::fs::write(&large, vec![b'A'; 64 * 1024]).unwrap();
        let der = dir.path().join("key.der");
        std::fs::write(&der, [0x30, 0x2e, 0x02, 0x01, 0x00, 0xff, 0xfe]).unwrap();
        for path in [large.as_path(), der.as_path(), Path::new("/dev/zero")] {
            let err = read_signing_key("JWT_PRIVATE_KEY_FILE", path).unwrap_err();
            assert!(
                matches!(err, KeyFileError::Malformed { .. }),
                "{path:?}: {err}"
            );
            assert!(
                err.to_string().starts_with("JWT_PRIVATE_KEY_FILE: "),
                "{err}"
            );
        }
    }

    /// RFC 8037 appendix A.3: the thumbprint of the RFC's example Ed25519 key.
    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let key = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        assert_eq!(
            PublicJwk::of(&key).kid,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn the_hs256_kid_is_short_stable_and_not_the_plain_hash() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let plain = URL_SAFE_NO_PAD.encode(Sha256::digest(secret));
        assert_eq!(hs256_kid(secret), hs256_kid(secret));
        assert_eq!(hs256_kid(secret).len(), HS256_KID_CHARS);
        assert!(!plain.starts_with(&hs256_kid(secret)));
        assert_ne!(
            hs256_kid(secret),
            hs256_kid(b"another secret of 32 bytes or so")
        );
    }
}
