//! Multi-factor authentication over HTTP: the second step of a login and passwordless
//! passkey logins (in [`sign_in`]), step-up re-authentication (in [`step_up`]), and the
//! caller's own factors (in [`factors`]); the bodies they share are here.

pub(super) mod factors;
pub(super) mod sign_in;
pub(super) mod step_up;

use super::error::ApiError;
use super::state::AppState;
use auth_domain::IssuedChallenge;
use auth_ports::{AuthMethod, RecoveryCode};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub(super) use factors::FactorsResponse;
pub(super) use sign_in::MfaRequiredResponse;

pub(super) fn routes() -> Router<AppState> {
    sign_in::routes()
        .merge(step_up::routes())
        .merge(factors::routes())
}

/// The longest code accepted: TOTP codes have 6 digits and recovery codes 19 characters;
/// anything much longer is not worth hashing.
const MAX_CODE_CHARS: usize = 64;

/// A second-factor method, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Method {
    /// A 6-digit code from an authenticator app.
    Totp,
    /// One of the single-use recovery codes.
    RecoveryCode,
    /// A passkey or security key (WebAuthn).
    Webauthn,
}

/// The names of `methods`, as the API shows them.
pub(super) fn method_names(methods: &[AuthMethod]) -> Vec<&'static str> {
    methods.iter().map(|m| m.as_str()).collect()
}

/// A code the client sent, checked for length.
fn code(code: Option<String>) -> Result<String, ApiError> {
    let code = code.ok_or_else(|| ApiError::invalid("code", "is required for this method"))?;
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(ApiError::invalid("code", "is too long"));
    }
    Ok(code)
}

/// A recovery code the client sent.
fn recovery_code(sent: Option<String>) -> Result<RecoveryCode, ApiError> {
    code(sent).map(RecoveryCode::new)
}

/// The WebAuthn answer the client sent.
fn credential(credential: Option<Value>) -> Result<Value, ApiError> {
    credential.ok_or_else(|| ApiError::invalid("credential", "is required for this method"))
}

/// A passkey ceremony begun: the token to finish it with and the options for the browser.
#[derive(Serialize, ToSchema)]
pub(super) struct PasskeyChallengeResponse {
    /// Send it back with the browser's answer.
    passkey_token: String,
    /// When the challenge stops working.
    expires_at: DateTime<Utc>,
    /// The `publicKey` options for `navigator.credentials.create()` or `.get()`.
    #[schema(value_type = Object)]
    webauthn: Value,
}

impl From<IssuedChallenge> for PasskeyChallengeResponse {
    fn from(challenge: IssuedChallenge) -> Self {
        Self {
            passkey_token: challenge.token.expose().to_owned(),
            expires_at: challenge.expires_at,
            webauthn: challenge.webauthn.unwrap_or_default(),
        }
    }
}

/// Recovery codes, shown once.
#[derive(Serialize, ToSchema)]
pub(super) struct RecoveryCodesResponse {
    /// Ten single-use codes; store them somewhere safe.
    #[schema(example = json!(["abcd-efgh-ijkm-nopq"]))]
    recovery_codes: Vec<String>,
}

/// The codes' text, for the one answer that shows them.
fn shown(codes: Vec<RecoveryCode>) -> Vec<String> {
    codes.iter().map(|c| c.expose().to_owned()).collect()
}
