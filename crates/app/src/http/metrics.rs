//! `GET /metrics` in the Prometheus text format: login outcomes, request latency per
//! route, and mail delivery. The registry belongs to the server (no global), so several servers can share a
//! process.

use super::error::ApiError;
use super::error::doc::Internal;
use crate::adapters::MailCounters;
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

impl Metrics {
    /// The server's metrics, with the mail worker's `mail` counters.
    #[must_use]
    pub fn new(mail: &MailCounters) -> Self {
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
        let mail_metrics = registry.sub_registry_with_prefix("mail");
        mail_metrics.register("sent", "Messages delivered", mail.sent.clone());
        mail_metrics.register(
            "retries",
            "Failed delivery attempts followed by a retry",
            mail.retried.clone(),
        );
        mail_metrics.register(
            "failed",
            "Messages given up after their last attempt",
            mail.failed.clone(),
        );
        mail_metrics.register(
            "outbox_queued",
            "Messages waiting in the outbox, as the delivery worker last saw it",
            mail.queued.clone(),
        );
        mail_metrics.register(
            "outbox_failed",
            "Given-up messages kept in the outbox, as the delivery worker last saw it",
            mail.kept_failed.clone(),
        );
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

/// The server's metrics in the OpenMetrics text format, for Prometheus.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Login outcomes and request latency per route",
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
