//! Why a token was refused or could not be checked; the extractor maps these to 401 or 503.

/// The outcome of a failed [`Verifier::verify`](crate::verifier::Verifier::verify).
///
/// Every variant but [`VerifyError::KeysUnavailable`] means the token is not valid; the
/// messages name the reason but never echo the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not three base64url parts with a JSON header, or the claims are not authd's shape.
    #[error("the token is malformed")]
    Malformed,
    /// The header names another algorithm than the one this verifier pins (`none`,
    /// HS256 against a JWKS, EdDSA against a shared secret).
    #[error("the token's algorithm is not accepted")]
    AlgorithmNotAllowed,
    /// The header has no `kid`, or authd does not publish a key with that `kid`.
    #[error("the token's signing key is unknown")]
    UnknownKey,
    /// The signature does not match the key.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `iss` is not the expected authd URL.
    #[error("the token was issued by someone else")]
    WrongIssuer,
    /// A required claim (`sub`, `sid`, `roles`, `iat`, `exp`, `iss`) is missing or of the wrong type.
    #[error("the token's claims are invalid")]
    InvalidClaims,
    /// The JWKS could not be fetched, so the token could not be checked at all.
    #[error("authd's signing keys are unavailable")]
    KeysUnavailable,
}

/// Why a [`Verifier`](crate::verifier::Verifier) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The JWKS URL does not parse or is not http(s).
    #[error("the JWKS URL is invalid: {0}")]
    InvalidUrl(String),
    /// The HS256 secret is empty.
    #[error("the HS256 secret is empty")]
    EmptySecret,
    /// The expected issuer is empty.
    #[error("the expected issuer is empty")]
    EmptyIssuer,
    /// The HTTP client could not be built (TLS set-up).
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(String),
}
