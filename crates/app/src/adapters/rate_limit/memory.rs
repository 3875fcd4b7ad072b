//! In-process rate limiting: a sliding-window log per key and limit, for a single
//! instance or as the fallback while Redis is unreachable.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use auth_ports::{RateDecision, RateLimit, RateLimiter};
// tokio's Instant is std's unless a test pauses time, which lets tests skip windows.
use tokio::time::Instant;

/// How often, at the latest, buckets whose window has passed are dropped.
const SWEEP_PERIOD: Duration = Duration::from_secs(10);
/// Below this many buckets only the periodic sweep runs.
const MIN_SWEEP_LEN: usize = 1024;

/// A key counted under one limit: the same key under two limits is two buckets.
type Bucket = (String, u32, Duration);

/// Counts attempts per key in this process.
///
/// "At most `max` in any `window`": each
/// allowed attempt is remembered until it leaves the window; refused attempts are not
/// remembered, so a client that keeps retrying is let in as soon as the window allows.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    state: Mutex<State>,
    sweep_period: Duration,
}

#[derive(Debug)]
struct State {
    /// Times of the allowed attempts still inside their window, oldest first.
    logs: HashMap<Bucket, VecDeque<Instant>>,
    last_sweep: Instant,
    /// Sweep as soon as the map reaches this size (twice the size left by the last
    /// sweep), so a flood of new keys costs amortised O(1) per call.
    sweep_at_len: usize,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRateLimiter {
    /// An empty limiter.
    #[must_use]
    pub fn new() -> Self {
        Self::with_sweep_period(SWEEP_PERIOD)
    }

    fn with_sweep_period(sweep_period: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                logs: HashMap::new(),
                last_sweep: Instant::now(),
                sweep_at_len: MIN_SWEEP_LEN,
            }),
            sweep_period,
        }
    }

    /// How many (key, limit) buckets are held now; expired ones linger until the next
    /// sweep (at most a few seconds, or until the map doubles).
    #[must_use]
    pub fn tracked_keys(&self) -> usize {
        self.lock().logs.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a log half-updated in a way that
        // matters: at worst one attempt is miscounted.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one attempt at `now`.
    fn decide(&self, key: &str, limit: RateLimit, now: Instant) -> RateDecision {
        let mut state = self.lock();
        let decision = if limit.max == 0 {
            RateDecision::Limited {
                retry_after: limit.window,
            }
        } else {
            let log = state
                .logs
                .entry((key.to_owned(), limit.max, limit.window))
                .or_default();
            forget_expired(log, now, limit.window);
            match log.front() {
                Some(&oldest) if log.len() >= usize::try_from(limit.max).unwrap_or(usize::MAX) => {
                    RateDecision::Limited {
                        retry_after: limit.window.saturating_sub(now.duration_since(oldest)),
                    }
                }
                _ => {
                    log.push_back(now);
                    RateDecision::Allowed
                }
            }
        };
        if state.logs.len() >= state.sweep_at_len
            || now.duration_since(state.last_sweep) >= self.sweep_period
        {
            state.logs.retain(|(_, _, window), log| {
                forget_expired(log, now, *window);
                !log.is_empty()
            });
            state.last_sweep = now;
            state.sweep_at_len = (2 * state.logs.len()).max(MIN_SWEEP_LEN);
        }
        decision
    }
}

fn forget_expired(log: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while log
        .front()
        .is_some_and(|&at| now.duration_since(at) >= window)
    {
        log.pop_front();
    }
}

#[async_trait::async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, key: &str, limit: RateLimit) -> RateDecision {
        self.decide(key, limit, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: RateLimit = RateLimit {
        max: 3,
        window: Duration::from_secs(60),
    };

    fn limited(decision: RateDecision) -> Duration {
        match decision {
            RateDecision::Limited { retry_after } => retry_after,
            RateDecision::Allowed => panic!("expected Limited"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn allows_max_then_limits_until_the_oldest_attempt_leaves() {
        let limiter = MemoryRateLimiter::new();
        assert_eq!(limiter.check("k", MINUTE).await, RateDecision::Allowed);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(limiter.check("k", MINUTE).await, RateDecision::Allowed);
        assert_eq!(limiter.check("k", MINUTE).await, RateDecision::Allowed);
        tokio::time::advance(Duration::from_secs(5)).await;
        // The first attempt was 15 s ago: it leaves the window in 45 s.
        assert_eq!(
            limited(limiter.check("k", MINUTE).await),
            Duration::from_secs(45)
        );
        tokio::time::advance(Duration::from_secs(45)).await;
        assert_eq!(limiter.check("k", MINUTE).await, RateDecision::Allowed);
        // Only one slot freed: the next two attempts are still inside the window.
        assert_eq!(
            limited(limiter.check("k", MINUTE).await),
            Duration::from_secs(10)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_window_everything_is_allowed_again() {
        let limiter = MemoryRateLimiter::new();
        let limit = RateLimit {
            max: 2,
            window: Duration::from_millis(200),
        };
        for _ in 0..2 {
            assert_eq!(limiter.check("k", limit).await, RateDecision::Allowed);
        }
        let retry_after = limited(limiter.check("k", limit).await);
        assert!(retry_after > Duration::ZERO && retry_after <= limit.window);
        tokio::time::sleep(retry_after).await;
        for _ in 0..2 {
            assert_eq!(limiter.check("k", limit).await, RateDecision::Allowed);
        }
    }

    #[tokio::test]
    async fn keys_and_limits_are_independent() {
        let limiter = MemoryRateLimiter::new();
        let one = RateLimit {
            max: 1,
            window: Duration::from_secs(60),
        };
        assert_eq!(limiter.check("a", one).await, RateDecision::Allowed);
        assert!(matches!(
            limiter.check("a", one).await,
            RateDecision::Limited { .. }
        ));
        assert_eq!(limiter.check("b", one).await, RateDecision::Allowed);
        // The same key under another limit is counted separately.
        assert_eq!(limiter.check("a", MINUTE).await, RateDecision::Allowed);
    }

    #[tokio::test]
    async fn a_zero_limit_refuses_everything() {
        let limiter = MemoryRateLimiter::new();
        let none = RateLimit {
            max: 0,
            window: Duration::from_secs(30),
        };
        assert_eq!(
            limited(limiter.check("k", none).await),
            Duration::from_secs(30)
        );
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_keys_are_dropped_on_the_periodic_sweep() {
        let limiter = MemoryRateLimiter::with_sweep_period(Duration::from_secs(1));
        let short = RateLimit {
            max: 5,
            window: Duration::from_millis(200),
        };
        for i in 0..500 {
            limiter.check(&format!("ip:{i}"), short).await;
        }
        assert_eq!(limiter.tracked_keys(), 500);
        tokio::time::advance(Duration::from_secs(1)).await;
        limiter.check("another", short).await;
        assert_eq!(limiter.tracked_keys(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_new_keys_stays_bounded() {
        let limiter = MemoryRateLimiter::new();
        let short = RateLimit {
            max: 5,
            window: Duration::from_millis(10),
        };
        // Each key's window passes before the next few thousand arrive: the map never
        // holds much more than the size-triggered sweep allows.
        for i in 0..20_000 {
            limiter.check(&format!("ip:{i}"), short).await;
            if i % 100 == 0 {
                tokio::time::advance(Duration::from_millis(10)).await;
            }
            assert!(limiter.tracked_keys() <= MIN_SWEEP_LEN, "at {i}");
        }
    }
}
