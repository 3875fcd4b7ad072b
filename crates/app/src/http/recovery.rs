//! `/v1/auth/verify-email*` and `/v1/auth/password-reset*`: account recovery by mail
//! (SPEC.md section 4.1). Tokens arrive in the JSON body, never in a URL authd serves.

use super::error::ApiError;
use super::error::doc::ErrorBody;
use super::extract::{ApiJson, Authenticated, Client};
use super::kind;
use super::state::AppState;
use auth_domain::ResetRequest;
use auth_ports::Password;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use utoipa::ToSchema;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/verify-email/request", post(request_verification))
        .route("/v1/auth/verify-email", post(verify_email))
        .route(
            "/v1/auth/password-reset/request",
            post(request_password_reset),
        )
        .route("/v1/auth/password-reset", post(reset_password))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyEmailRequest {
    /// The token from the verification mail.
    token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordResetRequest {
    /// The account's email address.
    email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetPasswordRequest {
    /// The token from the reset mail.
    token: String,
    /// The same rules as at registration.
    #[schema(max_length = 128)]
    new_password: String,
}

/// Mails the caller a new verification link; earlier links stop working. Nothing is
/// sent when the address is verified already.
#[utoipa::path(
    post,
    path = "/v1/auth/verify-email/request",
    tag = "auth",
    security(("session" = [])),
    responses(
        kind::Session, kind::Limited,
        (status = 202, description = "A link is on its way (or the address is verified)"),
    )
)]
async fn request_verification(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .request_verification(&principal.user, &client)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Confirms the email address of the token's owner (`email.verify`).
#[utoipa::path(
    post,
    path = "/v1/auth/verify-email",
    tag = "auth",
    request_body = VerifyEmailRequest,
    responses(
        kind::Public, kind::JsonBody,
        (status = 204, description = "Verified"),
        (status = 400, description = "Malformed JSON (`bad_request`), or a token that is unknown, used, expired or for a password reset (`invalid_token`)", body = ErrorBody),
    )
)]
async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<VerifyEmailRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.verify_email(&body.token, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails a password-reset link if the email belongs to an active account. The answer,
/// and the time it takes, are the same whether or not it does.
#[utoipa::path(
    post,
    path = "/v1/auth/password-reset/request",
    tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        kind::Public, kind::JsonBody, kind::Limited,
        (status = 202, description = "If the account exists, a link is on its way"),
    )
)]
async fn request_password_reset(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<PasswordResetRequest>,
) -> Result<StatusCode, ApiError> {
    let request = state
        .auth
        .request_password_reset(&body.email, &client)
        .await?;
    run_after_answering(request);
    Ok(StatusCode::ACCEPTED)
}

/// Looks the account up and mails the link after the caller is answered, so the time
/// tells nothing about the account. The reset page's request form answers the same way.
pub(super) fn run_after_answering(request: ResetRequest) {
    tokio::spawn(async move {
        if let Err(err) = request.run().await {
            tracing::error!(error = %err, "password reset request failed");
        }
    });
}

/// Sets a new password with a reset token: every session of the account is revoked and
/// any lockout cleared (`password.reset`).
#[utoipa::path(
    post,
    path = "/v1/auth/password-reset",
    tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        kind::Public, kind::JsonBody,
        (status = 204, description = "Changed; every session is revoked"),
        (status = 400, description = "Malformed JSON (`bad_request`), or a token that is unknown, used, expired or for email verification (`invalid_token`)", body = ErrorBody),
    )
)]
async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let new = Password::new(body.new_password);
    state
        .auth
        .reset_password(&body.token, &new, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
