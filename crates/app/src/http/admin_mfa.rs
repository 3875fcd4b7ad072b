//! `/v1/admin/users/{id}/mfa`: which second factors a user has, and resetting them for a
//! user who lost every factor and recovery code.

use super::error::ApiError;
use super::error::doc::ErrorBody;
use super::extract::{Authenticated, Client, IdPath};
use super::kind;
use super::mfa::FactorsResponse;
use super::params::UserPath;
use super::state::AppState;
use auth_domain::permission::{USERS_READ, USERS_WRITE};
use auth_ports::UserId;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/admin/users/{id}/mfa", get(factors).delete(reset))
}

/// A user's second factors (never a secret). Needs `users:read`.
#[utoipa::path(
    get,
    path = "/v1/admin/users/{id}/mfa",
    tag = "admin",
    security(("session" = [])),
    params(UserPath),
    responses(
        kind::Guarded,
        (status = 200, description = "The user's second factors", body = FactorsResponse),
        (status = 403, description = "The caller lacks `users:read` (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
    )
)]
async fn factors(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    id: Result<IdPath, ApiError>,
) -> Result<Json<FactorsResponse>, ApiError> {
    caller.require(USERS_READ)?;
    let IdPath(id) = id?;
    let factors = state.admin.user_factors(&caller, UserId(id)).await?;
    Ok(Json(factors.into()))
}

/// Removes every second factor of a user (`mfa.reset`): their next login needs only the
/// password. Needs `users:write`, and `*` to reset a holder of `*`.
#[utoipa::path(
    delete,
    path = "/v1/admin/users/{id}/mfa",
    tag = "admin",
    security(("session" = [])),
    params(UserPath),
    responses(
        kind::Guarded,
        (status = 204, description = "Reset"),
        (status = 403, description = "The caller lacks `users:write`, or the user holds `*` and the caller does not (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
    )
)]
async fn reset(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    id: Result<IdPath, ApiError>,
) -> Result<StatusCode, ApiError> {
    principal.require(USERS_WRITE)?;
    let IdPath(id) = id?;
    state
        .admin
        .reset_mfa(&principal, UserId(id), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
