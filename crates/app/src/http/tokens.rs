//! Tokens for other services (SPEC 4.4): `POST /v1/auth/token` hands the caller a short
//! JWT for their live session, `GET /.well-known/jwks.json` publishes the public keys
//! that verify it. A JWT is never a session: only `Authenticated` (session tokens)
//! admits a caller here or anywhere else.

use super::error::ApiError;
use super::error::doc::ErrorBody;
use super::extract::Authenticated;
use super::kind;
use super::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/token", post(issue))
        .route("/.well-known/jwks.json", get(jwks))
}

#[derive(Serialize, ToSchema)]
struct TokenResponse {
    /// A JWT (EdDSA or HS256) with `sub` (user id), `sid` (session id), `roles`, `iat`,
    /// `exp` and `iss`; its header names the key in `kid`.
    access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the token expires (`JWT_TTL_SECS`, at most the session's rest).
    #[schema(example = 300)]
    expires_in: u64,
}

/// A short-lived JWT for the caller's session, for other services to verify without
/// asking authd. It is not a session token: authd itself never accepts it.
#[utoipa::path(
    post,
    path = "/v1/auth/token",
    tag = "auth",
    security(("session" = [])),
    responses(
        kind::Session,
        (status = 200, description = "A signed access token", body = TokenResponse),
        (status = 501, description = "No signing key is configured (`not_configured`)",
            body = ErrorBody, example = json!({"error": {"code": "not_configured",
                "message": "Access tokens are not configured on this server"}})),
    )
)]
async fn issue(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<TokenResponse>, ApiError> {
    let issued = state.tokens.issue(&principal)?;
    Ok(Json(TokenResponse {
        access_token: issued.token.expose().to_owned(),
        token_type: "Bearer",
        expires_in: issued.expires_in,
    }))
}

/// The public keys that verify access tokens (RFC 7517): the current Ed25519 key and
/// the retired ones still in use, each with `kid`, `alg: EdDSA` and `use: sig`.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    tag = "auth",
    responses(
        kind::Public,
        (status = 200, description = "The JWK set: the signing key and the previous keys still published",
            body = Object, example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
                "alg": "EdDSA", "use": "sig"}]})),
        (status = 404, description = "No Ed25519 key is configured (HS256 has no public \
            key) (`not_found`)", body = ErrorBody,
            example = json!({"error": {"code": "not_found", "message": "Not found"}})),
    )
)]
async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(jwks) = &state.jwks else {
        return Err(ApiError::NotFound);
    };
    // `no-store` like every answer (SPEC 4): verifiers keep keys by their own rules and
    // fetch again on an unknown `kid` (docs/verifying-tokens.md).
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        jwks.clone(),
    )
        .into_response())
}
