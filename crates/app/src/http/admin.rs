//! `/v1/admin/*`: the operator's API (SPEC.md section 4.2). The domain checks the
//! permission each route needs; a handler asks for it before reading its input, so a
//! refusal is answered before a malformed query or id.

use super::body::{AdminUserResponse, UserBody};
use super::error::ApiError;
use super::error::doc::ErrorBody;
use super::extract::{ApiQuery, Authenticated, IdPath};
use super::kind;
use super::params::UserPath;
use super::state::AppState;
use auth_domain::UserFilter;
use auth_domain::permission::{AUDIT_READ, USERS_READ};
use auth_ports::{
    AuditCursor, AuditEntry, AuditEntryId, AuditQuery, UserCursor, UserId, UserStatus,
};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/users", get(list_users))
        .route("/v1/admin/users/{id}", get(get_user))
        .route("/v1/admin/audit-logs", get(audit_logs))
        .route("/v1/admin/audit-logs/stats", get(audit_stats))
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

/// The opaque form of a cursor: base64url of `<RFC 3339 time>|<id>`.
fn encode_cursor(created_at: DateTime<Utc>, id: impl std::fmt::Display) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", created_at.to_rfc3339()))
}

/// The time and id a cursor holds.
fn decode_cursor<I: std::str::FromStr>(raw: &str) -> Result<(DateTime<Utc>, I), ApiError> {
    let invalid = || ApiError::invalid("cursor", "is not a cursor from this API");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (time, id) = text.split_once('|').ok_or_else(invalid)?;
    let created_at = DateTime::parse_from_rfc3339(time)
        .map_err(|_| invalid())?
        .with_timezone(&Utc);
    Ok((created_at, id.parse().map_err(|_| invalid())?))
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
        kind::Guarded, kind::Query,
        (status = 200, description = "A page of users", body = UsersPage),
        (status = 403, description = "The caller lacks `users:read` (`forbidden`)", body = ErrorBody),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    query: Result<ApiQuery<ListUsersQuery>, ApiError>,
) -> Result<Json<UsersPage>, ApiError> {
    caller.require(USERS_READ)?;
    let ApiQuery(query) = query?;
    let status = query
        .status
        .map(|s| {
            s.parse::<UserStatus>()
                .map_err(|_| ApiError::invalid("status", "is not a user status"))
        })
        .transpose()?;
    let after = query
        .cursor
        .as_deref()
        .map(decode_cursor::<Uuid>)
        .transpose()?
        .map(|(created_at, id)| UserCursor {
            created_at,
            id: UserId(id),
        });
    let filter = UserFilter {
        status,
        email_contains: query.email.filter(|e| !e.is_empty()),
    };
    let page = state
        .admin
        .list_users(&caller, filter, query.limit, after)
        .await?;
    Ok(Json(UsersPage {
        users: page.users.into_iter().map(UserBody::from).collect(),
        next_cursor: page.next.map(|c| encode_cursor(c.created_at, c.id)),
    }))
}

/// One user. Needs `users:read`.
#[utoipa::path(
    get,
    path = "/v1/admin/users/{id}",
    tag = "admin",
    security(("session" = [])),
    params(UserPath),
    responses(
        kind::Guarded,
        (status = 200, description = "The user", body = AdminUserResponse),
        (status = 403, description = "The caller lacks `users:read` (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
    )
)]
async fn get_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    id: Result<IdPath, ApiError>,
) -> Result<Json<AdminUserResponse>, ApiError> {
    caller.require(USERS_READ)?;
    let IdPath(id) = id?;
    let user = state.admin.get_user(&caller, UserId(id)).await?;
    Ok(Json(AdminUserResponse { user: user.into() }))
}

/// Filters and page of `GET /v1/admin/audit-logs`; every filter given must match.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditLogsQuery {
    /// The actor.
    user_id: Option<Uuid>,
    /// Event name, e.g. `auth.login`.
    action: Option<String>,
    /// Kind of the subject, e.g. `user`.
    resource_type: Option<String>,
    /// Id of the subject.
    resource_id: Option<String>,
    /// Client address.
    #[param(value_type = Option<String>)]
    ip: Option<IpAddr>,
    /// `true` or `false`.
    success: Option<bool>,
    /// At or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Page size, clamped to 1..=200; 50 when absent.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One audit entry: who (`user_id`, the actor) did what (`action`) to what
/// (`resource_type`/`resource_id`, the subject), from where, and how it went.
#[derive(Serialize, ToSchema)]
pub(super) struct AuditEntryBody {
    id: i64,
    user_id: Option<Uuid>,
    action: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    #[schema(value_type = Option<String>)]
    ip_address: Option<IpAddr>,
    user_agent: Option<String>,
    #[schema(value_type = Object)]
    details: serde_json::Value,
    success: bool,
    error_message: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditEntryBody {
    fn from(AuditEntry { id, entry: e }: AuditEntry) -> Self {
        Self {
            id: id.0,
            user_id: e.user_id.map(|id| id.0),
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            ip_address: e.ip_address,
            user_agent: e.user_agent,
            details: e.details,
            success: e.success,
            error_message: e.error_message,
            created_at: e.created_at,
        }
    }
}

/// A page of audit entries, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct AuditPageBody {
    entries: Vec<AuditEntryBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// The audit trail, newest first, filtered. Needs `audit:read`.
#[utoipa::path(
    get,
    path = "/v1/admin/audit-logs",
    tag = "admin",
    security(("session" = [])),
    params(AuditLogsQuery),
    responses(
        kind::Guarded, kind::Query,
        (status = 200, description = "A page of entries", body = AuditPageBody),
        (status = 403, description = "The caller lacks `audit:read` (`forbidden`)", body = ErrorBody),
    )
)]
async fn audit_logs(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    query: Result<ApiQuery<AuditLogsQuery>, ApiError>,
) -> Result<Json<AuditPageBody>, ApiError> {
    caller.require(AUDIT_READ)?;
    let ApiQuery(query) = query?;
    let after = query
        .cursor
        .as_deref()
        .map(decode_cursor::<i64>)
        .transpose()?
        .map(|(created_at, id)| AuditCursor {
            created_at,
            id: AuditEntryId(id),
        });
    let filter = AuditQuery {
        user_id: query.user_id.map(UserId),
        action: query.action,
        resource_type: query.resource_type,
        resource_id: query.resource_id,
        ip_address: query.ip,
        success: query.success,
        from: query.from,
        to: query.to,
        limit: 0,
        after,
    };
    let page = state
        .admin
        .audit_entries(&caller, filter, query.limit)
        .await?;
    Ok(Json(AuditPageBody {
        entries: page.entries.into_iter().map(AuditEntryBody::from).collect(),
        next_cursor: page.next.map(|c| encode_cursor(c.created_at, c.id)),
    }))
}

/// The period of `GET /v1/admin/audit-logs/stats`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditStatsQuery {
    /// At or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    to: Option<DateTime<Utc>>,
}

/// Entries per action.
#[derive(Serialize, ToSchema)]
pub(super) struct AuditStatsBody {
    counts: BTreeMap<String, u64>,
}

/// How many audit entries each action has in the period. Needs `audit:read`.
#[utoipa::path(
    get,
    path = "/v1/admin/audit-logs/stats",
    tag = "admin",
    security(("session" = [])),
    params(AuditStatsQuery),
    responses(
        kind::Guarded, kind::Query,
        (status = 200, description = "Counts per action", body = AuditStatsBody),
        (status = 403, description = "The caller lacks `audit:read` (`forbidden`)", body = ErrorBody),
    )
)]
async fn audit_stats(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    query: Result<ApiQuery<AuditStatsQuery>, ApiError>,
) -> Result<Json<AuditStatsBody>, ApiError> {
    caller.require(AUDIT_READ)?;
    let ApiQuery(query) = query?;
    let counts = state
        .admin
        .audit_counts(&caller, query.from, query.to)
        .await?;
    Ok(Json(AuditStatsBody { counts }))
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
        let (created_at, id) =
            decode_cursor::<Uuid>(&encode_cursor(cursor.created_at, cursor.id)).unwrap();
        assert_eq!(UserId(id), cursor.id);
        assert_eq!(created_at, cursor.created_at);
        for garbage in [
            "",
            "!!!",
            &URL_SAFE_NO_PAD.encode("no-separator"),
            &URL_SAFE_NO_PAD.encode("x|y"),
        ] {
            assert!(decode_cursor::<Uuid>(garbage).is_err(), "{garbage:?}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// The times RFC 3339 can write (years 0000 to 9999), to the nanosecond.
        fn time() -> impl Strategy<Value = DateTime<Utc>> {
            (-62_167_219_200_i64..=253_402_300_799, 0..1_000_000_000_u32)
                .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
        }

        /// What a client may send as `cursor`: arbitrary text, base64url of arbitrary
        /// bytes or of `time|id`-like text, and real cursors with one character changed.
        fn raw_cursor() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "[A-Za-z0-9_=+/-]{0,80}",
                proptest::collection::vec(any::<u8>(), 0..64)
                    .prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
                "[0-9T:.+Z-]{0,40}\\|-?[0-9a-f-]{0,40}".prop_map(|t| URL_SAFE_NO_PAD.encode(t)),
                (time(), -86_399..86_400_i32, "-?[0-9a-f-]{0,40}").prop_map(|(at, offset, id)| {
                    let offset = chrono::FixedOffset::east_opt(offset).unwrap();
                    URL_SAFE_NO_PAD
                        .encode(format!("{}|{id}", at.with_timezone(&offset).to_rfc3339()))
                }),
                (
                    time(),
                    any::<u128>(),
                    any::<prop::sample::Index>(),
                    "[A-Za-z0-9_-]"
                )
                    .prop_map(|(at, id, i, c)| {
                        let mut cursor = encode_cursor(at, Uuid::from_u128(id)).into_bytes();
                        let i = i.index(cursor.len());
                        cursor[i] = c.as_bytes()[0];
                        String::from_utf8(cursor).unwrap()
                    }),
            ]
        }

        /// Checks that `result` is a cursor or the documented 422 naming `cursor`, and
        /// that a cursor decoded from a client's text encodes to one that decodes the same
        /// (for times RFC 3339 can write: an offset can move a time out of them).
        fn decodes_or_is_refused<I>(
            result: Result<(DateTime<Utc>, I), ApiError>,
        ) -> Result<(), TestCaseError>
        where
            I: std::str::FromStr + std::fmt::Display + PartialEq + std::fmt::Debug + Copy,
        {
            match result {
                Ok((at, id)) if (0..=9999).contains(&chrono::Datelike::year(&at)) => {
                    let again =
                        decode_cursor::<I>(&encode_cursor(at, id)).map_err(|e| e.to_string());
                    prop_assert_eq!(again, Ok((at, id)));
                }
                Ok(_) => {}
                Err(ApiError::Validation(fields)) => prop_assert!(fields.keys().eq(["cursor"])),
                Err(other) => prop_assert!(false, "{:?}", other),
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn user_cursors_round_trip(at in time(), id in any::<u128>()) {
                let cursor = encode_cursor(at, Uuid::from_u128(id));
                prop_assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
                let decoded = decode_cursor::<Uuid>(&cursor).map_err(|e| e.to_string());
                prop_assert_eq!(decoded, Ok((at, Uuid::from_u128(id))));
            }

            #[test]
            fn audit_cursors_round_trip(at in time(), id in any::<i64>()) {
                let decoded = decode_cursor::<i64>(&encode_cursor(at, id)).map_err(|e| e.to_string());
                prop_assert_eq!(decoded, Ok((at, id)));
            }

            #[test]
            fn any_cursor_text_decodes_or_is_refused(raw in raw_cursor()) {
                decodes_or_is_refused(decode_cursor::<Uuid>(&raw))?;
                decodes_or_is_refused(decode_cursor::<i64>(&raw))?;
            }
        }
    }
}
