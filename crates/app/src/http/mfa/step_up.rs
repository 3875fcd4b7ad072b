//! `POST /v1/auth/reauthenticate` and `POST /v1/auth/reauthenticate/passkey`: proving
//! again who one is, so the session may make sensitive changes for 5 minutes.

use super::bodies::{
    Method, PasskeyChallengeResponse, code, credential, method_names, recovery_code,
};
use crate::http::error::ApiError;
use crate::http::error::doc::ErrorBody;
use crate::http::extract::{ApiJson, Authenticated, Client};
use crate::http::kind;
use crate::http::state::AppState;
use auth_domain::StepUpAnswer;
use auth_ports::{BearerToken, Password};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/reauthenticate", post(reauthenticate))
        .route("/v1/auth/reauthenticate/passkey", post(passkey_challenge))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReauthenticateRequest {
    /// For an account without MFA: its password (then leave `method` out).
    password: Option<String>,
    /// For an account with MFA: the second factor to prove it with.
    method: Option<Method>,
    /// For `totp` and `recovery_code`.
    #[schema(example = "123456")]
    code: Option<String>,
    /// For `webauthn`: from `POST /v1/auth/reauthenticate/passkey`.
    passkey_token: Option<String>,
    /// For `webauthn`: the browser's `PublicKeyCredential`, as JSON.
    #[schema(value_type = Option<Object>)]
    credential: Option<Value>,
}

#[derive(Serialize, ToSchema)]
struct ReauthenticatedResponse {
    /// From now on, for 5 minutes, the session may make sensitive changes.
    authenticated_at: DateTime<Utc>,
    #[schema(example = json!(["totp"]))]
    auth_methods: Vec<&'static str>,
}

/// Authenticates the caller's session afresh.
///
/// Changing the password or second factors, linking or unlinking a provider, logging out
/// everywhere and revoking another session need a session authenticated within the last
/// 5 minutes (else 403 `reauthentication_required`). An account with MFA on proves it
/// with a second factor, one without with its password. A wrong answer counts towards
/// the lockout.
#[utoipa::path(
    post,
    path = "/v1/auth/reauthenticate",
    tag = "mfa",
    request_body = ReauthenticateRequest,
    security(("session" = [])),
    responses(
        kind::Session, kind::JsonBody, kind::Limited,
        (status = 200, description = "Authenticated afresh", body = ReauthenticatedResponse),
        (status = 400, description = "The passkey_token is unknown, expired, used or of \
            another session (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "The password, code or passkey is wrong \
            (`invalid_credentials`)", body = ErrorBody),
        (status = 423, description = "Locked after too many failures (`account_locked`)",
            body = ErrorBody),
    )
)]
async fn reauthenticate(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ReauthenticateRequest>,
) -> Result<Json<ReauthenticatedResponse>, ApiError> {
    let answer = match (body.method, body.password) {
        (None, Some(password)) => StepUpAnswer::Password(Password::new(password)),
        (None, None) => return Err(ApiError::invalid("method", "or password is required")),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("password", "cannot go with a method"));
        }
        (Some(Method::Totp), None) => StepUpAnswer::Totp(code(body.code)?),
        (Some(Method::RecoveryCode), None) => StepUpAnswer::RecoveryCode(recovery_code(body.code)?),
        (Some(Method::Webauthn), None) => StepUpAnswer::Webauthn {
            token: BearerToken::new(body.passkey_token.ok_or_else(|| {
                ApiError::invalid("passkey_token", "is required for this method")
            })?),
            response: credential(body.credential)?,
        },
    };
    let done = state
        .auth
        .reauthenticate(&principal, answer, &client)
        .await?;
    Ok(Json(ReauthenticatedResponse {
        authenticated_at: done.authenticated_at,
        auth_methods: method_names(&done.methods),
    }))
}

/// A passkey challenge to re-authenticate the caller's session with.
#[utoipa::path(
    post,
    path = "/v1/auth/reauthenticate/passkey",
    tag = "mfa",
    security(("session" = [])),
    responses(
        kind::Session,
        (status = 200, description = "Options for `navigator.credentials.get()`",
            body = PasskeyChallengeResponse),
        (status = 409, description = "The caller has no passkey (`mfa_not_enabled`)",
            body = ErrorBody),
    )
)]
async fn passkey_challenge(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<PasskeyChallengeResponse>, ApiError> {
    let challenge = state.auth.begin_step_up_passkey(&principal).await?;
    Ok(Json(challenge.into()))
}
