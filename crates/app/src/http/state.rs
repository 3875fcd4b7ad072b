//! [`AppState`]: what every handler and middleware can reach.

use super::metrics::Metrics;
use super::refusals::RefusalAuditor;
use auth_domain::{AdminService, Auditor, AuthService, RbacService};
use auth_sea_orm::Store;
use axum::extract::FromRef;
use std::sync::Arc;

/// What every handler can reach. One `Arc`, because axum clones the state for every
/// extractor and middleware of every request.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

/// The contents of [`AppState`].
pub struct AppStateInner {
    pub(super) store: Store,
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
    /// State over the given database and services; `auditor` writes the refusals of
    /// authenticated callers.
    #[must_use]
    pub fn new(
        store: Store,
        auth: AuthService,
        admin: AdminService,
        rbac: RbacService,
        auditor: Auditor,
        trusted_proxies: Vec<ipnet::IpNet>,
    ) -> Self {
        let refusals = RefusalAuditor::new(auditor, trusted_proxies.clone());
        Self(Arc::new(AppStateInner {
            store,
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
