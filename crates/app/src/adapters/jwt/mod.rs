//! Access tokens as JWTs behind the `AccessTokenSigner` port: HS256 with `JWT_SECRET`
//! or EdDSA with the Ed25519 key of `JWT_PRIVATE_KEY_FILE`, and the JWKS that publishes
//! the current and the retired Ed25519 public keys (SPEC 4.4).

mod keys;
mod signer;

pub use keys::{KeyFileError, hs256_kid};
pub use signer::{JwtKeys, JwtKeysError, JwtSigner};
