//! `/v1/auth/*`: registration, login, logout, the caller's profile, sessions and
//! password (SPEC.md section 4.1).

use super::extract::{ApiJson, Authenticated, Client, IdPath};
use super::{ApiError, AppState};
use auth_domain::{Principal, Registration, SessionView};
use auth_ports::{Password, SessionId, User, UserStatus};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/logout-all", post(logout_all))
        .route("/v1/auth/me", get(me))
        .route("/v1/auth/sessions", get(sessions))
        .route("/v1/auth/sessions/{id}", delete(revoke_session))
        .route("/v1/auth/password", post(change_password))
}

/// A user as the API shows it: never a hash, never a token.
#[derive(Debug, Serialize)]
pub struct UserBody {
    id: Uuid,
    email: String,
    status: UserStatus,
    email_verified: bool,
    first_name: Option<String>,
    last_name: Option<String>,
    created_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id.0,
            email: user.email.into(),
            status: user.status,
            email_verified: user.email_verified,
            first_name: user.first_name,
            last_name: user.last_name,
            created_at: user.created_at,
            last_login_at: user.last_login_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct UserResponse {
    user: UserBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    email: String,
    password: String,
    first_name: Option<String>,
    last_name: Option<String>,
}

async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let registration = Registration {
        email: body.email,
        password: Password::new(body.password),
        first_name: body.first_name,
        last_name: body.last_name,
    };
    let user = state.auth.register(registration, &client).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserResponse { user: user.into() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
struct LoginResponse {
    session_token: String,
    token_type: &'static str,
    expires_at: DateTime<Utc>,
    user: UserBody,
}

async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let outcome = state
        .auth
        .login(&body.email, &Password::new(body.password), &client)
        .await;
    state.metrics.login(outcome.is_ok());
    let success = outcome?;
    Ok(Json(LoginResponse {
        session_token: success.token.expose().to_owned(),
        token_type: "Bearer",
        expires_at: success.session.expires_at,
        user: success.user.into(),
    }))
}

async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.auth.logout(&principal, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logout_all(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.auth.logout_all(&principal, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct MeResponse {
    user: UserBody,
    roles: Vec<String>,
    permissions: Vec<String>,
}

async fn me(Authenticated(principal): Authenticated) -> Json<MeResponse> {
    let Principal {
        user,
        roles,
        permissions,
        ..
    } = principal;
    Json(MeResponse {
        user: user.into(),
        roles,
        permissions,
    })
}

#[derive(Serialize)]
struct SessionBody {
    id: Uuid,
    ip_address: Option<IpAddr>,
    user_agent: Option<String>,
    created_at: DateTime<Utc>,
    last_accessed_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    current: bool,
}

impl From<SessionView> for SessionBody {
    fn from(view: SessionView) -> Self {
        let s = view.session;
        Self {
            id: s.id.0,
            ip_address: s.ip_address,
            user_agent: s.user_agent,
            created_at: s.created_at,
            last_accessed_at: s.last_accessed_at,
            expires_at: s.expires_at,
            current: view.current,
        }
    }
}

#[derive(Serialize)]
struct SessionsResponse {
    sessions: Vec<SessionBody>,
}

async fn sessions(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<SessionsResponse>, ApiError> {
    let sessions = state.auth.sessions(&principal).await?;
    Ok(Json(SessionsResponse {
        sessions: sessions.into_iter().map(SessionBody::from).collect(),
    }))
}

async fn revoke_session(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .revoke_session(&principal, SessionId(id), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePasswordRequest {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let current = Password::new(body.current_password);
    let new = Password::new(body.new_password);
    state
        .auth
        .change_password(&principal, &current, &new, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
