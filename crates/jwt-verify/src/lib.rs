//! Verifies authd's short access JWTs (SPEC §4.4) in downstream services: a [`Verifier`]
//! pinned to EdDSA with a cached JWKS (or HS256 with a shared secret) and, with the
//! `axum` feature, the [`AuthdClaims`] extractor. Depends on no other authd crate.

mod claims;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod jwks;
mod verifier;

pub use claims::Claims;
pub use error::{ConfigError, VerifyError};
#[cfg(feature = "axum")]
pub use extract::{AuthdClaims, AuthdRejection};
pub use jwks::JwksOptions;
pub use verifier::{DEFAULT_LEEWAY, Verifier};
