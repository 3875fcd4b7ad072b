//! `/v1/admin/roles`: role management (SPEC.md section 4.2), read with `roles:read`,
//! changed with `roles:write`, assigned with `roles:assign`. The domain checks them; a
//! handler asks for its permission before reading its input, so a refusal is answered
//! before a malformed id or body.

use super::error::ApiError;
use super::error::doc::ErrorBody;
use super::extract::{ApiJson, Authenticated, Client, IdPairPath, IdPath};
use super::kind;
use super::params::{RolePath, UserRolePath};
use super::state::AppState;
use auth_domain::RoleChanges;
use auth_domain::permission::{ROLES_ASSIGN, ROLES_READ, ROLES_WRITE};
use auth_ports::{Role, RoleId, UserId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::openapi::{RefOr, Response};
use utoipa::{IntoResponses, ToSchema};
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/roles", get(list_roles).post(create_role))
        .route(
            "/v1/admin/roles/{id}",
            get(get_role).patch(update_role).delete(delete_role),
        )
        .route(
            "/v1/admin/users/{id}/roles/{role_id}",
            put(assign_role).delete(unassign_role),
        )
}

/// A role as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Role)]
pub(super) struct RoleBody {
    id: Uuid,
    name: String,
    description: Option<String>,
    permissions: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Role> for RoleBody {
    fn from(role: Role) -> Self {
        Self {
            id: role.id.0,
            name: role.name,
            description: role.description,
            permissions: role.permissions,
            created_at: role.created_at,
            updated_at: role.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(super) struct RoleResponse {
    role: RoleBody,
}

#[derive(Serialize, ToSchema)]
pub(super) struct RolesResponse {
    roles: Vec<RoleBody>,
}

/// A new role.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateRoleRequest {
    /// Lowercase `[a-z0-9_-]`, at most 64 characters.
    name: String,
    description: Option<String>,
    /// `resource:action`, `resource:*` or `*`.
    permissions: Vec<String>,
}

/// A change to a role; absent fields stay as they are, `description: null` clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateRoleRequest {
    name: Option<String>,
    #[serde(default, deserialize_with = "super::extract::explicit")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    permissions: Option<Vec<String>>,
}

/// Every role, by name. Needs `roles:read`.
#[utoipa::path(
    get,
    path = "/v1/admin/roles",
    tag = "admin",
    security(("session" = [])),
    responses(
        kind::Guarded,
        (status = 200, description = "The roles", body = RolesResponse),
        (status = 403, description = "The caller lacks `roles:read` (`forbidden`)", body = ErrorBody),
    )
)]
async fn list_roles(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<RolesResponse>, ApiError> {
    let roles = state.rbac.list(&caller).await?;
    Ok(Json(RolesResponse {
        roles: roles.into_iter().map(RoleBody::from).collect(),
    }))
}

/// One role. Needs `roles:read`.
#[utoipa::path(
    get,
    path = "/v1/admin/roles/{id}",
    tag = "admin",
    security(("session" = [])),
    params(RolePath),
    responses(
        kind::Guarded,
        (status = 200, description = "The role", body = RoleResponse),
        (status = 403, description = "The caller lacks `roles:read` (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such role (`not_found`)", body = ErrorBody),
    )
)]
async fn get_role(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    id: Result<IdPath, ApiError>,
) -> Result<Json<RoleResponse>, ApiError> {
    caller.require(ROLES_READ)?;
    let IdPath(id) = id?;
    let role = state.rbac.get(&caller, RoleId(id)).await?;
    Ok(Json(RoleResponse { role: role.into() }))
}

/// Creates a role (`role.create`). Needs `roles:write`.
#[utoipa::path(
    post,
    path = "/v1/admin/roles",
    tag = "admin",
    security(("session" = [])),
    request_body = CreateRoleRequest,
    responses(
        kind::Guarded, kind::JsonBody,
        (status = 201, description = "The new role", body = RoleResponse),
        (status = 403, description = "The caller lacks `roles:write` or a permission the change grants or takes away (`forbidden`)", body = ErrorBody),
        (status = 409, description = "A role has that name (`role_exists`)", body = ErrorBody),
    )
)]
async fn create_role(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    body: Result<ApiJson<CreateRoleRequest>, ApiError>,
) -> Result<(StatusCode, Json<RoleResponse>), ApiError> {
    principal.require(ROLES_WRITE)?;
    let ApiJson(body) = body?;
    let changes = RoleChanges {
        name: Some(body.name),
        description: Some(body.description),
        permissions: Some(body.permissions),
    };
    let role = state.rbac.create(&principal, changes, &client).await?;
    Ok((
        StatusCode::CREATED,
        Json(RoleResponse { role: role.into() }),
    ))
}

/// Changes a role (`role.update`); the `admin` role keeps its name and `*`. Needs
/// `roles:write`.
#[utoipa::path(
    patch,
    path = "/v1/admin/roles/{id}",
    tag = "admin",
    security(("session" = [])),
    params(RolePath),
    request_body = UpdateRoleRequest,
    responses(
        kind::Guarded, kind::JsonBody,
        (status = 200, description = "The changed role", body = RoleResponse),
        (status = 403, description = "The caller lacks `roles:write` or a permission the change grants or takes away (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such role (`not_found`)", body = ErrorBody),
        (status = 409, description = "`role_exists`, or `protected_role` for the admin role", body = ErrorBody),
    )
)]
async fn update_role(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    id: Result<IdPath, ApiError>,
    body: Result<ApiJson<UpdateRoleRequest>, ApiError>,
) -> Result<Json<RoleResponse>, ApiError> {
    principal.require(ROLES_WRITE)?;
    let (IdPath(id), ApiJson(body)) = (id?, body?);
    let changes = RoleChanges {
        name: body.name,
        description: body.description,
        permissions: body.permissions,
    };
    let role = state
        .rbac
        .update(&principal, RoleId(id), changes, &client)
        .await?;
    Ok(Json(RoleResponse { role: role.into() }))
}

/// Deletes a role and its assignments (`role.delete`); never the `admin` role. Needs
/// `roles:write`.
#[utoipa::path(
    delete,
    path = "/v1/admin/roles/{id}",
    tag = "admin",
    security(("session" = [])),
    params(RolePath),
    responses(
        kind::Guarded,
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller lacks `roles:write` or a permission the change grants or takes away (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such role (`not_found`)", body = ErrorBody),
        (status = 409, description = "The admin role (`protected_role`)", body = ErrorBody),
    )
)]
async fn delete_role(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    id: Result<IdPath, ApiError>,
) -> Result<StatusCode, ApiError> {
    principal.require(ROLES_WRITE)?;
    let IdPath(id) = id?;
    state.rbac.delete(&principal, RoleId(id), &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The refusals of giving and taking back a role.
struct AssignmentRefusals;

impl IntoResponses for AssignmentRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        kind::error_answers(&[
            (
                "403",
                "The caller lacks `roles:assign` or a permission of the role, or the user holds `*` and the caller does not (`forbidden`)",
            ),
            ("404", "No such user or role (`not_found`)"),
        ])
    }
}

/// Gives the user the role (`role.assign`; 204 again when already held), with the caller
/// as `assigned_by`. Needs `roles:assign`.
#[utoipa::path(
    put,
    path = "/v1/admin/users/{id}/roles/{role_id}",
    tag = "admin",
    security(("session" = [])),
    params(UserRolePath),
    responses(
        kind::Guarded,
        (status = 204, description = "The user holds the role"),
        AssignmentRefusals,
    )
)]
async fn assign_role(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ids: Result<IdPairPath, ApiError>,
) -> Result<StatusCode, ApiError> {
    principal.require(ROLES_ASSIGN)?;
    let IdPairPath(user, role) = ids?;
    state
        .rbac
        .assign(&principal, UserId(user), RoleId(role), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes the role from the user (`role.unassign`; 204 also when not held). The last
/// active holder of `admin` keeps it. Needs `roles:assign`.
#[utoipa::path(
    delete,
    path = "/v1/admin/users/{id}/roles/{role_id}",
    tag = "admin",
    security(("session" = [])),
    params(UserRolePath),
    responses(
        kind::Guarded,
        (status = 204, description = "The user does not hold the role"),
        AssignmentRefusals,
        (status = 409, description = "The last active admin (`last_admin`)", body = ErrorBody),
    )
)]
async fn unassign_role(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ids: Result<IdPairPath, ApiError>,
) -> Result<StatusCode, ApiError> {
    principal.require(ROLES_ASSIGN)?;
    let IdPairPath(user, role) = ids?;
    state
        .rbac
        .unassign(&principal, UserId(user), RoleId(role), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
