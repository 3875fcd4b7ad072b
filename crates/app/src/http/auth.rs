//! `/v1/auth/*`: registration, login, logout, the caller's profile, sessions and
//! password (SPEC.md section 4.1).

use super::body::UserBody;
use super::csrf;
use super::error::ApiError;
use super::error::doc::ErrorBody;
use super::extract::{ApiJson, Authenticated, Client, IdPath};
use super::kind;
use super::mfa::MfaRequiredResponse;
use super::state::AppState;
use auth_domain::{ClientInfo, LoginOutcome, LoginSuccess, Principal, Registration, SessionView};
use auth_ports::{BearerToken, Password, SessionId};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use utoipa::ToSchema;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/logout-all", post(logout_all))
        .route("/v1/auth/me", get(me))
        .route("/v1/auth/csrf", get(csrf_token))
        .route("/v1/auth/sessions", get(sessions))
        .route("/v1/auth/sessions/{id}", delete(revoke_session))
        .route("/v1/auth/password", post(change_password))
}

#[derive(Debug, Serialize, ToSchema)]
struct UserResponse {
    user: UserBody,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    #[schema(example = "ada@example.com", max_length = 254)]
    email: String,
    /// At least `PASSWORD_MIN_LENGTH` characters (12 unless configured), not a common
    /// password.
    #[schema(example = "correct horse battery staple", max_length = 128)]
    password: String,
    #[schema(max_length = 100)]
    first_name: Option<String>,
    #[schema(max_length = 100)]
    last_name: Option<String>,
}

/// Creates an account with the `user` role and sends a verification email.
#[utoipa::path(
    post,
    path = "/v1/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        kind::Public, kind::JsonBody, kind::Limited,
        (status = 201, description = "Registered", body = UserResponse),
        (status = 409, description = "The email is registered already (`email_taken`)",
            body = ErrorBody, example = json!({"error": {"code": "email_taken",
                "message": "This email address is already registered"}})),
    )
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    #[schema(example = "ada@example.com")]
    email: String,
    #[schema(example = "correct horse battery staple")]
    password: String,
    /// `true`: a browser session — the token goes into an HttpOnly cookie instead of the
    /// body, and state-changing requests then need the `csrf_token` in `X-CSRF-Token`.
    #[serde(default)]
    cookie: bool,
}

/// What a right password gets: a session, or the challenge of the second step.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(
    dead_code,
    reason = "the login handler serialises its two arms on their own"
)]
enum LoginAnswer {
    SignedIn(LoginResponse),
    MfaRequired(MfaRequiredResponse),
}

#[derive(Serialize, ToSchema)]
pub(super) struct LoginResponse {
    /// The bearer token of the new session: `Authorization: Bearer <session_token>`.
    /// Absent for a cookie session, whose token page scripts never see.
    #[serde(skip_serializing_if = "Option::is_none")]
    session_token: Option<String>,
    /// `Bearer`, or `Cookie` for a cookie session.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// The absolute expiry of the session.
    expires_at: DateTime<Utc>,
    user: UserBody,
    /// For a cookie session: send it as `X-CSRF-Token` with every POST, PUT, PATCH and
    /// DELETE (`GET /v1/auth/csrf` tells it again).
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
}

/// Opens a session.
///
/// Checks, in order: rate limit (429), lock (423), password (401), account status (403
/// `account_disabled`), verified email when required (403 `email_not_verified`).
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        kind::Public, kind::JsonBody, kind::Limited,
        (status = 200, description = "Logged in; or, for an account with MFA on, the \
            challenge of the second step (`mfa_required`, answered at \
            `POST /v1/auth/mfa/verify`)", body = LoginAnswer),
        (status = 401, description = "Unknown email or wrong password (`invalid_credentials`)",
            body = ErrorBody, example = json!({"error": {"code": "invalid_credentials",
                "message": "Invalid email or password"}})),
        (status = 403, description = "Right password, but the account may not log in: \
            `account_disabled` (suspended, deleted or inactive) or `email_not_verified`",
            body = ErrorBody, examples(
                ("account_disabled" = (value = json!({"error": {"code": "account_disabled",
                    "message": "This account is disabled"}}))),
                ("email_not_verified" = (value = json!({"error": {"code": "email_not_verified",
                    "message": "Verify your email address first"}}))),
            )),
        (status = 423, description = "Locked after too many failed logins from this client, \
            or from all clients together (`account_locked`), whatever the password", body = ErrorBody, example = json!({"error": {
                "code": "account_locked", "message": "Too many failed logins; try again later"}})),
    )
)]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    refuse_login_csrf(&state, &headers, body.cookie)?;
    let outcome = state
        .auth
        .login(&body.email, &Password::new(body.password), &client)
        .await;
    state.metrics.login(outcome.is_ok());
    match outcome? {
        LoginOutcome::SignedIn(success) => signed_in(&state, *success, body.cookie),
        LoginOutcome::MfaRequired(challenge) => {
            Ok(Json(MfaRequiredResponse::from(challenge)).into_response())
        }
    }
}

/// Login CSRF: a foreign page must not sign the browser in to another account, so a
/// sign-in that asks for cookies must come from a trusted page.
pub(super) fn refuse_login_csrf(
    state: &AppState,
    headers: &HeaderMap,
    cookie: bool,
) -> Result<(), ApiError> {
    if cookie && !state.origins.allows_sender(headers) {
        return Err(ApiError::CsrfFailed);
    }
    Ok(())
}

/// The answer to a sign-in that opened a session: the token in the body, or with
/// `cookie`, in the session cookies.
pub(super) fn signed_in(
    state: &AppState,
    success: LoginSuccess,
    cookie: bool,
) -> Result<Response, ApiError> {
    if !cookie {
        return Ok(Json(LoginResponse::from(success)).into_response());
    }
    let (body, cookies) = LoginResponse::with_cookies(state, success)?;
    let mut response = Json(body).into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

impl From<LoginSuccess> for LoginResponse {
    fn from(success: LoginSuccess) -> Self {
        Self {
            session_token: Some(success.token.expose().to_owned()),
            token_type: "Bearer",
            expires_at: success.session.expires_at,
            user: success.user.into(),
            csrf_token: None,
        }
    }
}

impl LoginResponse {
    /// A cookie session: the answer without the token, and the two cookies to set.
    pub(super) fn with_cookies(
        state: &AppState,
        success: LoginSuccess,
    ) -> Result<(Self, [HeaderValue; 2]), ApiError> {
        let (csrf, cookies) = session_cookies(state, &success)?;
        let body = Self {
            session_token: None,
            token_type: "Cookie",
            expires_at: success.session.expires_at,
            user: success.user.into(),
            csrf_token: Some(csrf),
        };
        Ok((body, cookies))
    }
}

/// The CSRF token of a new session and the two cookies that carry it and the session.
pub(super) fn session_cookies(
    state: &AppState,
    success: &LoginSuccess,
) -> Result<(String, [HeaderValue; 2]), ApiError> {
    let token = success.token.expose();
    let csrf = csrf::token_for(token);
    let cookies = state.session_cookies.set(token, &csrf, &success.session)?;
    Ok((csrf, cookies))
}

/// Which sessions a logout ends.
enum Sessions {
    This,
    All,
}

/// A logout: revokes the caller's session (or all of theirs) and answers 204 or the
/// error. The session cookies are deleted when they authenticated the request, and also
/// when they are dead (401): page scripts cannot delete an HttpOnly cookie themselves.
/// Never for a bearer logout, which ended another session, nor for a refused one (403
/// `csrf_failed`): a foreign page must not sign the browser out.
async fn sign_out(
    state: &AppState,
    client: &ClientInfo,
    headers: &HeaderMap,
    caller: Result<Authenticated, ApiError>,
    sessions: Sessions,
) -> Response {
    let revoked = match (caller, sessions) {
        (Ok(Authenticated(principal)), Sessions::This) => state
            .auth
            .logout(&principal, client)
            .await
            .map_err(ApiError::from),
        (Ok(Authenticated(principal)), Sessions::All) => state
            .auth
            .logout_all(&principal, client)
            .await
            .map_err(ApiError::from),
        (Err(err), _) => Err(err),
    };
    let by_cookie = !headers.contains_key(header::AUTHORIZATION)
        && state.session_cookies.session(headers).is_some();
    let clear = by_cookie && matches!(revoked, Ok(()) | Err(ApiError::Unauthorized));
    let mut response = match revoked {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => err.into_response(),
    };
    if clear {
        match state.session_cookies.clear() {
            Ok(cookies) => {
                for cookie in cookies {
                    response.headers_mut().append(header::SET_COOKIE, cookie);
                }
            }
            Err(err) => return err.into_response(),
        }
    }
    response
}

#[derive(Serialize, ToSchema)]
struct CsrfResponse {
    /// Send it as `X-CSRF-Token` with every state-changing request of this session.
    csrf_token: String,
}

/// The CSRF token of the caller's cookie session (and its cookie, set again), for a page
/// that reloaded and lost it. Only the cookie authenticates here.
#[utoipa::path(
    get,
    path = "/v1/auth/csrf",
    tag = "auth",
    security(("cookie" = [])),
    responses(
        kind::Session,
        (status = 200, description = "The session's CSRF token", body = CsrfResponse),
    )
)]
async fn csrf_token(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = state
        .session_cookies
        .session(&headers)
        .ok_or(ApiError::Unauthorized)?;
    let principal = state
        .auth
        .authenticate(&BearerToken::new(token.to_owned()))
        .await?;
    let csrf = csrf::token_for(token);
    let cookie = state.session_cookies.set_csrf(&csrf, &principal.session)?;
    let mut response = Json(CsrfResponse { csrf_token: csrf }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Ends the caller's session.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    security(("session" = [])),
    responses(
        kind::Session,
        (status = 204, description = "This session is revoked"),
    )
)]
async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    caller: Result<Authenticated, ApiError>,
) -> Response {
    sign_out(&state, &client, &headers, caller, Sessions::This).await
}

/// Ends every session of the caller, this one included. Needs a session authenticated
/// within the last 5 minutes.
#[utoipa::path(
    post,
    path = "/v1/auth/logout-all",
    tag = "auth",
    security(("session" = [])),
    responses(
        kind::Sensitive,
        (status = 204, description = "Every session of the caller is revoked"),
    )
)]
async fn logout_all(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    caller: Result<Authenticated, ApiError>,
) -> Response {
    sign_out(&state, &client, &headers, caller, Sessions::All).await
}

#[derive(Serialize, ToSchema)]
struct MeResponse {
    user: UserBody,
    /// Names of the caller's roles.
    #[schema(example = json!(["user"]))]
    roles: Vec<String>,
    /// Every permission those roles grant, e.g. `users:read`; `*` grants all.
    #[schema(example = json!(["users:read"]))]
    permissions: Vec<String>,
}

/// The caller, with roles and permissions.
#[utoipa::path(
    get,
    path = "/v1/auth/me",
    tag = "auth",
    security(("session" = [])),
    responses(
        kind::Session,
        (status = 200, description = "The caller", body = MeResponse),
    )
)]
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

#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
pub(super) struct SessionBody {
    id: Uuid,
    /// Where the session was opened from, IPv4 or IPv6.
    #[schema(value_type = Option<String>, example = "203.0.113.7")]
    ip_address: Option<IpAddr>,
    user_agent: Option<String>,
    created_at: DateTime<Utc>,
    last_accessed_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// When its user last proved who they are (login or step-up).
    authenticated_at: DateTime<Utc>,
    /// How, then: `password`, `oauth`, `totp`, `webauthn`, `recovery_code`.
    #[schema(example = json!(["password", "totp"]))]
    auth_methods: Vec<&'static str>,
    /// Whether this is the session making the request.
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
            authenticated_at: s.authenticated_at,
            auth_methods: super::mfa::method_names(&s.auth_methods),
            current: view.current,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct SessionsResponse {
    sessions: Vec<SessionBody>,
}

/// The caller's open sessions.
#[utoipa::path(
    get,
    path = "/v1/auth/sessions",
    tag = "auth",
    security(("session" = [])),
    responses(
        kind::Session,
        (status = 200, description = "The caller's sessions", body = SessionsResponse),
    )
)]
async fn sessions(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<SessionsResponse>, ApiError> {
    let sessions = state.auth.sessions(&principal).await?;
    Ok(Json(SessionsResponse {
        sessions: sessions.into_iter().map(SessionBody::from).collect(),
    }))
}

/// Revokes one of the caller's own sessions; another than the calling one needs a session
/// authenticated within the last 5 minutes.
#[utoipa::path(
    delete,
    path = "/v1/auth/sessions/{id}",
    tag = "auth",
    params(("id" = Uuid, Path, description = "A session id from `GET /v1/auth/sessions`")),
    security(("session" = [])),
    responses(
        kind::Sensitive,
        (status = 204, description = "The session is revoked"),
        (status = 404, description = "No such session of the caller's, or not a UUID \
            (`not_found`)", body = ErrorBody,
            example = json!({"error": {"code": "not_found", "message": "Not found"}})),
    )
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePasswordRequest {
    current_password: String,
    /// The same rules as at registration.
    #[schema(max_length = 128)]
    new_password: String,
}

/// Changes the caller's password and revokes every other session of theirs. Needs a
/// session authenticated within the last 5 minutes.
#[utoipa::path(
    post,
    path = "/v1/auth/password",
    tag = "auth",
    request_body = ChangePasswordRequest,
    security(("session" = [])),
    responses(
        kind::Session, kind::JsonBody, kind::Limited,
        (status = 204, description = "Changed; the other sessions are revoked"),
        (status = 403, description = "The current password is wrong (`invalid_credentials`), \
            or the session was authenticated more than 5 minutes ago \
            (`reauthentication_required`)",
            body = ErrorBody, example = json!({"error": {"code": "invalid_credentials",
                "message": "The current password is wrong"}})),
        (status = 423, description = "Too many wrong passwords from this client, or for the \
            account, at login or here (`account_locked`)", body = ErrorBody,
            example = json!({"error": {"code": "account_locked",
                "message": "Too many failed logins; try again later"}})),
    )
)]
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
