//! The bodies and input checks the MFA routes share.

use crate::http::error::ApiError;
use auth_domain::IssuedChallenge;
use auth_ports::{AuthMethod, RecoveryCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

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
pub(in crate::http) fn method_names(methods: &[AuthMethod]) -> Vec<&'static str> {
    methods.iter().map(|m| m.as_str()).collect()
}

/// A code the client sent, checked for length.
pub(super) fn code(code: Option<String>) -> Result<String, ApiError> {
    let code = code.ok_or_else(|| ApiError::invalid("code", "is required for this method"))?;
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(ApiError::invalid("code", "is too long"));
    }
    Ok(code)
}

/// A recovery code the client sent.
pub(super) fn recovery_code(sent: Option<String>) -> Result<RecoveryCode, ApiError> {
    code(sent).map(RecoveryCode::new)
}

/// The WebAuthn answer the client sent.
pub(super) fn credential(credential: Option<Value>) -> Result<Value, ApiError> {
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
    pub(super) recovery_codes: Vec<String>,
}

/// The codes' text, for the one answer that shows them.
pub(super) fn shown(codes: Vec<RecoveryCode>) -> Vec<String> {
    codes.iter().map(|c| c.expose().to_owned()).collect()
}

/// A login that needs its second step.
#[derive(Serialize, ToSchema)]
pub(in crate::http) struct MfaRequiredResponse {
    /// Always `true`.
    mfa_required: bool,
    /// Send it to `POST /v1/auth/mfa/verify` with one of `methods`; single use, short-lived.
    mfa_token: String,
    /// The second factors the account has: `totp`, `webauthn`, `recovery_code`.
    #[schema(example = json!(["totp", "recovery_code"]))]
    methods: Vec<&'static str>,
    /// When the challenge stops working.
    expires_at: DateTime<Utc>,
    /// With `webauthn` among the methods: the `publicKey` options for
    /// `navigator.credentials.get()`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    webauthn: Option<Value>,
}

impl From<IssuedChallenge> for MfaRequiredResponse {
    fn from(challenge: IssuedChallenge) -> Self {
        Self {
            mfa_required: true,
            mfa_token: challenge.token.expose().to_owned(),
            methods: method_names(&challenge.methods),
            expires_at: challenge.expires_at,
            webauthn: challenge.webauthn,
        }
    }
}
