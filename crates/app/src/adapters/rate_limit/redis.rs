//! Rate limits shared by every authd instance through Redis (a fixed window per key and
//! limit). Redis is optional at run time: while it is unreachable the limits are counted
//! in-process, and Redis is used again as soon as it answers.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError, Script};
use auth_ports::{RateDecision, RateLimit, RateLimiter};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::time::Instant;

use super::MemoryRateLimiter;

/// The longest a rate-limit check waits for Redis before counting in-process.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// While Redis is failing, one call per interval tries it again; the rest go straight
/// to the fallback, so an outage costs at most one slow call per interval.
const RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// Counts the attempt and reads how long the window has left, atomically. The window
/// opens at the first attempt and the key expires with it, so Redis holds one small
/// counter per active key and needs no clock of ours.
const FIXED_WINDOW: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// A limiter shared across instances via Redis, falling back to an in-process
/// [`MemoryRateLimiter`] while Redis errors or is slow.
///
/// The fallback counts per
/// instance, so during an outage each instance allows up to the limit on its own.
pub struct RedisRateLimiter {
    conn: ConnectionManager,
    prefix: String,
    script: Script,
    fallback: MemoryRateLimiter,
    health: Mutex<Health>,
    metrics: FallbackMetrics,
}

/// Whether the limits are counted in-process, for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct FallbackMetrics {
    /// 1 while the limits are counted in-process (Redis failing), 0 while on Redis.
    pub active: Gauge,
    /// Switches from Redis to the in-process count, a start-up without Redis included.
    pub switches: Counter,
}

#[derive(Debug, Default)]
struct Health {
    /// An outage has been logged and not yet seen to end.
    down: bool,
    /// While failing: when the next call may try Redis again.
    retry_at: Option<Instant>,
    /// When the last failure was seen; an answer to a call sent before it does not end
    /// the outage (so in-flight calls cannot make the log flap).
    failed_at: Option<Instant>,
}

impl std::fmt::Debug for RedisRateLimiter {
    // The connection's Debug would show the URL, which may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .field("health", &*self.lock_health())
            .finish_non_exhaustive()
    }
}

/// Why one Redis check did not give an answer.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("no answer within {COMMAND_TIMEOUT:?}")]
    Timeout,
}

impl RedisRateLimiter {
    /// A limiter on the Redis at `url` whose keys start with `prefix` (e.g. `authd:rl:`).
    /// Instances sharing a Redis and a prefix share their counts. Redis being down now is
    /// not an error: the limiter starts on its in-process fallback, logs a warning, and
    /// switches to Redis once it answers.
    ///
    /// # Errors
    /// When `url` is not a usable Redis URL (the message does not repeat it).
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, RedisError> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1);
        // Lazy: connecting happens on the first command, so a dead Redis cannot fail
        // start-up; the manager reconnects by itself after a dropped connection.
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        let limiter = Self {
            conn,
            prefix: prefix.into(),
            script: Script::new(FIXED_WINDOW),
            fallback: MemoryRateLimiter::new(),
            health: Mutex::new(Health::default()),
            metrics: FallbackMetrics::default(),
        };
        // Probe now so an outage at start-up is reported at start-up.
        let mut conn = limiter.conn.clone();
        let ping = async {
            ::redis::cmd("PING")
                .query_async::<()>(&mut conn)
                .await
                .map_err(Failure::from)
        };
        match with_timeout(ping).await {
            Ok(()) => tracing::info!("rate limits are shared through Redis"),
            Err(e) => limiter.mark_down(&e),
        }
        Ok(limiter)
    }

    /// Whether the limits are counted in-process now, and how often they switched.
    #[must_use]
    pub fn metrics(&self) -> &FallbackMetrics {
        &self.metrics
    }

    async fn check_redis(&self, key: &str, limit: RateLimit) -> Result<RateDecision, Failure> {
        let window_ms = u64::try_from(limit.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let redis_key = format!("{}{}:{}:{key}", self.prefix, limit.max, window_ms);
        let mut conn = self.conn.clone();
        let (count, ttl_ms): (i64, i64) = with_timeout(async {
            self.script
                .key(redis_key)
                .arg(window_ms)
                .invoke_async(&mut conn)
                .await
                .map_err(Failure::from)
        })
        .await?;
        Ok(if count <= i64::from(limit.max) {
            RateDecision::Allowed
        } else {
            RateDecision::Limited {
                retry_after: u64::try_from(ttl_ms)
                    .map_or(limit.window, Duration::from_millis)
                    .min(limit.window),
            }
        })
    }

    fn lock_health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this call should ask Redis; while failing, only one call per interval does.
    fn claim_attempt(&self) -> bool {
        let mut health = self.lock_health();
        match health.retry_at {
            None => true,
            Some(at) => {
                let now = Instant::now();
                if now < at {
                    return false;
                }
                health.retry_at = Some(now + RETRY_INTERVAL);
                true
            }
        }
    }

    fn mark_down(&self, error: &Failure) {
        let newly_down = {
            let mut health = self.lock_health();
            let now = Instant::now();
            health.retry_at = Some(now + RETRY_INTERVAL);
            health.failed_at = Some(now);
            let newly_down = !std::mem::replace(&mut health.down, true);
            // Under the lock, so the gauge follows `down` in the order it changes.
            if newly_down {
                self.metrics.active.set(1);
                self.metrics.switches.inc();
            }
            newly_down
        };
        if newly_down {
            tracing::warn!(
                %error,
                "Redis is unreachable: rate limits are counted per instance until it answers again"
            );
        }
    }

    /// Records an answer to a call sent at `sent`.
    fn mark_up(&self, sent: Instant) {
        let was_down = {
            let mut health = self.lock_health();
            if health.failed_at.is_some_and(|failed| sent < failed) {
                return;
            }
            health.retry_at = None;
            health.failed_at = None;
            let was_down = std::mem::replace(&mut health.down, false);
            if was_down {
                self.metrics.active.set(0);
            }
            was_down
        };
        if was_down {
            tracing::info!("Redis answers again: rate limits are shared again");
        }
    }
}

async fn with_timeout<T>(work: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    tokio::time::timeout(COMMAND_TIMEOUT, work)
        .await
        .unwrap_or(Err(Failure::Timeout))
}

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str, limit: RateLimit) -> RateDecision {
        if self.claim_attempt() {
            let sent = Instant::now();
            match self.check_redis(key, limit).await {
                Ok(decision) => {
                    self.mark_up(sent);
                    return decision;
                }
                Err(error) => self.mark_down(&error),
            }
        }
        self.fallback.check(key, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Redis to test against, or `None` to skip (a failure under CI, where it must
    /// be set).
    fn redis_url() -> Option<String> {
        match std::env::var("TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
                panic!("TEST_REDIS_URL is not set: CI must run the Redis tests")
            }
            _ => {
                eprintln!("skipped: TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379)");
                None
            }
        }
    }

    /// A fresh prefix per test, so tests never see each other's counters.
    fn prefix() -> String {
        format!("authd:test:{}:", uuid::Uuid::new_v4())
    }

    const MINUTE: RateLimit = RateLimit {
        max: 3,
        window: Duration::from_secs(60),
    };

    /// One request a minute.
    const ONE: RateLimit = RateLimit { max: 1, ..MINUTE };

    #[tokio::test]
    async fn instances_with_one_prefix_share_the_count() {
        let Some(url) = redis_url() else { return };
        let prefix = prefix();
        let a = RedisRateLimiter::connect(&url, prefix.clone())
            .await
            .unwrap();
        let b = RedisRateLimiter::connect(&url, prefix).await.unwrap();
        assert_eq!(a.check("ip:1", MINUTE).await, RateDecision::Allowed);
        assert_eq!(b.check("ip:1", MINUTE).await, RateDecision::Allowed);
        assert_eq!(a.check("ip:1", MINUTE).await, RateDecision::Allowed);
        for limiter in [&b, &a] {
            match limiter.check("ip:1", MINUTE).await {
                RateDecision::Limited { retry_after } => {
                    assert!(retry_after > Duration::from_secs(50), "{retry_after:?}");
                    assert!(retry_after <= MINUTE.window, "{retry_after:?}");
                }
                RateDecision::Allowed => panic!("the shared limit was not applied"),
            }
        }
        // Other keys, and the same key under another limit, are counted apart.
        assert_eq!(b.check("ip:2", MINUTE).await, RateDecision::Allowed);
        let other = RateLimit { max: 10, ..MINUTE };
        assert_eq!(a.check("ip:1", other).await, RateDecision::Allowed);
        assert!(!a.lock_health().down);
        assert_eq!(fallback(&a), (0, 0));
    }

    #[tokio::test]
    async fn another_prefix_is_another_count() {
        let Some(url) = redis_url() else { return };
        let a = RedisRateLimiter::connect(&url, prefix()).await.unwrap();
        let b = RedisRateLimiter::connect(&url, prefix()).await.unwrap();
        assert_eq!(a.check("k", ONE).await, RateDecision::Allowed);
        assert_eq!(b.check("k", ONE).await, RateDecision::Allowed);
    }

    #[tokio::test]
    async fn the_window_ends_and_attempts_are_allowed_again() {
        let Some(url) = redis_url() else { return };
        let limiter = RedisRateLimiter::connect(&url, prefix()).await.unwrap();
        let short = RateLimit {
            max: 1,
            window: Duration::from_millis(300),
        };
        assert_eq!(limiter.check("k", short).await, RateDecision::Allowed);
        let RateDecision::Limited { retry_after } = limiter.check("k", short).await else {
            panic!("expected Limited");
        };
        assert!(retry_after <= short.window);
        tokio::time::sleep(retry_after + Duration::from_millis(50)).await;
        assert_eq!(limiter.check("k", short).await, RateDecision::Allowed);
    }

    #[tokio::test]
    async fn a_dead_redis_falls_back_without_hanging() {
        // Nothing listens on port 1: start-up succeeds and every check answers quickly,
        // from the in-process fallback, which still enforces the limit.
        let started = std::time::Instant::now();
        let limiter = RedisRateLimiter::connect("redis://127.0.0.1:1", prefix())
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(limiter.lock_health().down);
        assert_eq!(fallback(&limiter), (1, 1), "started on the fallback");
        for attempt in 0..5 {
            let started = std::time::Instant::now();
            let decision = limiter.check("k", MINUTE).await;
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "attempt {attempt}"
            );
            assert_eq!(
                decision == RateDecision::Allowed,
                attempt < 3,
                "attempt {attempt}"
            );
        }
        assert_eq!(fallback(&limiter), (1, 1), "one outage is one switch");
    }

    /// The fallback gauge and the count of switches to the fallback.
    fn fallback(limiter: &RedisRateLimiter) -> (i64, u64) {
        let metrics = limiter.metrics();
        (metrics.active.get(), metrics.switches.get())
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_tried_again_after_the_interval() {
        let limiter = RedisRateLimiter::connect("redis://127.0.0.1:1", prefix())
            .await
            .unwrap();
        assert!(!limiter.claim_attempt(), "retried before the interval");
        limiter.lock_health().retry_at = Some(Instant::now());
        assert!(limiter.claim_attempt(), "never retried");
        assert!(!limiter.claim_attempt(), "two calls probed at once");
        // An answer to a call sent before the failure does not end the outage.
        let before = Instant::now() - Duration::from_secs(60);
        limiter.mark_up(before);
        assert!(limiter.lock_health().down);
        limiter.mark_up(Instant::now());
        assert!(limiter.claim_attempt());
        assert!(!limiter.lock_health().down);
    }

    /// A `redis-server` of this test's own on `port`, stopped when dropped.
    struct OwnRedis(std::process::Child);

    impl OwnRedis {
        /// Starts it and waits until it answers, or `None` to skip when `redis-server`
        /// is not installed (a failure under CI).
        async fn start(port: u16) -> Option<Self> {
            let spawned = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .stdout(std::process::Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(_) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
                    panic!("redis-server is not on PATH: CI must run the Redis tests")
                }
                Err(err) => {
                    eprintln!("skipped: cannot start redis-server ({err})");
                    return None;
                }
            };
            let own = Self(child);
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server did not start"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Some(own)
        }
    }

    impl Drop for OwnRedis {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A TCP port nothing listens on now.
    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// Two limiters on the Redis at `port` sharing a fresh prefix, as two instances.
    async fn two_instances(port: u16) -> (RedisRateLimiter, RedisRateLimiter) {
        let url = format!("redis://127.0.0.1:{port}");
        let prefix = prefix();
        let a = RedisRateLimiter::connect(&url, prefix.clone()).await;
        let b = RedisRateLimiter::connect(&url, prefix).await;
        (a.unwrap(), b.unwrap())
    }

    /// Our own Redis on a free port (and that port), with two instances on it that have
    /// shared a count; `None` to skip.
    async fn two_instances_on_own_redis()
    -> Option<(u16, OwnRedis, RedisRateLimiter, RedisRateLimiter)> {
        let port = free_port();
        let redis = OwnRedis::start(port).await?;
        let (a, b) = two_instances(port).await;
        assert_eq!(a.check("before", ONE).await, RateDecision::Allowed);
        assert_ne!(b.check("before", ONE).await, RateDecision::Allowed);
        Some((port, redis, a, b))
    }

    /// Waits until `a` and `b` answer from Redis again, then checks that they share
    /// the count of each of `keys`.
    async fn shared_again(a: &RedisRateLimiter, b: &RedisRateLimiter, keys: &[&str]) {
        until_shared(a).await;
        until_shared(b).await;
        for key in keys {
            assert_eq!(a.check(key, ONE).await, RateDecision::Allowed, "{key}");
            assert_ne!(
                b.check(key, ONE).await,
                RateDecision::Allowed,
                "{key}: the instances share their counts again"
            );
        }
    }

    /// Checks with `limiter` until it answers from Redis again (its outage has ended),
    /// for at most 10 s.
    async fn until_shared(limiter: &RedisRateLimiter) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let probe = RateLimit {
            max: 1_000,
            ..MINUTE
        };
        loop {
            limiter.check("probe", probe).await;
            if !limiter.lock_health().down {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "Redis is not used again after it came back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_coming_back_is_used_again_without_restart() {
        let Some((port, redis, a, b)) = two_instances_on_own_redis().await else {
            return;
        };
        assert_eq!(fallback(&a), (0, 0), "on Redis");
        drop(redis);
        assert_eq!(a.check("during", ONE).await, RateDecision::Allowed);
        assert!(a.lock_health().down, "the outage is noticed");
        assert_eq!(fallback(&a), (1, 1), "on the fallback");
        assert_eq!(
            b.check("during", ONE).await,
            RateDecision::Allowed,
            "counted per instance"
        );

        let _redis = OwnRedis::start(port).await.unwrap();
        shared_again(&a, &b, &["after"]).await;
        assert_eq!(fallback(&a), (0, 1), "back on Redis");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_down_at_start_up_is_used_once_it_answers() {
        let port = free_port();
        let (a, b) = two_instances(port).await;
        assert!(a.lock_health().down);
        assert_eq!(a.check("during", ONE).await, RateDecision::Allowed);
        assert_eq!(b.check("during", ONE).await, RateDecision::Allowed);

        let Some(_redis) = OwnRedis::start(port).await else {
            return;
        };
        shared_again(&a, &b, &["after"]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_that_hung_is_used_again() {
        let Some((_, redis, a, b)) = two_instances_on_own_redis().await else {
            return;
        };
        let signal = |sig: &str| {
            std::process::Command::new("kill")
                .args([sig, &redis.0.id().to_string()])
                .status()
                .unwrap()
        };
        signal("-STOP");
        for _ in 0..3 {
            a.check("during", ONE).await;
            b.check("during", ONE).await;
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        assert!(a.lock_health().down);
        signal("-CONT");
        shared_again(&a, &b, &["after1", "after2", "after3"]).await;
    }

    #[tokio::test]
    async fn a_malformed_url_is_an_error() {
        assert!(
            RedisRateLimiter::connect("not a url", prefix())
                .await
                .is_err()
        );
    }
}
