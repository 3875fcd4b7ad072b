//! [`AppState`]: what every handler and middleware can reach.

use super::metrics::Metrics;
use super::refusals::RefusalAuditor;
use auth_domain::{AdminService, Auditor, AuthService, RbacService};
use auth_ports::Readiness;
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
    pub(super) metrics: Arc<Metrics>,
    pub(super) trusted_proxies: Vec<ipnet::IpNet>,
    pub(super) refusals: Arc<RefusalAuditor>,
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
        auditor: Auditor,
        trusted_proxies: Vec<ipnet::IpNet>,
    ) -> Self {
        let refusals = RefusalAuditor::new(auditor, trusted_proxies.clone());
        Self(Arc::new(AppStateInner {
            readiness,
            auth,
            admin,
            rbac,
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
