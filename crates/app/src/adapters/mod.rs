//! Implementations of the ports that are not the database: argon2id hashing (and the
//! checking of hashes imported from other systems), random
//! tokens, signed access tokens (JWT), the system clock, rate limiting, mail delivery, the
//! OAuth/OIDC providers and second factors (TOTP, passkeys); and the decorators that
//! count what the database's repositories report.
//!
//! Only the composition root picks them;
//! the domain sees the port traits alone.

mod argon2_hasher;
mod clock;
mod counting;
mod foreign_hashes;
mod jwt;
mod mail;
mod mfa;
mod oauth;
mod random;
mod rate_limit;
mod sealing;
mod tokens;

pub use argon2_hasher::{Argon2PasswordHasher, HashQueueMetrics, Refusal};
pub use clock::SystemClock;
pub use counting::{AuthCounters, CountingSessionRepository, CountingUserRepository, Lockout};
pub use jwt::{JwtKeys, JwtKeysError, JwtSigner, KeyFileError, hs256_kid};
pub use mail::{MailCounters, MailDelivery, RunningDelivery};
pub use mfa::{SealedTotpAuthenticator, SecondFactorAdapters, WebauthnPasskeyAuthenticator};
pub use oauth::OAuthProviders;
pub use rate_limit::{FallbackMetrics, MemoryRateLimiter, RedisRateLimiter};
pub use tokens::RandomTokenGenerator;
