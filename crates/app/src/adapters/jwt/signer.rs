//! [`JwtSigner`], the `AccessTokenSigner` over jsonwebtoken, and [`JwtKeys`]: the signer
//! and the JWKS built once at start-up from the configured key files.

use super::keys::{Jwks, KeyFileError, PublicJwk, hs256_kid, read_public_key, read_signing_key};
use crate::config::{JwtConfig, JwtKey};
use auth_ports::{AccessClaims, AccessToken, AccessTokenSigner, SignError};
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::sync::Arc;

/// Signs access tokens with one key; every header names it by `kid`.
pub struct JwtSigner {
    key: EncodingKey,
    header: Header,
}

impl JwtSigner {
    /// HS256 with a shared secret.
    ///
    /// # Errors
    /// When the secret is empty (the configuration demands 32 bytes).
    pub fn hs256(secret: &[u8]) -> Result<Self, SignError> {
        let key = EncodingKey::from_secret(secret).map_err(|err| SignError(err.to_string()))?;
        Ok(Self::new(key, Algorithm::HS256, hs256_kid(secret)))
    }

    /// EdDSA with an Ed25519 key, named by the thumbprint of its public key.
    ///
    /// # Errors
    /// When the key cannot be encoded for jsonwebtoken (never for a valid key).
    pub fn ed25519(key: &ed25519_dalek::SigningKey) -> Result<Self, SignError> {
        let kid = PublicJwk::of(&key.verifying_key()).kid;
        let der = key
            .to_pkcs8_der()
            .map_err(|err| SignError(err.to_string()))?;
        let key = EncodingKey::from_ed_der(der.as_bytes());
        Ok(Self::new(key, Algorithm::EdDSA, kid))
    }

    fn new(key: EncodingKey, algorithm: Algorithm, kid: String) -> Self {
        let mut header = Header::new(algorithm);
        header.kid = Some(kid);
        Self { key, header }
    }
}

impl AccessTokenSigner for JwtSigner {
    fn sign(&self, claims: &AccessClaims) -> Result<AccessToken, SignError> {
        jsonwebtoken::encode(&self.header, claims, &self.key)
            .map(AccessToken::new)
            .map_err(|err| SignError(err.to_string()))
    }
}

/// What the JWT configuration gives the server.
pub struct JwtKeys {
    /// Signs the tokens of `POST /v1/auth/token`; `None` without a key.
    pub signer: Option<Arc<dyn AccessTokenSigner>>,
    /// The JSON of `GET /.well-known/jwks.json`; `None` without an Ed25519 key.
    pub jwks: Option<String>,
}

/// Why the JWT keys cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum JwtKeysError {
    /// A key file is missing, unreadable or malformed.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// A key was read but cannot sign.
    #[error("{variable}: the key cannot sign: {cause}")]
    Unusable {
        /// The variable that gave the key.
        variable: &'static str,
        /// Why not.
        cause: SignError,
    },
}

impl JwtKeys {
    /// Reads the key files of `config` and builds the signer and the JWKS: the current
    /// key first, then each retired key once (they are published, never used to sign).
    ///
    /// # Errors
    /// [`JwtKeysError`] naming the variable whose file is missing, unreadable or not an
    /// Ed25519 key.
    pub fn load(config: &JwtConfig) -> Result<Self, JwtKeysError> {
        match &config.key {
            None => Ok(Self {
                signer: None,
                jwks: None,
            }),
            Some(JwtKey::Hs256(secret)) => {
                let signer =
                    JwtSigner::hs256(secret.expose()).map_err(|cause| JwtKeysError::Unusable {
                        variable: "JWT_SECRET",
                        cause,
                    })?;
                Ok(Self {
                    signer: Some(Arc::new(signer)),
                    jwks: None,
                })
            }
            Some(JwtKey::Ed25519 {
                key_file,
                previous_key_files,
            }) => {
                let key = read_signing_key("JWT_PRIVATE_KEY_FILE", key_file)?;
                let mut keys = vec![PublicJwk::of(&key.verifying_key())];
                for path in previous_key_files {
                    let jwk = PublicJwk::of(&read_public_key("JWT_PREVIOUS_KEY_FILES", path)?);
                    if !keys.iter().any(|k| k.kid == jwk.kid) {
                        keys.push(jwk);
                    }
                }
                let signer = JwtSigner::ed25519(&key).map_err(|cause| JwtKeysError::Unusable {
                    variable: "JWT_PRIVATE_KEY_FILE",
                    cause,
                })?;
                let jwks = serde_json::to_string(&Jwks { keys }).map_err(|err| {
                    JwtKeysError::Unusable {
                        variable: "JWT_PRIVATE_KEY_FILE",
                        cause: SignError(err.to_string()),
                    }
                })?;
                Ok(Self {
                    signer: Some(Arc::new(signer)),
                    jwks: Some(jwks),
                })
            }
        }
    }
}
