//! The `Verifier`: pins the algorithm, finds the key, checks signature, `iss` and `exp`,
//! and returns typed claims.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::claims::Claims;
use crate::error::{ConfigError, VerifyError};
use crate::jwks::{JwksCache, JwksOptions};

/// The default `exp` leeway. NTP keeps hosts well within a second of each other, so 5 s
/// absorbs clock skew between authd and a service while adding little to a 300 s token.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);

/// Verifies authd access tokens against a JWKS (EdDSA) or a shared secret (HS256).
///
/// Build one per process and share it (`Arc<Verifier>`): the JWKS cache lives inside.
pub struct Verifier {
    keys: Keys,
    issuer: String,
    validation: Validation,
}

enum Keys {
    Jwks(Box<JwksCache>),
    Hs256(DecodingKey),
}

impl Keys {
    /// The one algorithm this verifier accepts; the token's header does not get a say.
    fn algorithm(&self) -> Algorithm {
        match self {
            Self::Jwks(_) => Algorithm::EdDSA,
            Self::Hs256(_) => Algorithm::HS256,
        }
    }

    /// [`Keys::algorithm`] as the header spells it.
    fn algorithm_name(&self) -> &'static str {
        match self {
            Self::Jwks(_) => "EdDSA",
            Self::Hs256(_) => "HS256",
        }
    }
}

impl Verifier {
    /// A verifier for EdDSA tokens whose keys authd publishes at `jwks_url`
    /// (`<AUTHD_PUBLIC_URL>/.well-known/jwks.json`); `issuer` is authd's public URL.
    /// Nothing is fetched until the first token arrives.
    ///
    /// # Errors
    /// [`ConfigError::InvalidUrl`] when `jwks_url` is not an http(s) URL,
    /// [`ConfigError::HttpClient`] when TLS cannot be set up, [`ConfigError::EmptyIssuer`]
    /// when `issuer` is empty.
    pub fn jwks(jwks_url: &str, issuer: &str) -> Result<Self, ConfigError> {
        Self::jwks_with(jwks_url, issuer, JwksOptions::default())
    }

    /// [`Verifier::jwks`] with non-default cache and fetch settings.
    ///
    /// # Errors
    /// As [`Verifier::jwks`].
    pub fn jwks_with(
        jwks_url: &str,
        issuer: &str,
        options: JwksOptions,
    ) -> Result<Self, ConfigError> {
        Self::new(
            Keys::Jwks(Box::new(JwksCache::new(jwks_url, options)?)),
            issuer,
        )
    }

    /// A verifier for HS256 tokens signed with authd's `JWT_SECRET`; `issuer` is authd's
    /// public URL. Anyone holding the secret can mint tokens, so prefer EdDSA + JWKS.
    ///
    /// # Errors
    /// [`ConfigError::EmptySecret`] when `secret` is empty, [`ConfigError::EmptyIssuer`]
    /// when `issuer` is.
    pub fn hs256(secret: &[u8], issuer: &str) -> Result<Self, ConfigError> {
        // jsonwebtoken refuses an empty secret and nothing else.
        let key = DecodingKey::from_secret(secret).map_err(|_| ConfigError::EmptySecret)?;
        Self::new(Keys::Hs256(key), issuer)
    }

    fn new(keys: Keys, issuer: &str) -> Result<Self, ConfigError> {
        // An empty expected issuer would accept tokens that name none.
        if issuer.is_empty() {
            return Err(ConfigError::EmptyIssuer);
        }
        let mut validation = Validation::new(keys.algorithm());
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        // authd's tokens carry no `aud`; a service tells them apart by `iss`.
        validation.validate_aud = false;
        validation.leeway = DEFAULT_LEEWAY.as_secs();
        Ok(Self {
            keys,
            issuer: issuer.to_owned(),
            validation,
        })
    }

    /// Replaces the `exp` leeway ([`DEFAULT_LEEWAY`]); whole seconds count.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.validation.leeway = leeway.as_secs();
        self
    }

    /// The issuer tokens must name.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Checks `token` and returns its claims.
    ///
    /// # Errors
    /// [`VerifyError::KeysUnavailable`] when the JWKS cannot be fetched; any other
    /// variant when the token is not a valid, unexpired authd token for this issuer.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let header = read_header(token)?;
        // Before any key is looked at: `none` and HS256-signed-with-the-public-key
        // (algorithm confusion) end here.
        if header.alg != self.keys.algorithm_name() {
            return Err(VerifyError::AlgorithmNotAllowed);
        }
        let jwks_key;
        let key = match &self.keys {
            Keys::Hs256(key) => key,
            Keys::Jwks(cache) => {
                let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
                jwks_key = cache.key_for(&kid).await?;
                &jwks_key
            }
        };
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| refusal(error.kind()))
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("Verifier")
            .field("algorithm", &self.keys.algorithm())
            .field("issuer", &self.issuer)
            .field("leeway_secs", &self.validation.leeway)
            .finish_non_exhaustive()
    }
}

/// The header fields the pinning needs, read as plain strings so that any `alg`
/// (including `none`, which jsonwebtoken cannot even parse) gets the same refusal.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

fn read_header(token: &str) -> Result<RawHeader, VerifyError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| VerifyError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| VerifyError::Malformed)
}

fn refusal(kind: &ErrorKind) -> VerifyError {
    match kind {
        ErrorKind::ExpiredSignature => VerifyError::Expired,
        ErrorKind::InvalidIssuer => VerifyError::WrongIssuer,
        ErrorKind::InvalidSignature => VerifyError::BadSignature,
        ErrorKind::InvalidAlgorithm => VerifyError::AlgorithmNotAllowed,
        ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::Json(_) => VerifyError::InvalidClaims,
        _ => VerifyError::Malformed,
    }
}
