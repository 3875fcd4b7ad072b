//! Rate-limiter adapters: in-process counting, and Redis-shared counting that falls back
//! to it while Redis is unreachable.

mod memory;
mod redis;

pub use self::memory::MemoryRateLimiter;
pub use self::redis::{FallbackMetrics, RedisRateLimiter};
