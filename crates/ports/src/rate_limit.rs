//! The rate-limiter port: counts attempts per key in a window.

use std::time::Duration;

/// A limit: at most `max` attempts per `window` for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Attempts allowed per window.
    pub max: u32,
    /// The window.
    pub window: Duration,
}

/// The answer for one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Go ahead; the attempt was counted.
    Allowed,
    /// Too many: try again after this long.
    Limited {
        /// How long until an attempt would be allowed.
        retry_after: Duration,
    },
}

/// Counts an attempt against `limit` for `key` (e.g. `login:ip:192.0.2.1`) and decides.
/// Never fails: a limiter whose backing store is down falls back to counting locally.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one attempt.
    async fn check(&self, key: &str, limit: RateLimit) -> RateDecision;
}
