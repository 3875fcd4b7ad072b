//! The caller's own account as a whole: `DELETE /v1/auth/account` erases it, `GET
//! /v1/auth/account/export` gives everything authd holds about it.

use super::admin::AuditEntryBody;
use super::auth::SessionBody;
use super::body::UserBody;
use super::error::ApiError;
use super::error::doc::ErrorBody;
use super::extract::{ApiJson, Authenticated, Client};
use super::kind;
use super::mfa::FactorsResponse;
use super::oauth::AccountBody;
use super::state::AppState;
use auth_ports::Password;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/account", delete(delete_account))
        .route("/v1/auth/account/export", get(export_account))
}

/// The confirmation of an account's deletion.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DeleteAccountRequest {
    /// The account's password; an account without one sends `{}` from a session
    /// authenticated within the last 5 minutes.
    password: Option<String>,
}

/// Erases the caller's account: email, names and password are gone, every session,
/// role, provider link and second factor is deleted, the audit trail stays
/// (`user.delete`, `details.via = "self"`). The last active admin cannot.
#[utoipa::path(
    delete,
    path = "/v1/auth/account",
    tag = "auth",
    request_body = DeleteAccountRequest,
    security(("session" = [])),
    responses(
        kind::Session, kind::JsonBody, kind::Limited,
        (status = 204, description = "Erased; the session is gone with the others"),
        (status = 403, description = "The password is wrong (`invalid_credentials`), or an \
            account without one was authenticated more than 5 minutes ago \
            (`reauthentication_required`)", body = ErrorBody),
        (status = 409, description = "The caller is the last active admin (`last_admin`)",
            body = ErrorBody),
        (status = 423, description = "Too many wrong passwords (`account_locked`)",
            body = ErrorBody),
    )
)]
async fn delete_account(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<DeleteAccountRequest>,
) -> Result<StatusCode, ApiError> {
    let password = body.password.map(Password::new);
    state
        .auth
        .delete_own_account(&principal, password.as_ref(), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything authd holds about the caller (no password hash, no token, no secret).
#[derive(Serialize, ToSchema)]
pub(super) struct AccountExport {
    user: UserBody,
    roles: Vec<String>,
    permissions: Vec<String>,
    sessions: Vec<SessionBody>,
    oauth_accounts: Vec<AccountBody>,
    mfa: FactorsResponse,
    /// Entries the caller made or that are about the caller, newest first (the newest
    /// 10,000 of each; older ones are removed after `AUDIT_RETENTION_DAYS` anyway).
    audit_trail: Vec<AuditEntryBody>,
}

/// The caller's own data as JSON: profile, roles, sessions, provider links, second
/// factors and audit trail. Needs a session authenticated within the last 5 minutes,
/// since it shows where the account was used from.
#[utoipa::path(
    get,
    path = "/v1/auth/account/export",
    tag = "auth",
    security(("session" = [])),
    responses(
        kind::Session,
        (status = 200, description = "The caller's data", body = AccountExport),
        (status = 403, description = "The session was authenticated more than 5 minutes ago \
            (`reauthentication_required`)", body = ErrorBody),
    )
)]
async fn export_account(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<AccountExport>, ApiError> {
    state
        .auth
        .require_fresh(&principal)
        .map_err(|_| ApiError::ReauthenticationRequired)?;
    let sessions = state.auth.sessions(&principal).await?;
    let oauth_accounts = state.oauth.accounts(&principal).await?;
    let mfa = state.auth.factors(&principal).await?;
    let audit_trail = state.auth.own_trail(&principal).await?;
    Ok(Json(AccountExport {
        user: principal.user.into(),
        roles: principal.roles,
        permissions: principal.permissions,
        sessions: sessions.into_iter().map(SessionBody::from).collect(),
        oauth_accounts: oauth_accounts.into_iter().map(AccountBody::from).collect(),
        mfa: mfa.into(),
        audit_trail: audit_trail.into_iter().map(AuditEntryBody::from).collect(),
    }))
}
