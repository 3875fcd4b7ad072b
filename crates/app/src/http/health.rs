//! `GET /health/live` (the process answers) and `GET /health/ready` (and so does the
//! database), for orchestrators and load balancers.

use super::error::ApiError;
use super::error::doc::Unavailable;
use super::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

#[derive(Serialize, ToSchema)]
struct Health {
    /// `live` or `ready`.
    #[schema(example = "ready")]
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = Health,
        example = json!({"status": "live"})))
)]
async fn live() -> Json<Health> {
    Json(Health { status: "live" })
}

/// Readiness: the process and its database answer.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Health,
            example = json!({"status": "ready"})),
        (status = 503, response = Unavailable),
    )
)]
async fn ready(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match state.readiness.check().await {
        Ok(()) => Ok(Json(Health { status: "ready" })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::Unavailable)
        }
    }
}
