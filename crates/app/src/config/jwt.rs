//! The JWTs authd issues to other services (SPEC 4.4): which key signs them, which old
//! public keys are still published for rotation, and how long a token lives. Key files
//! are only named here; the composition root reads them, so parsing stays pure.

use super::secret::Secret;
use super::vars::Vars;
use std::path::PathBuf;
use std::time::Duration;

/// JWTs for other services (SPEC 4.4).
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The signing key; `None`: `POST /v1/auth/token` answers 501 `not_configured`.
    pub key: Option<JwtKey>,
    /// Lifetime of an issued token (`JWT_TTL_SECS`).
    pub ttl: Duration,
}

/// Where the JWT signing key comes from; at most one of the two variables may be set.
#[derive(Debug, Clone)]
pub enum JwtKey {
    /// `JWT_SECRET`: HS256 with this shared secret (its UTF-8 bytes, at least 32).
    Hs256(Secret<Vec<u8>>),
    /// `JWT_PRIVATE_KEY_FILE`: EdDSA with the Ed25519 PEM key at `key_file`, its public
    /// key published in the JWKS.
    Ed25519 {
        /// The PKCS#8 PEM private key that signs.
        key_file: PathBuf,
        /// `JWT_PREVIOUS_KEY_FILES`: retired keys (private or public PEM) whose public
        /// keys stay in the JWKS until the tokens they signed have expired; never used
        /// to sign.
        previous_key_files: Vec<PathBuf>,
    },
}

/// `JWT_SECRET` or `JWT_PRIVATE_KEY_FILE` (with `JWT_PREVIOUS_KEY_FILES`), and
/// `JWT_TTL_SECS`.
pub(super) fn jwt<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> JwtConfig {
    JwtConfig {
        key: jwt_key(vars),
        ttl: vars.secs("JWT_TTL_SECS", 300),
    }
}

/// `JWT_SECRET` or `JWT_PRIVATE_KEY_FILE`, at most one of them.
fn jwt_key<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> Option<JwtKey> {
    let secret = vars.raw("JWT_SECRET");
    let key_file = vars.get("JWT_PRIVATE_KEY_FILE");
    let previous_key_files = previous_key_files(vars);
    if !previous_key_files.is_empty() && key_file.is_none() {
        // An HMAC secret has no public key to publish, and without a current key there
        // is no JWKS at all: the list would silently do nothing.
        vars.report(
            "JWT_PREVIOUS_KEY_FILES",
            "needs JWT_PRIVATE_KEY_FILE (EdDSA); HS256 has no public keys to publish",
        );
    }
    match (secret, key_file) {
        (Some(_), Some(_)) => {
            vars.report(
                "JWT_SECRET",
                "set together with JWT_PRIVATE_KEY_FILE; set only one (HS256 or EdDSA)",
            );
            None
        }
        // RFC 7518 section 3.2: an HS256 key must be at least as long as the hash, 256 bits.
        (Some(secret), None) if secret.len() < 32 => {
            vars.report(
                "JWT_SECRET",
                format!("must be at least 32 bytes, got {}", secret.len()),
            );
            None
        }
        (Some(secret), None) => Some(JwtKey::Hs256(Secret::new(secret.into_bytes()))),
        (None, Some(path)) => Some(JwtKey::Ed25519 {
            key_file: PathBuf::from(path),
            previous_key_files,
        }),
        (None, None) => None,
    }
}

/// `JWT_PREVIOUS_KEY_FILES`: comma-separated paths, blanks ignored.
fn previous_key_files<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Vec<PathBuf> {
    vars.get("JWT_PREVIOUS_KEY_FILES")
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|path| !path.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
}
