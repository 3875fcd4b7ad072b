//! `/v1/admin/*`: the operator's API (SPEC.md section 4.2). Each route names the
//! permission it needs in its signature ([`Authorized`]).

use super::auth::UserBody;
use super::extract::{ApiQuery, Authorized, IdPath, UsersRead};
use super::openapi::errors::{Internal, Unauthorized, Unavailable, ValidationFailed};
use super::{ApiError, AppState};
use auth_domain::UserFilter;
use auth_ports::{UserCursor, UserId, UserStatus};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/users", get(list_users))
        .route("/v1/admin/users/{id}", get(get_user))
}

/// Filters and page of `GET /v1/admin/users`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListUsersQuery {
    /// Only users in this status (`active`, `inactive`, `suspended`, `deleted`).
    status: Option<String>,
    /// Only users whose email contains this (case-insensitive).
    email: Option<String>,
    /// Page size, clamped to 1..=200; 50 when absent.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of users, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct UsersPage {
    users: Vec<UserBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct AdminUserResponse {
    user: UserBody,
}

/// The opaque form of a cursor: base64url of `<RFC 3339 time>|<uuid>`.
fn encode_cursor(cursor: &UserCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", cursor.created_at.to_rfc3339(), cursor.id))
}

fn decode_cursor(raw: &str) -> Result<UserCursor, ApiError> {
    let invalid = || ApiError::invalid("cursor", "is not a cursor from this API");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (time, id) = text.split_once('|').ok_or_else(invalid)?;
    Ok(UserCursor {
        created_at: DateTime::parse_from_rfc3339(time)
            .map_err(|_| invalid())?
            .with_timezone(&Utc),
        id: UserId(id.parse().map_err(|_| invalid())?),
    })
}

/// Lists users, newest first, with cursor pagination that stays stable while users are
/// added. Needs `users:read`.
#[utoipa::path(
    get,
    path = "/v1/admin/users",
    tag = "admin",
    security(("session" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, description = "A page of users", body = UsersPage),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller lacks `users:read` (`forbidden`)", body = super::openapi::errors::ErrorBody),
        (status = 422, response = ValidationFailed),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    _: Authorized<UsersRead>,
    ApiQuery(query): ApiQuery<ListUsersQuery>,
) -> Result<Json<UsersPage>, ApiError> {
    let status = query
        .status
        .map(|s| {
            s.parse::<UserStatus>()
                .map_err(|_| ApiError::invalid("status", "is not a user status"))
        })
        .transpose()?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = UserFilter {
        status,
        email_contains: query.email.filter(|e| !e.is_empty()),
    };
    let page = state.admin.list_users(filter, query.limit, after).await?;
    Ok(Json(UsersPage {
        users: page.users.into_iter().map(UserBody::from).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

/// One user. Needs `users:read`.
#[utoipa::path(
    get,
    path = "/v1/admin/users/{id}",
    tag = "admin",
    security(("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = AdminUserResponse),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller lacks `users:read` (`forbidden`)", body = super::openapi::errors::ErrorBody),
        (status = 404, description = "No such user (`not_found`)", body = super::openapi::errors::ErrorBody),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn get_user(
    State(state): State<AppState>,
    _: Authorized<UsersRead>,
    IdPath(id): IdPath,
) -> Result<Json<AdminUserResponse>, ApiError> {
    let user = state.admin.get_user(UserId(id)).await?;
    Ok(Json(AdminUserResponse { user: user.into() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let at = DateTime::parse_from_rfc3339("2026-11-27T12:34:56.123456Z").unwrap();
        let cursor = UserCursor {
            created_at: at.with_timezone(&Utc),
            id: UserId::new(),
        };
        let decoded = decode_cursor(&encode_cursor(&cursor)).unwrap();
        assert_eq!(decoded.id, cursor.id);
        assert_eq!(decoded.created_at, cursor.created_at);
        for garbage in [
            "",
            "!!!",
            &URL_SAFE_NO_PAD.encode("no-separator"),
            &URL_SAFE_NO_PAD.encode("x|y"),
        ] {
            assert!(decode_cursor(garbage).is_err(), "{garbage:?}");
        }
    }
}
