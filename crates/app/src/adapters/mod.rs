//! Implementations of the ports that are not the database: argon2id hashing, random
//! tokens, signed access tokens (JWT), the system clock, rate limiting, mail delivery and the
//! OAuth/OIDC providers.
//!
//! Only the composition root picks them;
//! the domain sees the port traits alone.

mod argon2_hasher;
mod clock;
mod jwt;
mod mail;
mod oauth;
mod rate_limit;
mod tokens;

pub use argon2_hasher::Argon2PasswordHasher;
pub use clock::SystemClock;
pub use jwt::{JwtKeys, JwtKeysError, JwtSigner, KeyFileError, hs256_kid};
pub use mail::mailer;
pub use oauth::OAuthProviders;
pub use rate_limit::{MemoryRateLimiter, RedisRateLimiter};
pub use tokens::RandomTokenGenerator;
