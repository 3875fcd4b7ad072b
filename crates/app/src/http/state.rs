//! [`AppState`]: what every handler and middleware can reach.

use super::csrf::TrustedOrigins;
use super::flow_cookie::FlowCookie;
use super::metrics::Metrics;
use super::refusals::RefusalAuditor;
use super::session_cookie::SessionCookies;
use crate::adapters::MailDelivery;
use crate::config::HttpConfig;
use auth_domain::{AdminService, Auditor, AuthService, OAuthService, RbacService, TokenService};
use auth_ports::Readiness;
use axum::body::Bytes;
use axum::extract::FromRef;
use std::sync::Arc;

/// What every handler can reach. One `Arc`, because axum clones the state for every
/// extractor and middleware of every request.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

/// The contents of [`AppState`].
pub struct AppStateInner {
    pub(super) readiness: Arc<dyn Readiness>,
    pub(super) auth: AuthService,
    pub(super) admin: AdminService,
    pub(super) rbac: RbacService,
    pub(super) oauth: OAuthService,
    pub(super) oauth_cookie: FlowCookie,
    pub(super) session_cookies: SessionCookies,
    /// Pages that may use cookie sessions and receive the browser after a sign-in.
    pub(super) origins: TrustedOrigins,
    pub(super) tokens: TokenService,
    pub(super) jwks: Option<Bytes>,
    pub(super) metrics: Arc<Metrics>,
    /// Delivers the outbox's mail while the server runs.
    pub(super) mail: MailDelivery,
    pub(super) trusted_proxies: Vec<ipnet::IpNet>,
    pub(super) refusals: Arc<RefusalAuditor>,
    /// The path authd's pages sit under: `AUTHD_PUBLIC_URL`'s, usually empty.
    pub(super) page_root: String,
}

/// The services the handlers call.
pub struct Services {
    /// Accounts, logins and sessions.
    pub auth: AuthService,
    /// User administration and the audit log.
    pub admin: AdminService,
    /// Roles.
    pub rbac: RbacService,
    /// Sign-in with providers and linked accounts.
    pub oauth: OAuthService,
    /// Access tokens for other services.
    pub tokens: AccessTokens,
}

/// Access tokens for other services: the service that issues them and the JWKS that
/// verifies them (`None`: answered 404, as without an Ed25519 key).
pub struct AccessTokens {
    /// Issues the tokens of `POST /v1/auth/token`.
    pub service: TokenService,
    /// The JSON of `GET /.well-known/jwks.json`, built once at start-up.
    pub jwks: Option<String>,
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

impl AppState {
    /// State over the given services; `readiness` answers `GET /health/ready`, `auditor`
    /// writes the refusals of authenticated callers, `mail` delivers the outbox while the
    /// server runs, `metrics` answers `GET /metrics`, `http` gives the proxies to trust,
    /// the public URL (which decides the cookies' form and where the pages' links point)
    /// and the allowed browser origins.
    #[must_use]
    pub fn new(
        readiness: Arc<dyn Readiness>,
        services: Services,
        auditor: Auditor,
        mail: MailDelivery,
        metrics: Metrics,
        http: &HttpConfig,
    ) -> Self {
        let trusted_proxies = http.trusted_proxies.clone();
        let refusals = RefusalAuditor::new(auditor, trusted_proxies.clone());
        let Services {
            auth,
            admin,
            rbac,
            oauth,
            tokens,
        } = services;
        Self(Arc::new(AppStateInner {
            readiness,
            auth,
            admin,
            rbac,
            oauth,
            oauth_cookie: FlowCookie::for_public_url(&http.public_url),
            session_cookies: SessionCookies::for_public_url(&http.public_url),
            origins: TrustedOrigins::new(&http.public_url, &http.cors_allowed_origins),
            tokens: tokens.service,
            jwks: tokens.jwks.map(Bytes::from),
            metrics: Arc::new(metrics),
            mail,
            trusted_proxies,
            refusals: Arc::new(refusals),
            page_root: super::pages::links::root(&http.public_url),
        }))
    }

    /// The authentication service.
    #[must_use]
    pub fn auth(&self) -> &AuthService {
        &self.auth
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.metrics)
    }
}
