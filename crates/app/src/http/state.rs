//! [`AppState`]: what every handler and middleware can reach.

use super::metrics::Metrics;
use super::refusals::RefusalAuditor;
use auth_domain::{AdminService, Auditor, AuthService, RbacService, TokenService};
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
    pub(super) tokens: TokenService,
    pub(super) jwks: Option<Bytes>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) trusted_proxies: Vec<ipnet::IpNet>,
    pub(super) refusals: Arc<RefusalAuditor>,
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
    /// writes the refusals of authenticated callers.
    #[must_use]
    pub fn new(
        readiness: Arc<dyn Readiness>,
        auth: AuthService,
        admin: AdminService,
        rbac: RbacService,
        tokens: AccessTokens,
        auditor: Auditor,
        trusted_proxies: Vec<ipnet::IpNet>,
    ) -> Self {
        let refusals = RefusalAuditor::new(auditor, trusted_proxies.clone());
        Self(Arc::new(AppStateInner {
            readiness,
            auth,
            admin,
            rbac,
            tokens: tokens.service,
            jwks: tokens.jwks.map(Bytes::from),
            metrics: Arc::new(Metrics::default()),
            trusted_proxies,
            refusals: Arc::new(refusals),
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
