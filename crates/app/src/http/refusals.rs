//! Audits refusals of authenticated callers (OWASP ASVS V7): a 403 `forbidden` is written
//! as `auth.forbidden`, a 429 as `auth.rate_limited`, with the caller as actor and the
//! route (and the permission, when a route's extractor refused) in `details`. At most one
//! entry per caller and kind per minute and instance, so a client hammering a refused
//! route cannot turn the audit log into a write flood.

use super::AppState;
use crate::adapters::MemoryRateLimiter;
use auth_domain::{AuditEvent, ClientInfo};
use auth_ports::{RateDecision, RateLimit, RateLimiter as _, UserId};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// One entry per caller and kind in this window.
const AUDIT_ONCE_PER: RateLimit = RateLimit {
    max: 1,
    window: Duration::from_secs(60),
};

/// The error code of an error response, set by `ApiError`, so middleware can tell a 403
/// `forbidden` from the other 403s without reading the body.
#[derive(Debug, Clone, Copy)]
pub(super) struct ErrorCode(pub &'static str);

/// Who made the request, filled in by the `Authenticated` extractor (and the permission
/// by `Authorized` when it refuses), for [`audit`] to read once the answer is known.
#[derive(Clone, Default)]
pub(super) struct CallerSlot(Arc<Mutex<Option<Caller>>>);

/// The authenticated caller of a request.
struct Caller {
    user: UserId,
    client: ClientInfo,
    permission: Option<&'static str>,
}

impl CallerSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Caller>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the authenticated caller.
    pub(super) fn set(&self, user: UserId, client: ClientInfo) {
        *self.lock() = Some(Caller {
            user,
            client,
            permission: None,
        });
    }

    /// Records the permission the caller lacked.
    pub(super) fn lacked(&self, permission: &'static str) {
        if let Some(caller) = self.lock().as_mut() {
            caller.permission = Some(permission);
        }
    }
}

/// Throttles refusal entries: one per caller and kind per minute, in this process.
#[derive(Debug, Default)]
pub(super) struct RefusalThrottle(MemoryRateLimiter);

/// Middleware: gives the request a [`CallerSlot`] and, if the answer refuses an
/// authenticated caller, writes the entry (unless throttled). A failed write is logged;
/// the refusal is answered either way.
pub(super) async fn audit(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    let action = match response.extensions().get::<ErrorCode>() {
        Some(ErrorCode("forbidden")) => "auth.forbidden",
        Some(ErrorCode("rate_limited")) => "auth.rate_limited",
        _ => return response,
    };
    let Some(caller) = slot.lock().take() else {
        return response;
    };
    let key = format!("{action}:{}", caller.user);
    if let RateDecision::Limited { .. } = state.refusals.0.check(&key, AUDIT_ONCE_PER).await {
        return response;
    }
    let mut event = AuditEvent::new(action)
        .by(caller.user)
        .failed(action.trim_start_matches("auth."))
        .with("method", method.as_str())
        .with("route", route.unwrap_or_default());
    if let Some(permission) = caller.permission {
        event = event.with("permission", permission);
    }
    if let Err(err) = state.auditor.record(event, &caller.client).await {
        tracing::warn!(error = %err, action, "cannot audit a refusal");
    }
    response
}
