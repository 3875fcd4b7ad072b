//! What slows down password guessing: lockout, rate limits (and the Redis that shares
//! them) and the argon2id cost.

use super::secret::CredentialUrl;
use super::vars::Vars;
use std::time::Duration;

/// Upper bound for `ARGON2_MEMORY_KIB` (4 GiB per hash): more is a typo that would let
/// a handful of logins exhaust the host's memory.
pub(crate) const MAX_ARGON2_MEMORY_KIB: u64 = 4 * 1024 * 1024;

/// OWASP's minimum argon2id cost (19 MiB, two passes): less needs `ARGON2_ALLOW_WEAK`.
const OWASP_MIN_MEMORY_KIB: u64 = 19_456;
const OWASP_MIN_ITERATIONS: u64 = 2;

/// The message for an argon2 cost below OWASP's `minimum`.
fn weak(minimum: u64, got: u64) -> String {
    format!("must be at least {minimum} (OWASP's minimum) unless ARGON2_ALLOW_WEAK=true, got {got}")
}

/// Upper bound for `ARGON2_ITERATIONS`: beyond this a single login takes seconds.
pub(crate) const MAX_ARGON2_ITERATIONS: u64 = 100;

/// Upper bound for `ARGON2_MAX_QUEUE`.
const MAX_ARGON2_QUEUE: u64 = 1_000_000;

/// Upper bound for `ARGON2_PARALLELISM` (lanes).
const MAX_ARGON2_PARALLELISM: u64 = 64;

/// Account lockout after repeated failed logins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutConfig {
    /// Consecutive failed logins from one client source that lock that source out of the
    /// account (`LOCKOUT_THRESHOLD`).
    pub threshold: u32,
    /// Failed logins from all sources together that lock the account for every source
    /// (`LOCKOUT_GLOBAL_THRESHOLD`, at least `threshold`; default 10 × `threshold`).
    pub global_threshold: u32,
    /// How long the lock lasts (`LOCKOUT_DURATION_SECS`).
    pub duration: Duration,
}

/// argon2id cost parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argon2Config {
    /// Memory per hash in KiB (`ARGON2_MEMORY_KIB`, at least 8 × `parallelism`).
    pub memory_kib: u32,
    /// Passes over memory (`ARGON2_ITERATIONS`).
    pub iterations: u32,
    /// Lanes (`ARGON2_PARALLELISM`).
    pub parallelism: u32,
    /// Calls that may wait for a hashing thread (`ARGON2_MAX_QUEUE`); more answer 503
    /// at once. `None`: 64 per hashing thread.
    pub max_queue: Option<usize>,
}

/// Request rate limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Redis that shares limits between instances (`REDIS_URL`); `None`: in-process limits.
    pub redis_url: Option<CredentialUrl>,
    /// Login attempts per minute, per IP and separately per account
    /// (`RATE_LIMIT_LOGIN_PER_MIN`).
    pub login_per_min: u32,
    /// Registrations per minute per IP (`RATE_LIMIT_REGISTER_PER_MIN`).
    pub register_per_min: u32,
    /// Password-reset and verification requests per hour, per email and per IP
    /// (`RATE_LIMIT_RESET_PER_HOUR`).
    pub reset_per_hour: u32,
}

/// `LOCKOUT_*`: the global threshold defaults to ten sources' worth of failures and may
/// not be below the per-source one (the per-source lock would then never be reached).
pub(super) fn lockout<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> LockoutConfig {
    let threshold = vars.positive("LOCKOUT_THRESHOLD", 5);
    let default_global = threshold.saturating_mul(10);
    let global_threshold = vars.positive("LOCKOUT_GLOBAL_THRESHOLD", default_global);
    if global_threshold < threshold {
        vars.report(
            "LOCKOUT_GLOBAL_THRESHOLD",
            format!("must be at least LOCKOUT_THRESHOLD ({threshold}), got {global_threshold}"),
        );
    }
    LockoutConfig {
        threshold,
        global_threshold,
        duration: vars.secs("LOCKOUT_DURATION_SECS", 900),
    }
}

/// `ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS` and `ARGON2_PARALLELISM`, within argon2's
/// own limits (memory at least 8 KiB per lane) and below values that can only be typos.
/// Below OWASP's minimum only with `ARGON2_ALLOW_WEAK=true` (tests, benchmarks): a
/// weaker cost is a cheaper offline attack on every hash written with it.
pub(super) fn argon2<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> Argon2Config {
    let memory_kib = vars.number("ARGON2_MEMORY_KIB", 19_456, 8, MAX_ARGON2_MEMORY_KIB);
    let iterations = vars.number("ARGON2_ITERATIONS", 2, 1, MAX_ARGON2_ITERATIONS);
    let parallelism = vars.number("ARGON2_PARALLELISM", 1, 1, MAX_ARGON2_PARALLELISM);
    let allow_weak = vars.flag("ARGON2_ALLOW_WEAK", false);
    if memory_kib < 8 * parallelism {
        vars.report(
            "ARGON2_MEMORY_KIB",
            format!(
                "must be at least 8 × ARGON2_PARALLELISM ({}), got {memory_kib}",
                8 * parallelism
            ),
        );
    } else if memory_kib < OWASP_MIN_MEMORY_KIB && !allow_weak {
        vars.report("ARGON2_MEMORY_KIB", weak(OWASP_MIN_MEMORY_KIB, memory_kib));
    }
    if iterations < OWASP_MIN_ITERATIONS && !allow_weak {
        vars.report("ARGON2_ITERATIONS", weak(OWASP_MIN_ITERATIONS, iterations));
    }
    // Every bound above is below u32::MAX, so the conversions cannot fail.
    Argon2Config {
        memory_kib: u32::try_from(memory_kib).unwrap_or(19_456),
        iterations: u32::try_from(iterations).unwrap_or(2),
        parallelism: u32::try_from(parallelism).unwrap_or(1),
        max_queue: vars
            .get("ARGON2_MAX_QUEUE")
            .map(|_| vars.number("ARGON2_MAX_QUEUE", 1, 1, MAX_ARGON2_QUEUE))
            .and_then(|n| usize::try_from(n).ok()),
    }
}

/// `REDIS_URL`: a `redis://` or `rediss://` URL, or unset.
pub(super) fn redis_url<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
) -> Option<CredentialUrl> {
    let value = vars.get("REDIS_URL")?;
    // The value is never quoted back: it may contain a password.
    if !(value.starts_with("redis://") || value.starts_with("rediss://")) {
        vars.report("REDIS_URL", "expected a redis:// or rediss:// URL");
        return None;
    }
    match CredentialUrl::parse(&value) {
        Ok((url, parsed)) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Some(url),
        Ok(_) => {
            vars.report("REDIS_URL", "expected a host after redis:// or rediss://");
            None
        }
        Err(err) => {
            vars.report("REDIS_URL", format!("not a valid URL ({err})"));
            None
        }
    }
}

/// `REDIS_URL` and the `RATE_LIMIT_*` budgets.
pub(super) fn rate_limit<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> RateLimitConfig {
    RateLimitConfig {
        redis_url: redis_url(vars),
        login_per_min: vars.positive("RATE_LIMIT_LOGIN_PER_MIN", 10),
        register_per_min: vars.positive("RATE_LIMIT_REGISTER_PER_MIN", 10),
        reset_per_hour: vars.positive("RATE_LIMIT_RESET_PER_HOUR", 5),
    }
}
