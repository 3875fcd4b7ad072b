//! Audits refusals of authenticated callers (OWASP ASVS V7): a 403 `forbidden` is written
//! as `auth.forbidden`, a 429 as `auth.rate_limited`, with the caller as actor and the
//! route (and the permission, when the caller lacked the one an operation needs) in
//! `details`. At most one
//! entry per caller and kind per minute and instance, so a client hammering a refused
//! route cannot turn the audit log into a write flood.

use super::client::{X_FORWARDED_FOR, client_info};
use crate::adapters::MemoryRateLimiter;
use auth_domain::{AuditEvent, Auditor, ClientInfo};
use auth_ports::{RateDecision, RateLimit, RateLimiter as _, UserId};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// One entry per caller and kind in this window.
const AUDIT_ONCE_PER: RateLimit = RateLimit {
    max: 1,
    window: Duration::from_secs(60),
};

/// The error code of a 403 or 429 response, set by `ApiError`, so middleware can tell a
/// 403 `forbidden` from the other 403s without reading the body.
#[derive(Debug, Clone, Copy)]
pub(super) struct ErrorCode(pub &'static str);

/// The permission a 403 `forbidden` refused for, set by `ApiError` when the domain named
/// it, for the entry's `details`.
#[derive(Debug, Clone, Copy)]
pub(super) struct LackedPermission(pub &'static str);

/// Who made the request, filled in by the `Authenticated` extractor, for [`audit`] to
/// read once the answer is known.
#[derive(Clone, Default)]
pub(super) struct CallerSlot(Arc<Mutex<Option<UserId>>>);

impl CallerSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<UserId>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the authenticated caller.
    pub(super) fn set(&self, user: UserId) {
        *self.lock() = Some(user);
    }
}

/// Writes the refusal entries, throttled to one per caller and kind per minute in this
/// process; the middleware [`audit`] runs with it as its state.
pub(super) struct RefusalAuditor {
    throttle: MemoryRateLimiter,
    auditor: Auditor,
    trusted_proxies: Vec<ipnet::IpNet>,
}

impl RefusalAuditor {
    /// Writes through `auditor`, reading clients as `extract::Client` does.
    pub(super) fn new(auditor: Auditor, trusted_proxies: Vec<ipnet::IpNet>) -> Self {
        Self {
            throttle: MemoryRateLimiter::new(),
            auditor,
            trusted_proxies,
        }
    }
}

/// What the entry of a refusal needs from the request, kept cheaply (reference-counted
/// values, no parsing) since nearly every request is not refused.
struct Head {
    method: Method,
    route: Option<MatchedPath>,
    peer: Option<IpAddr>,
    user_agent: Option<HeaderValue>,
    forwarded_for: Vec<HeaderValue>,
}

impl Head {
    fn of(request: &Request) -> Self {
        let headers = request.headers();
        Self {
            method: request.method().clone(),
            route: request.extensions().get::<MatchedPath>().cloned(),
            peer: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
            user_agent: headers.get(header::USER_AGENT).cloned(),
            forwarded_for: headers.get_all(X_FORWARDED_FOR).iter().cloned().collect(),
        }
    }

    fn client(self, trusted: &[ipnet::IpNet]) -> ClientInfo {
        let mut headers = HeaderMap::new();
        if let Some(user_agent) = self.user_agent {
            headers.insert(header::USER_AGENT, user_agent);
        }
        for hop in self.forwarded_for {
            headers.append(X_FORWARDED_FOR, hop);
        }
        client_info(self.peer, &headers, trusted)
    }
}

/// Middleware: gives the request a [`CallerSlot`] and, if the answer refuses an
/// authenticated caller, writes the entry (unless throttled). A failed write is logged;
/// the refusal is answered either way.
pub(super) async fn audit(
    State(refusals): State<Arc<RefusalAuditor>>,
    mut request: Request,
    next: Next,
) -> Response {
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let head = Head::of(&request);
    let response = next.run(request).await;
    let action = match response.extensions().get::<ErrorCode>() {
        Some(ErrorCode("forbidden")) => "auth.forbidden",
        Some(ErrorCode("rate_limited")) => "auth.rate_limited",
        _ => return response,
    };
    let Some(caller) = *slot.lock() else {
        return response;
    };
    let key = format!("{action}:{caller}");
    if let RateDecision::Limited { .. } = refusals.throttle.check(&key, AUDIT_ONCE_PER).await {
        return response;
    }
    let mut event = AuditEvent::new(action)
        .by(caller)
        .failed(action.trim_start_matches("auth."))
        .with("method", head.method.as_str())
        .with("route", head.route.as_ref().map_or("", MatchedPath::as_str));
    if let Some(LackedPermission(permission)) = response.extensions().get() {
        event = event.with("permission", *permission);
    }
    let client = head.client(&refusals.trusted_proxies);
    if let Err(err) = refusals.auditor.record(event, &client).await {
        tracing::warn!(error = %err, action, "cannot audit a refusal");
    }
    response
}
