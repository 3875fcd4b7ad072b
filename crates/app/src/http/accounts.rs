//! Making and changing accounts as an operator (SPEC.md section 4.2): `POST` a new one,
//! `PATCH` names and status, soft `DELETE`, `unlock`. The domain checks the permissions; `DELETE` and `unlock` ask
//! for theirs before reading the id, so a refusal is answered before a malformed one.

use super::body::AdminUserResponse;
use super::error::ApiError;
use super::error::doc::ErrorBody;
use super::extract::{ApiJson, Authenticated, Client, IdPath};
use super::kind;
use super::params::UserPath;
use super::state::AppState;
use auth_domain::permission::{USERS_DELETE, USERS_WRITE};
use auth_domain::{AccountChanges, Registration};
use auth_ports::{Password, UserId, UserStatus};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/users", post(create_user))
        .route(
            "/v1/admin/users/{id}",
            patch(update_user).delete(delete_user),
        )
        .route("/v1/admin/users/{id}/unlock", post(unlock_user))
}

/// An account an operator makes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateUserRequest {
    #[schema(example = "ada@example.com", max_length = 254)]
    email: String,
    /// The rules of a registration apply (`PASSWORD_MIN_LENGTH`, no common password).
    #[schema(example = "correct horse battery staple", max_length = 128)]
    password: String,
    #[schema(max_length = 100)]
    first_name: Option<String>,
    #[schema(max_length = 100)]
    last_name: Option<String>,
    /// The role's name; `user` when absent. Naming one needs `roles:assign` and every
    /// permission of the role.
    #[schema(example = "moderator")]
    role: Option<String>,
}

/// Creates an active account with a verified email (the operator vouches for it) and
/// the given role, audited as `user.register` by the caller (`details.via = "admin"`).
/// Needs `users:write`.
#[utoipa::path(
    post,
    path = "/v1/admin/users",
    tag = "admin",
    security(("session" = [])),
    request_body = CreateUserRequest,
    responses(
        kind::Guarded, kind::JsonBody,
        (status = 201, description = "The new user", body = AdminUserResponse),
        (status = 403, description = "The caller lacks `users:write`, or names a role without `roles:assign` or a permission of the role (`forbidden`)", body = ErrorBody),
        (status = 409, description = "The email is registered already (`email_taken`)", body = ErrorBody),
    )
)]
async fn create_user(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    body: Result<ApiJson<CreateUserRequest>, ApiError>,
) -> Result<(StatusCode, Json<AdminUserResponse>), ApiError> {
    principal.require(USERS_WRITE)?;
    let ApiJson(body) = body?;
    let registration = Registration {
        email: body.email,
        password: Password::new(body.password),
        first_name: body.first_name,
        last_name: body.last_name,
    };
    let user = state
        .admin
        .create_user(&principal, registration, body.role, &client)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AdminUserResponse { user: user.into() }),
    ))
}

/// A change to an account; absent fields stay as they are, a `null` or blank name
/// clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateUserRequest {
    /// `active`, `inactive` or `suspended` (needs `users:suspend`); leaving `active`
    /// revokes the user's sessions.
    #[schema(value_type = Option<String>)]
    status: Option<UserStatus>,
    /// Needs `users:write`.
    #[serde(default, deserialize_with = "super::extract::explicit")]
    #[schema(value_type = Option<String>)]
    first_name: Option<Option<String>>,
    /// Needs `users:write`.
    #[serde(default, deserialize_with = "super::extract::explicit")]
    #[schema(value_type = Option<String>)]
    last_name: Option<Option<String>>,
}

/// Changes an account's names (`users:write`) and/or status (`users:suspend`), audited as
/// `user.update` and `user.suspend`. The last active admin cannot leave `active`.
#[utoipa::path(
    patch,
    path = "/v1/admin/users/{id}",
    tag = "admin",
    security(("session" = [])),
    params(UserPath),
    request_body = UpdateUserRequest,
    responses(
        kind::Guarded, kind::JsonBody,
        (status = 200, description = "The changed user", body = AdminUserResponse),
        (status = 403, description = "The caller lacks `users:write` or `users:suspend` (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
        (status = 409, description = "The last active admin cannot leave `active` (`last_admin`)", body = ErrorBody),
    )
)]
async fn update_user(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> Result<Json<AdminUserResponse>, ApiError> {
    let changes = AccountChanges {
        first_name: body.first_name,
        last_name: body.last_name,
        status: body.status,
    };
    let user = state
        .admin
        .update_user(&principal, UserId(id), changes, &client)
        .await?;
    Ok(Json(AdminUserResponse { user: user.into() }))
}

/// Soft-deletes an account (`user.delete`): status `deleted`, every session revoked.
/// Needs `users:delete`; the last active admin cannot be deleted.
#[utoipa::path(
    delete,
    path = "/v1/admin/users/{id}",
    tag = "admin",
    security(("session" = [])),
    params(UserPath),
    responses(
        kind::Guarded,
        (status = 204, description = "Deleted (or deleted already)"),
        (status = 403, description = "The caller lacks `users:delete` (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
        (status = 409, description = "The last active admin cannot be deleted (`last_admin`)", body = ErrorBody),
    )
)]
async fn delete_user(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    id: Result<IdPath, ApiError>,
) -> Result<StatusCode, ApiError> {
    principal.require(USERS_DELETE)?;
    let IdPath(id) = id?;
    state
        .admin
        .delete_user(&principal, UserId(id), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts a lockout and clears the failure count (`user.unlock`). Needs `users:write`, and
/// `*` to unlock a holder of `*`.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{id}/unlock",
    tag = "admin",
    security(("session" = [])),
    params(UserPath),
    responses(
        kind::Guarded,
        (status = 204, description = "Unlocked"),
        (status = 403, description = "The caller lacks `users:write`, or the user holds `*` and the caller does not (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
    )
)]
async fn unlock_user(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    id: Result<IdPath, ApiError>,
) -> Result<StatusCode, ApiError> {
    principal.require(USERS_WRITE)?;
    let IdPath(id) = id?;
    state
        .admin
        .unlock_user(&principal, UserId(id), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
