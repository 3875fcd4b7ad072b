//! The AuthService itself: its ports, its policy, and what its use cases share (rate
//! limits by client address, expiry times, the password-changed notice).

use crate::audit::Auditor;
use crate::audit::ClientInfo;
use crate::error::Failure;
use crate::messages::{Messages, PasswordChangeKind};
use crate::password_policy::PasswordPolicy;
use auth_ports::{
    Clock, Email, LockoutPolicy, Mailer, OneTimeTokenRepository, PasswordHasher, RateDecision,
    RateLimit, RateLimiter, SessionRepository, TokenGenerator, UserRepository,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// How many times the per-address limit an IPv6 /56 and a /48 may use: a /56 is commonly
/// one household or small site (several /64 networks), a /48 one organisation.
pub const WIDE_PREFIX_FACTORS: (u32, u32) = (4, 16);

/// The longest the stored last-access time may lag behind real activity.
const MAX_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// The tunable rules of authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Password rules for new passwords.
    pub password: PasswordPolicy,
    /// When failed logins lock an account.
    pub lockout: LockoutPolicy,
    /// Absolute session lifetime.
    pub session_ttl: Duration,
    /// A session unused this long is over.
    pub idle_timeout: Duration,
    /// Whether login needs a verified email.
    pub require_verified_email: bool,
    /// Login attempts per IP and, separately, per account.
    pub login_limit: RateLimit,
    /// Registrations per IP.
    pub register_limit: RateLimit,
    /// Verification and password-reset requests, per IP and, separately, per email.
    pub recovery_limit: RateLimit,
    /// How long an email-verification link works.
    pub verification_ttl: Duration,
    /// How long a password-reset link works.
    pub reset_ttl: Duration,
}

impl AuthPolicy {
    /// How stale `last_accessed_at` may get before a request writes it again:
    /// min(60 s, idle timeout ÷ 4), so the idle check is never off by more.
    #[must_use]
    pub fn touch_interval(&self) -> Duration {
        MAX_TOUCH_INTERVAL.min(self.idle_timeout / 4)
    }
}

/// The ports AuthService works through.
#[derive(Clone)]
pub struct AuthPorts {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// The audit trail.
    pub audit: Auditor,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Session tokens.
    pub tokens: Arc<dyn TokenGenerator>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Rate limits.
    pub limiter: Arc<dyn RateLimiter>,
    /// Email-verification and password-reset tokens.
    pub one_time_tokens: Arc<dyn OneTimeTokenRepository>,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
}

/// Registration, login and sessions.
#[derive(Clone)]
pub struct AuthService {
    pub(super) ports: AuthPorts,
    pub(super) policy: AuthPolicy,
    pub(super) messages: Messages,
}

impl AuthService {
    /// A service over `ports` with `policy`, mailing `messages`.
    #[must_use]
    pub fn new(ports: AuthPorts, policy: AuthPolicy, messages: Messages) -> Self {
        Self {
            ports,
            policy,
            messages,
        }
    }

    pub(super) async fn limit(&self, key: String, limit: RateLimit) -> Result<(), Duration> {
        match self.ports.limiter.check(&key, limit).await {
            RateDecision::Allowed => Ok(()),
            RateDecision::Limited { retry_after } => Err(retry_after),
        }
    }

    /// The key of a client address as one source: the address itself for IPv4, its /64
    /// for IPv6 (one subscriber usually holds a whole /64, so single addresses are free).
    /// The lockout counts failures per account and source.
    pub(super) fn ip_key(client: &ClientInfo) -> String {
        match client.ip {
            Some(std::net::IpAddr::V6(ip)) => ipv6_prefix(ip, 64),
            Some(ip) => ip.to_string(),
            None => "unknown".to_owned(),
        }
    }

    /// Counts an attempt from `client` against `limit` under `scope`, once for each key
    /// of the address: IPv4 the address; IPv6 its /64 at `limit`, its /56 at
    /// [`WIDE_PREFIX_FACTORS`]`.0` × and its /48 at `.1` × `limit`, so rotating through
    /// the /64s of one allocation does not multiply the budget. Refused when any is over.
    pub(super) async fn limit_ip(
        &self,
        scope: &str,
        client: &ClientInfo,
        limit: RateLimit,
    ) -> Result<(), Duration> {
        self.limit(format!("{scope}:ip:{}", Self::ip_key(client)), limit)
            .await?;
        if let Some(std::net::IpAddr::V6(ip)) = client.ip {
            let (f56, f48) = WIDE_PREFIX_FACTORS;
            for (bits, factor) in [(56, f56), (48, f48)] {
                let wider = RateLimit {
                    max: limit.max.saturating_mul(factor),
                    window: limit.window,
                };
                self.limit(format!("{scope}:ip:{}", ipv6_prefix(ip, bits)), wider)
                    .await?;
            }
        }
        Ok(())
    }

    /// The time `ttl` from now.
    pub(super) fn expiry(&self, ttl: Duration) -> Result<DateTime<Utc>, Failure> {
        let ttl = chrono::Duration::from_std(ttl).map_err(|e| Failure::Unexpected(Box::new(e)))?;
        Ok(self.ports.clock.now() + ttl)
    }

    /// Mails the owner that the password changed, so a change they did not make is
    /// noticed.
    pub(super) fn notify_password_changed(
        &self,
        to: &Email,
        how: PasswordChangeKind,
        at: DateTime<Utc>,
        client: &ClientInfo,
    ) {
        let mail = self.messages.password_changed(to, how, at, client.ip);
        self.ports.mailer.send(mail);
    }
}

/// `ip`'s network of `bits` (a multiple of 16, at most 64) as `a:b:c::/bits`.
pub(super) fn ipv6_prefix(ip: std::net::Ipv6Addr, bits: usize) -> String {
    let groups: Vec<String> = ip.segments()[..bits / 16]
        .iter()
        .map(|g| format!("{g:x}"))
        .collect();
    let partial = if bits.is_multiple_of(16) {
        String::new()
    } else {
        let g = ip.segments()[bits / 16] & (0xffff_u16 << (16 - bits % 16));
        format!(":{g:x}")
    };
    format!("{}{partial}::/{bits}", groups.join(":"))
}
