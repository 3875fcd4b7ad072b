//! The AuthService itself: its ports, its policy, and what its use cases share (rate
//! limits by client address, expiry times, the password-changed notice).

use crate::audit::Auditor;
use crate::audit::ClientInfo;
use crate::error::Failure;
use crate::messages::{Messages, PasswordChangeKind};
use crate::password_policy::PasswordPolicy;
use crate::principal::{Principal, ReauthenticationRequired};
use crate::rate_limits;
use auth_ports::{
    AuditRepository, AuthMethod, BearerToken, ChallengeRepository, Clock, Email, LockoutPolicy,
    MailMessage, MfaRepository, NewSession, OneTimeTokenRepository, PasskeyAuthenticator,
    PasswordHasher, RateLimit, RateLimiter, SessionRepository, TokenGenerator, TotpAuthenticator,
    UserId, UserRepository,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

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
    /// The audit trail, to write.
    pub audit: Auditor,
    /// The audit trail, to read the caller's own part of it.
    pub audit_log: Arc<dyn AuditRepository>,
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
    /// Second factors and the challenges of multi-step sign-ins.
    pub second_factors: SecondFactorPorts,
}

/// The ports of second factors.
#[derive(Clone)]
pub struct SecondFactorPorts {
    /// Stored factors.
    pub mfa: Arc<dyn MfaRepository>,
    /// Pending challenges.
    pub challenges: Arc<dyn ChallengeRepository>,
    /// TOTP codes; `None` when no key to seal secrets is configured (no new enrolments).
    pub totp: Option<Arc<dyn TotpAuthenticator>>,
    /// WebAuthn ceremonies; `None` when no relying party is configured (no passkeys).
    pub passkeys: Option<Arc<dyn PasskeyAuthenticator>>,
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

    /// The rules a new password must meet, for a form that states them up front (the
    /// reset page's `minlength`); the service checks them itself all the same.
    #[must_use]
    pub fn password_policy(&self) -> PasswordPolicy {
        self.policy.password
    }

    /// How long a password-reset link works, for the page that says so once a link is
    /// asked for.
    #[must_use]
    pub fn reset_link_lifetime(&self) -> Duration {
        self.policy.reset_ttl
    }

    /// Counts one attempt under `key` against `limit`; `Err(retry_after)` when over.
    pub(super) async fn limit(&self, key: String, limit: RateLimit) -> Result<(), Duration> {
        rate_limits::check(self.ports.limiter.as_ref(), &key, limit).await
    }

    /// Counts an attempt to prove who the account of `email` is (a login, its second
    /// step, a password change, a step-up) against the per-account login limit, so
    /// guessing through any of them shares one budget.
    pub(super) async fn limit_account(&self, email: &Email) -> Result<(), Duration> {
        self.limit(format!("login:account:{email}"), self.policy.login_limit)
            .await
    }

    /// The key of a client address as one source ([`rate_limits::ip_key`]); the lockout
    /// counts failures per account and source.
    pub(super) fn ip_key(client: &ClientInfo) -> String {
        rate_limits::ip_key(client)
    }

    /// Counts an attempt from `client` under `scope` for each key of its address
    /// ([`rate_limits::limit_ip`]).
    pub(super) async fn limit_ip(
        &self,
        scope: &str,
        client: &ClientInfo,
        limit: RateLimit,
    ) -> Result<(), Duration> {
        rate_limits::limit_ip(self.ports.limiter.as_ref(), scope, client, limit).await
    }

    /// A fresh session token and the session of `user` it opens now from `client`,
    /// authenticated by `methods`.
    pub(super) fn new_session(
        &self,
        user: UserId,
        client: &ClientInfo,
        mut methods: Vec<AuthMethod>,
    ) -> Result<(BearerToken, NewSession), Failure> {
        let (token, token_hash) = self.ports.tokens.generate();
        methods.sort_unstable();
        methods.dedup();
        let session = NewSession {
            user_id: user,
            token_hash,
            expires_at: self.expiry(self.policy.session_ttl)?,
            ip_address: client.ip,
            user_agent: client.user_agent.clone(),
            created_at: self.ports.clock.now(),
            auth_methods: methods,
        };
        Ok((token, session))
    }

    /// `Ok` when the caller's session was authenticated within the step-up window, as a
    /// sensitive change or read needs.
    ///
    /// # Errors
    /// [`ReauthenticationRequired`] otherwise.
    pub fn require_fresh(&self, principal: &Principal) -> Result<(), ReauthenticationRequired> {
        principal.require_recent_authentication(self.ports.clock.now())
    }

    /// The time `ttl` from now.
    pub(super) fn expiry(&self, ttl: Duration) -> Result<DateTime<Utc>, Failure> {
        let ttl = chrono::Duration::from_std(ttl).map_err(|e| Failure::Unexpected(Box::new(e)))?;
        Ok(self.ports.clock.now() + ttl)
    }

    /// The mail telling the owner that the password changed, so a change they did not
    /// make is noticed; the change puts it in the outbox.
    pub(super) fn password_changed_notice(
        &self,
        to: &Email,
        how: PasswordChangeKind,
        at: DateTime<Utc>,
        client: &ClientInfo,
    ) -> MailMessage {
        self.messages.password_changed(to, how, at, client.ip)
    }
}
