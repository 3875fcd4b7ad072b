//! `GET /metrics` in the Prometheus text format: login outcomes, request latency per
//! route, sessions and lockouts, the password-hashing queue, the database pools, the rate
//! limiter's Redis fallback and mail delivery. The registry belongs to the server (no
//! global), so several servers can share a process.

mod pools;

use super::error::ApiError;
use super::error::doc::Internal;
use crate::adapters::{AuthCounters, FallbackMetrics, HashQueueMetrics, MailCounters};
use auth_sea_orm::Store;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// The server's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    logins: Family<LoginLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
}

/// What the metrics show besides the HTTP layer's own: the parts of the server that
/// count, and the database, whose pools are read at each scrape.
pub struct MetricSources {
    /// The mail worker's counters.
    pub mail: MailCounters,
    /// The password hasher's queue.
    pub hashing: HashQueueMetrics,
    /// The Redis rate limiter's fallback; `None` without `REDIS_URL` (nothing to fall
    /// back from, so no such metrics).
    pub rate_limit: Option<FallbackMetrics>,
    /// Sessions opened and revoked, and lockouts.
    pub auth: AuthCounters,
    /// The database.
    pub store: Store,
}

impl Metrics {
    /// The server's metrics, over `sources`.
    #[must_use]
    pub fn new(sources: MetricSources) -> Self {
        let mut registry = Registry::with_prefix("authd");
        let logins = Family::<LoginLabels, Counter>::default();
        registry.register("logins", "Login attempts by outcome", logins.clone());
        // 0.5 ms … ~16 s: session checks are sub-millisecond, logins tens of ms.
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route and status",
            latency.clone(),
        );
        register_auth(&mut registry, sources.auth);
        register_hashing(&mut registry, sources.hashing);
        if let Some(fallback) = sources.rate_limit {
            register_rate_limit(&mut registry, fallback);
        }
        registry.register_collector(Box::new(pools::PoolCollector::new(sources.store)));
        register_mail(&mut registry, sources.mail);
        Self {
            registry: Arc::new(registry),
            logins,
            latency,
        }
    }

    /// Counts one login attempt.
    pub fn login(&self, success: bool) {
        let outcome = if success { "success" } else { "failure" };
        self.logins.get_or_create(&LoginLabels { outcome }).inc();
    }
}

fn register_auth(registry: &mut Registry, auth: AuthCounters) {
    registry.register(
        "sessions_created",
        "Sessions opened (password, second-factor, passkey and provider logins)",
        auth.sessions_created,
    );
    registry.register(
        "sessions_revoked",
        "Sessions revoked by a logout, a revoked session, logout everywhere or a password \
         change (not those ended by a password reset or an account leaving active)",
        auth.sessions_revoked,
    );
    registry.register(
        "lockouts",
        "Locks set by failed password or second-factor answers, by scope (source or account)",
        auth.lockouts,
    );
}

fn register_hashing(registry: &mut Registry, hashing: HashQueueMetrics) {
    let hash = registry.sub_registry_with_prefix("password_hash");
    hash.register(
        "queue_depth",
        "Calls waiting for a password-hashing thread",
        hashing.queued,
    );
    hash.register(
        "queue_wait_seconds",
        "How long each call waited for a password-hashing thread",
        hashing.waited,
    );
    hash.register(
        "refused",
        "Calls answered 503 by the password hasher: queue_full (at once) or queue_timeout \
         (after waiting)",
        hashing.refused,
    );
}

fn register_rate_limit(registry: &mut Registry, fallback: FallbackMetrics) {
    let limits = registry.sub_registry_with_prefix("rate_limit");
    limits.register(
        "fallback_active",
        "1 while rate limits are counted in-process because Redis fails, 0 on Redis",
        fallback.active,
    );
    limits.register(
        "fallbacks",
        "Switches from Redis to in-process rate limits (a start without Redis included)",
        fallback.switches,
    );
}

fn register_mail(registry: &mut Registry, mail: MailCounters) {
    let mail_metrics = registry.sub_registry_with_prefix("mail");
    mail_metrics.register("sent", "Messages delivered", mail.sent);
    mail_metrics.register(
        "retries",
        "Failed delivery attempts followed by a retry",
        mail.retried,
    );
    mail_metrics.register(
        "failed",
        "Messages given up after their last attempt",
        mail.failed,
    );
    mail_metrics.register(
        "outbox_queued",
        "Messages waiting in the outbox, as the delivery worker last saw it",
        mail.queued,
    );
    mail_metrics.register(
        "outbox_failed",
        "Given-up messages kept in the outbox, as the delivery worker last saw it",
        mail.kept_failed,
    );
}

/// Middleware timing every request by its route template (never the raw path, which
/// would make ids into labels).
pub(super) async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    // A fixed set: any other method would let clients mint label values at will.
    let method = match request.method().as_str() {
        known @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => known,
        _ => "OTHER",
    }
    .to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = RequestLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    metrics
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The server's metrics in the OpenMetrics text format, for Prometheus (every one, with
/// what to alert on, in docs/operations.md, "Monitoring"):
///
/// - `authd_logins_total{outcome}`, `authd_http_request_duration_seconds{method,route,status}`;
/// - `authd_sessions_created_total`, `authd_sessions_revoked_total` (logouts, revoked
///   sessions, logout everywhere, password changes; not password resets or accounts
///   leaving `active`, whose store calls do not say how many), `authd_lockouts_total{scope}`;
/// - `authd_password_hash_queue_depth`, `authd_password_hash_queue_wait_seconds`,
///   `authd_password_hash_refused_total{reason}` (`queue_full`, `queue_timeout`);
/// - `authd_db_pool_{open,idle,in_use,max,kept}_connections{pool}` (`main`, and `batch`
///   on PostgreSQL), read at the scrape; sqlx counts no waiting callers, so there is no
///   such gauge: all connections in use means callers wait;
/// - with `REDIS_URL`: `authd_rate_limit_fallback_active`, `authd_rate_limit_fallbacks_total`;
/// - `authd_mail_{sent,retries,failed}_total`, `authd_mail_outbox_{queued,failed}`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Logins, request latency per route, sessions and \
            lockouts, the password-hashing queue, the database pools, the rate limiter's \
            Redis fallback and mail delivery",
            body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 500, response = Internal),
    )
)]
pub(super) async fn render(State(metrics): State<Arc<Metrics>>) -> Response {
    let mut body = String::new();
    if encode(&mut body, &metrics.registry).is_err() {
        return ApiError::Internal.into_response();
    }
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}
