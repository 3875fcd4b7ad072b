//! `/v1/auth/mfa/*`: the caller's second factors — a TOTP authenticator app, recovery
//! codes and passkeys. Every change needs a session authenticated within 5 minutes.

use super::bodies::{PasskeyChallengeResponse, RecoveryCodesResponse, code, method_names, shown};
use crate::http::error::ApiError;
use crate::http::error::doc::ErrorBody;
use crate::http::extract::{ApiJson, Authenticated, Client, IdPath};
use crate::http::kind;
use crate::http::state::AppState;
use auth_ports::{BearerToken, MfaFactors, Passkey, PasskeyId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/mfa", get(list))
        .route("/v1/auth/mfa/totp", post(begin_totp).delete(disable_totp))
        .route("/v1/auth/mfa/totp/confirm", post(confirm_totp))
        .route("/v1/auth/mfa/recovery-codes", post(regenerate_codes))
        .route("/v1/auth/mfa/passkeys/register", post(begin_passkey))
        .route("/v1/auth/mfa/passkeys", post(add_passkey))
        .route("/v1/auth/mfa/passkeys/{id}", delete(remove_passkey))
}

/// A user's second factors.
#[derive(Serialize, ToSchema)]
pub(in crate::http) struct FactorsResponse {
    /// What a login must offer one of; empty when MFA is off.
    #[schema(example = json!(["totp", "webauthn", "recovery_code"]))]
    methods: Vec<&'static str>,
    /// The authenticator app, confirmed or pending; `null` when none.
    totp: Option<TotpBody>,
    passkeys: Vec<PasskeyBody>,
    /// Unused recovery codes.
    recovery_codes_left: u32,
}

/// A TOTP authenticator app.
#[derive(Serialize, ToSchema)]
pub(in crate::http) struct TotpBody {
    /// `false` until a code from the app was accepted.
    confirmed: bool,
    created_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
}

/// A registered passkey.
#[derive(Serialize, ToSchema)]
pub(in crate::http) struct PasskeyBody {
    id: Uuid,
    #[schema(example = "Laptop")]
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<Passkey> for PasskeyBody {
    fn from(passkey: Passkey) -> Self {
        Self {
            id: passkey.id.0,
            name: passkey.name,
            created_at: passkey.created_at,
            last_used_at: passkey.last_used_at,
        }
    }
}

impl From<MfaFactors> for FactorsResponse {
    fn from(factors: MfaFactors) -> Self {
        let methods = method_names(&factors.methods());
        Self {
            methods,
            totp: factors.totp.map(|totp| TotpBody {
                confirmed: totp.confirmed_at.is_some(),
                created_at: totp.created_at,
                confirmed_at: totp.confirmed_at,
            }),
            passkeys: factors
                .passkeys
                .into_iter()
                .map(PasskeyBody::from)
                .collect(),
            recovery_codes_left: factors.recovery_codes_left,
        }
    }
}

/// The caller's second factors.
#[utoipa::path(
    get,
    path = "/v1/auth/mfa",
    tag = "mfa",
    security(("session" = [])),
    responses(
        kind::Session,
        (status = 200, description = "The caller's second factors", body = FactorsResponse),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<FactorsResponse>, ApiError> {
    Ok(Json(state.auth.factors(&principal).await?.into()))
}

#[derive(Serialize, ToSchema)]
struct NewTotpResponse {
    /// The secret in base32, to type into the app; shown once.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    secret: String,
    /// The same as an `otpauth://totp/…` URI, for a QR code; shown once.
    otpauth_uri: String,
}

/// Makes a TOTP secret for the caller's authenticator app, pending until confirmed.
///
/// Asking again before confirming replaces the pending secret.
#[utoipa::path(
    post,
    path = "/v1/auth/mfa/totp",
    tag = "mfa",
    security(("session" = [])),
    responses(
        kind::Sensitive,
        (status = 201, description = "The secret, shown once", body = NewTotpResponse),
        (status = 409, description = "An app is set up already; remove it first \
            (`totp_enrolled`)", body = ErrorBody),
        (status = 501, description = "`MFA_SECRET_KEY` is not set (`not_configured`)",
            body = ErrorBody),
    )
)]
async fn begin_totp(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<(StatusCode, Json<NewTotpResponse>), ApiError> {
    let made = state.auth.begin_totp(&principal).await?;
    let body = NewTotpResponse {
        secret: made.secret.expose().to_owned(),
        otpauth_uri: made.otpauth_uri.expose().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmTotpRequest {
    /// The app's current 6-digit code.
    #[schema(example = "123456")]
    code: String,
}

#[derive(Serialize, ToSchema)]
struct ConfirmedResponse {
    /// Ten single-use codes when the caller had none (shown once); `null` otherwise.
    recovery_codes: Option<Vec<String>>,
}

/// Confirms the pending TOTP secret with a code from the app: from now on, logins need a
/// second factor.
#[utoipa::path(
    post,
    path = "/v1/auth/mfa/totp/confirm",
    tag = "mfa",
    request_body = ConfirmTotpRequest,
    security(("session" = [])),
    responses(
        kind::Sensitive, kind::JsonBody,
        (status = 200, description = "Confirmed", body = ConfirmedResponse),
        (status = 404, description = "No secret is pending (`not_found`)", body = ErrorBody),
        (status = 409, description = "Confirmed already (`totp_enrolled`)", body = ErrorBody),
    )
)]
async fn confirm_totp(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ConfirmTotpRequest>,
) -> Result<Json<ConfirmedResponse>, ApiError> {
    let code = code(Some(body.code))?;
    let codes = state.auth.confirm_totp(&principal, &code, &client).await?;
    Ok(Json(ConfirmedResponse {
        recovery_codes: codes.map(shown),
    }))
}

/// Removes the caller's authenticator app; without another factor, MFA is off and the
/// recovery codes go too.
#[utoipa::path(
    delete,
    path = "/v1/auth/mfa/totp",
    tag = "mfa",
    security(("session" = [])),
    responses(
        kind::Sensitive,
        (status = 204, description = "Removed"),
        (status = 404, description = "None is set up (`not_found`)", body = ErrorBody),
    )
)]
async fn disable_totp(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.auth.disable_totp(&principal, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the caller's recovery codes with ten new ones; the old ones stop working.
#[utoipa::path(
    post,
    path = "/v1/auth/mfa/recovery-codes",
    tag = "mfa",
    security(("session" = [])),
    responses(
        kind::Sensitive,
        (status = 200, description = "The new codes, shown once", body = RecoveryCodesResponse),
        (status = 409, description = "MFA is off (`mfa_not_enabled`)", body = ErrorBody),
    )
)]
async fn regenerate_codes(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
) -> Result<Json<RecoveryCodesResponse>, ApiError> {
    let codes = state
        .auth
        .regenerate_recovery_codes(&principal, &client)
        .await?;
    Ok(Json(RecoveryCodesResponse {
        recovery_codes: shown(codes),
    }))
}

/// Begins registering a passkey: options for `navigator.credentials.create()`.
#[utoipa::path(
    post,
    path = "/v1/auth/mfa/passkeys/register",
    tag = "mfa",
    security(("session" = [])),
    responses(
        kind::Sensitive,
        (status = 200, description = "Options for `navigator.credentials.create()`",
            body = PasskeyChallengeResponse),
    )
)]
async fn begin_passkey(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<PasskeyChallengeResponse>, ApiError> {
    let challenge = state.auth.begin_passkey_registration(&principal).await?;
    Ok(Json(challenge.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddPasskeyRequest {
    /// From `POST /v1/auth/mfa/passkeys/register`.
    passkey_token: String,
    /// What the caller calls it.
    #[schema(example = "Laptop", max_length = 100)]
    name: String,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.create()`, as JSON.
    #[schema(value_type = Object)]
    credential: Value,
}

#[derive(Serialize, ToSchema)]
struct AddedPasskeyResponse {
    passkey: PasskeyBody,
    /// Ten single-use codes when the caller had none (shown once); `null` otherwise.
    recovery_codes: Option<Vec<String>>,
}

/// Registers the passkey the browser made.
#[utoipa::path(
    post,
    path = "/v1/auth/mfa/passkeys",
    tag = "mfa",
    request_body = AddPasskeyRequest,
    security(("session" = [])),
    responses(
        kind::Sensitive, kind::JsonBody,
        (status = 201, description = "Registered", body = AddedPasskeyResponse),
        (status = 400, description = "The passkey_token is unknown, expired, used or of \
            another session (`invalid_token`), or the browser's answer does not check out \
            (`passkey_rejected`)", body = ErrorBody),
        (status = 409, description = "Registered already (`passkey_registered`)",
            body = ErrorBody),
    )
)]
async fn add_passkey(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<AddPasskeyRequest>,
) -> Result<(StatusCode, Json<AddedPasskeyResponse>), ApiError> {
    let token = BearerToken::new(body.passkey_token);
    let added = state
        .auth
        .finish_passkey_registration(&principal, &token, &body.name, &body.credential, &client)
        .await?;
    let body = AddedPasskeyResponse {
        passkey: added.passkey.into(),
        recovery_codes: added.recovery_codes.map(shown),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Removes one of the caller's passkeys; without another factor, MFA is off and the
/// recovery codes go too.
#[utoipa::path(
    delete,
    path = "/v1/auth/mfa/passkeys/{id}",
    tag = "mfa",
    params(("id" = Uuid, Path, description = "A passkey id from `GET /v1/auth/mfa`")),
    security(("session" = [])),
    responses(
        kind::Sensitive,
        (status = 204, description = "Removed"),
        (status = 404, description = "No such passkey of the caller's (`not_found`)",
            body = ErrorBody),
    )
)]
async fn remove_passkey(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .remove_passkey(&principal, PasskeyId(id), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
