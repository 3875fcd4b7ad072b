//! The OAuthService itself: its ports, its policy, and what its use cases share (the
//! rate limit, the link an identity makes, the audit entries of a callback and refusing
//! one).

use super::errors::OAuthError;
use crate::audit::{AuditEvent, Auditor, ClientInfo};
use crate::error::Failure;
use crate::rate_limits;
use auth_ports::{
    Clock, Email, ExternalIdentity, MfaRepository, OAuthAccount, OAuthAccountRepository,
    OAuthClient, OAuthFlowRepository, OAuthLink, RateLimit, RateLimiter, SessionRepository,
    TokenGenerator, UserId, UserRepository,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// How long a flow may take from the redirect to the callback (SPEC: single use, 10
/// minutes).
pub const FLOW_LIFETIME: Duration = Duration::from_secs(600);

/// The longest cause (a provider's error text, say) an audit entry keeps: the error
/// parameter of a callback is whatever the caller sent.
const MAX_CAUSE_CHARS: usize = 200;

/// The tunable rules of OAuth sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuthPolicy {
    /// Absolute session lifetime.
    pub session_ttl: Duration,
    /// Whether login needs a verified email.
    pub require_verified_email: bool,
    /// Flows begun and callbacks finished, each per IP.
    pub login_limit: RateLimit,
}

/// The ports OAuthService works through.
#[derive(Clone)]
pub struct OAuthPorts {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Linked external accounts.
    pub accounts: Arc<dyn OAuthAccountRepository>,
    /// Flows between the redirect and the callback.
    pub flows: Arc<dyn OAuthFlowRepository>,
    /// The protocol side: redirects and verified identities.
    pub client: Arc<dyn OAuthClient>,
    /// Session tokens, and the state, nonce and PKCE verifier of a flow.
    pub tokens: Arc<dyn TokenGenerator>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// The audit trail.
    pub audit: Auditor,
    /// Rate limits.
    pub limiter: Arc<dyn RateLimiter>,
    /// Second factors: a sign-in to an account with MFA on needs one too.
    pub mfa: Arc<dyn MfaRepository>,
}

/// Sign-in with a provider, and the providers linked to an account.
#[derive(Clone)]
pub struct OAuthService {
    pub(super) ports: OAuthPorts,
    pub(super) policy: OAuthPolicy,
}

impl OAuthService {
    /// A service over `ports` with `policy`.
    #[must_use]
    pub fn new(ports: OAuthPorts, policy: OAuthPolicy) -> Self {
        Self { ports, policy }
    }

    /// Counts a request from `client` under `scope` against the login limit.
    pub(super) async fn limit(&self, scope: &str, client: &ClientInfo) -> Result<(), OAuthError> {
        let (limiter, limit) = (self.ports.limiter.as_ref(), self.policy.login_limit);
        rate_limits::limit_ip(limiter, scope, client, limit)
            .await
            .map_err(|retry_after| OAuthError::RateLimited { retry_after })
    }

    /// The time `ttl` after `start`.
    pub(super) fn expiry(start: DateTime<Utc>, ttl: Duration) -> Result<DateTime<Utc>, Failure> {
        let ttl = chrono::Duration::from_std(ttl).map_err(|e| Failure::Unexpected(Box::new(e)))?;
        Ok(start + ttl)
    }

    /// What linking `identity` of `provider` stores, as of now.
    pub(super) fn link_of(&self, provider: &str, identity: &ExternalIdentity) -> OAuthLink {
        let tokens = identity.tokens.clone();
        OAuthLink {
            provider: provider.to_owned(),
            provider_user_id: identity.subject.clone(),
            // Normalised, or nothing: the provider's text is stored only as an address
            // authd accepts (no control characters, at most 254 characters).
            provider_email: usable_email(identity).map(String::from),
            access_token_sealed: tokens.access_token,
            refresh_token_sealed: tokens.refresh_token,
            token_expires_at: tokens.expires_at,
            scopes: tokens.scopes,
            created_at: self.ports.clock.now(),
        }
    }

    /// Audits `attempt` as refused with `error` (its reason), as `user` when known, with
    /// the `cause` for whoever reads the trail; answers `error`.
    pub(super) async fn refuse(
        &self,
        attempt: &Attempt<'_>,
        user: Option<UserId>,
        error: OAuthError,
        cause: Option<&str>,
    ) -> Result<OAuthError, Failure> {
        let mut event = attempt.event(user).failed(error.reason());
        if let Some(cause) = cause {
            event = event.with(
                "cause",
                cause.chars().take(MAX_CAUSE_CHARS).collect::<String>(),
            );
        }
        self.ports.audit.record(event, attempt.client).await?;
        Ok(error)
    }
}

/// The provider's email as an address authd accepts, if it shared one.
pub(super) fn usable_email(identity: &ExternalIdentity) -> Option<Email> {
    identity.email.as_deref().and_then(|e| Email::parse(e).ok())
}

/// One callback being finished: what its audit entries say.
pub(super) struct Attempt<'a> {
    /// The provider named in the callback's path.
    pub provider: &'a str,
    /// Where the callback came from.
    pub client: &'a ClientInfo,
    /// `Some(user)` once the flow is known to link a provider to that user.
    pub link_to: Option<UserId>,
}

impl Attempt<'_> {
    /// The entry of this attempt, as `user` when known: `oauth.link` for a link flow,
    /// `auth.login` (method `oauth`) for a login or a flow not known yet.
    pub(super) fn event(&self, user: Option<UserId>) -> AuditEvent {
        let event = match self.link_to {
            Some(_) => AuditEvent::new("oauth.link"),
            None => AuditEvent::new("auth.login").with("method", "oauth"),
        }
        .with("provider", self.provider);
        match user {
            Some(user) => event.by(user).on("user", user),
            None => event,
        }
    }
}

/// The `oauth.link` entry of `account` linked to its user.
pub(super) fn link_event(account: &OAuthAccount) -> AuditEvent {
    AuditEvent::self_service("oauth.link", account.user_id)
        .with("provider", account.provider.as_str())
        .with("oauth_account_id", account.id.to_string())
}
