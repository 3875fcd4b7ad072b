//! `POST /v1/auth/mfa/verify` (the second step of a login with MFA on) and
//! `POST /v1/auth/passkey/{start,finish}` (passwordless login with a passkey).

use super::bodies::{Method, PasskeyChallengeResponse, code, credential, recovery_code};
use crate::http::auth::{LoginResponse, refuse_login_csrf, signed_in};
use crate::http::error::ApiError;
use crate::http::error::doc::ErrorBody;
use crate::http::extract::{ApiJson, Client};
use crate::http::kind;
use crate::http::state::AppState;
use auth_domain::FactorAnswer;
use auth_ports::BearerToken;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/mfa/verify", post(verify))
        .route("/v1/auth/passkey/start", post(passkey_start))
        .route("/v1/auth/passkey/finish", post(passkey_finish))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    /// From the login's answer.
    mfa_token: String,
    method: Method,
    /// For `totp` (6 digits) and `recovery_code`.
    #[schema(example = "123456")]
    code: Option<String>,
    /// For `webauthn`: the browser's `PublicKeyCredential`, as JSON.
    #[schema(value_type = Option<Object>)]
    credential: Option<Value>,
    /// As at login: `true` puts the session into cookies.
    #[serde(default)]
    cookie: bool,
}

/// Completes a login with its second factor and opens the session.
///
/// A wrong code counts towards the lockout like a wrong password; a TOTP code works once.
#[utoipa::path(
    post,
    path = "/v1/auth/mfa/verify",
    tag = "mfa",
    request_body = VerifyRequest,
    responses(
        kind::Public, kind::JsonBody, kind::Limited,
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "The mfa_token is unknown, expired or used (`invalid_token`)",
            body = ErrorBody),
        (status = 401, description = "Wrong or reused code, or a passkey answer that does not \
            check out (`invalid_credentials`)", body = ErrorBody),
        (status = 403, description = "The account was disabled meanwhile (`account_disabled`)",
            body = ErrorBody),
        (status = 423, description = "Locked after too many failures (`account_locked`)",
            body = ErrorBody),
    )
)]
async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    refuse_login_csrf(&state, &headers, body.cookie)?;
    let answer = match body.method {
        Method::Totp => FactorAnswer::Totp(code(body.code)?),
        Method::RecoveryCode => FactorAnswer::RecoveryCode(recovery_code(body.code)?),
        Method::Webauthn => FactorAnswer::Webauthn(credential(body.credential)?),
    };
    let token = BearerToken::new(body.mfa_token);
    let success = state
        .auth
        .verify_mfa(&token, answer, &client)
        .await
        .map_err(ApiError::from_mfa_login)?;
    signed_in(&state, success, body.cookie)
}

/// Begins a passwordless login: WebAuthn options any passkey of any account can answer.
#[utoipa::path(
    post,
    path = "/v1/auth/passkey/start",
    tag = "mfa",
    responses(
        kind::Public, kind::Limited,
        (status = 200, description = "Options for `navigator.credentials.get()`",
            body = PasskeyChallengeResponse),
    )
)]
async fn passkey_start(
    State(state): State<AppState>,
    Client(client): Client,
) -> Result<Json<PasskeyChallengeResponse>, ApiError> {
    let challenge = state
        .auth
        .begin_passkey_login(&client)
        .await
        .map_err(ApiError::from_mfa_login)?;
    Ok(Json(challenge.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasskeyFinishRequest {
    /// From `POST /v1/auth/passkey/start`.
    passkey_token: String,
    /// The browser's `PublicKeyCredential`, as JSON.
    #[schema(value_type = Object)]
    credential: Value,
    /// As at login: `true` puts the session into cookies.
    #[serde(default)]
    cookie: bool,
}

/// Finishes a passwordless login and opens the session.
#[utoipa::path(
    post,
    path = "/v1/auth/passkey/finish",
    tag = "mfa",
    request_body = PasskeyFinishRequest,
    responses(
        kind::Public, kind::JsonBody, kind::Limited,
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "The passkey_token is unknown, expired or used \
            (`invalid_token`)", body = ErrorBody),
        (status = 401, description = "The answer does not check out (`invalid_credentials`)",
            body = ErrorBody),
        (status = 403, description = "The account may not log in: `account_disabled` or \
            `email_not_verified`", body = ErrorBody),
    )
)]
async fn passkey_finish(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasskeyFinishRequest>,
) -> Result<Response, ApiError> {
    refuse_login_csrf(&state, &headers, body.cookie)?;
    let token = BearerToken::new(body.passkey_token);
    let success = state
        .auth
        .finish_passkey_login(&token, body.credential, &client)
        .await
        .map_err(ApiError::from_mfa_login)?;
    signed_in(&state, success, body.cookie)
}
