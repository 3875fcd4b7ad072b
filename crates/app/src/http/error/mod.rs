//! The one error type handlers return, rendered as SPEC.md section 4's
//! `{"error": {"code", "message", "details"?}}`. Each variant documents its status, and
//! the conversions from domain errors match exhaustively, so a new kind of failure must
//! be given its status on purpose instead of becoming a silent 500.

pub(super) mod doc;
mod mfa;

use auth_domain::{
    AccountError, AuthenticateError, ChangePasswordError, DeleteAccountError, Failure, FieldErrors,
    GetUserError, IssueTokenError, LoginError, MissingPermission, PasswordCheckError, ReadError,
    RecoveryRequestError, RegisterError, RevokeError, RoleError, TokenError,
};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `bad_request`: the body is not valid JSON, or the URL holds a NUL byte.
    #[error("malformed request: {0}")]
    BadRequest(String),
    /// 400 `invalid_token`: a one-time token that is unknown, expired, used or of the
    /// other purpose.
    #[error("invalid token")]
    InvalidToken,
    /// 401 `unauthorized` with `WWW-Authenticate: Bearer`: no valid session.
    #[error("unauthorized")]
    Unauthorized,
    /// 400 `invalid_token`: an MFA or passkey challenge token that is unknown, expired,
    /// used up or of another session.
    #[error("invalid challenge")]
    InvalidChallenge,
    /// 400 `passkey_rejected`: the browser's answer to a passkey registration does not
    /// check out.
    #[error("passkey rejected")]
    PasskeyRejected,
    /// 401 `invalid_credentials`: unknown email or wrong password.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// 401 `invalid_credentials`: a wrong second factor at login.
    #[error("wrong second factor")]
    WrongSecondFactor,
    /// 403 `invalid_credentials`: the current password given to change it is wrong.
    #[error("wrong current password")]
    WrongCurrentPassword,
    /// 403 `invalid_credentials`: the password or second factor given to re-authenticate
    /// is wrong.
    #[error("wrong factor")]
    WrongStepUp,
    /// 403 `reauthentication_required`: the change needs a session authenticated within
    /// the last 5 minutes.
    #[error("reauthentication required")]
    ReauthenticationRequired,
    /// 403 `forbidden`: authenticated, but without a permission the change needs.
    #[error("forbidden")]
    Forbidden,
    /// 403 `forbidden` as well: without the permission the route needs, named in the
    /// refusal's audit entry.
    #[error("forbidden")]
    MissingPermission(&'static str),
    /// 403 `csrf_failed`: a state-changing request authenticated by cookie from a page
    /// that may not act, or without the session's CSRF token.
    #[error("cross-site request refused")]
    CsrfFailed,
    /// 403 `account_disabled`.
    #[error("account disabled")]
    AccountDisabled,
    /// 403 `email_not_verified`.
    #[error("email not verified")]
    EmailNotVerified,
    /// 404 `not_found`: no such route or resource.
    #[error("not found")]
    NotFound,
    /// 405 `method_not_allowed`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 `role_exists`.
    #[error("role exists")]
    RoleExists,
    /// 409 `protected_role`: the `admin` role cannot be deleted, renamed or lose `*`.
    #[error("protected role")]
    ProtectedRole,
    /// 409 `last_admin`: the last active holder of `admin` cannot lose it.
    #[error("last admin")]
    LastAdmin,
    /// 409 `email_taken`.
    #[error("email taken")]
    EmailTaken,
    /// 400 `invalid_state`: an OAuth callback whose state is unknown, expired, used, of
    /// another provider, (for a login) not the flow cookie's, or (for a link) of a
    /// session no longer active.
    #[error("invalid state")]
    InvalidState,
    /// 400 `oauth_failed`: the provider refused, or its answer did not verify.
    #[error("oauth failed")]
    OAuthFailed,
    /// 409 `oauth_account_taken`: the provider account is linked to another user.
    #[error("provider account linked elsewhere")]
    OAuthAccountTaken,
    /// 409 `provider_already_linked`: the user has another account of that provider.
    #[error("provider already linked")]
    ProviderAlreadyLinked,
    /// 409 `last_login_method`: unlinking would leave no way to log in.
    #[error("last login method")]
    LastLoginMethod,
    /// 409 `totp_enrolled`: a confirmed TOTP authenticator exists; remove it first.
    #[error("totp enrolled")]
    TotpEnrolled,
    /// 409 `mfa_not_enabled`: the caller has no second factor.
    #[error("mfa not enabled")]
    MfaNotEnabled,
    /// 409 `passkey_registered`: that credential is registered already.
    #[error("passkey registered")]
    PasskeyRegistered,
    /// 413 `payload_too_large`: the body exceeds 64 KiB.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415 `unsupported_media_type`: the body is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 422 `validation_failed`, with a message per field.
    #[error("validation failed")]
    Validation(BTreeMap<String, String>),
    /// 423 `account_locked`.
    #[error("account locked")]
    AccountLocked,
    /// 429 `rate_limited` with `Retry-After`.
    #[error("rate limited")]
    RateLimited(Duration),
    /// 500 `internal_error`: a bug; the cause is logged, never shown.
    #[error("internal error")]
    Internal,
    /// 501 `not_configured`: the feature needs a setting this server lacks (no JWT key,
    /// no MFA_SECRET_KEY).
    #[error("not configured")]
    NotConfigured,
    /// 503 `unavailable`: the database or the hashing pool cannot serve now.
    #[error("service unavailable")]
    Unavailable,
}

impl ApiError {
    /// A 422 for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(BTreeMap::from([(field.to_owned(), message.into())]))
    }

    /// The `code` of this error's body.
    pub(super) fn code(&self) -> &'static str {
        self.parts().1
    }

    /// Status, code and message: what the JSON says, and what an HTML page builds on.
    pub(super) fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::BadRequest(_) => (S::BAD_REQUEST, "bad_request", "The request is malformed"),
            Self::InvalidToken => (
                S::BAD_REQUEST,
                "invalid_token",
                "The link is invalid, used or expired; ask for a new one",
            ),
            Self::Unauthorized => (
                S::UNAUTHORIZED,
                "unauthorized",
                "A valid session token is required",
            ),
            Self::InvalidChallenge => (
                S::BAD_REQUEST,
                "invalid_token",
                "The challenge is invalid, used or expired; start again",
            ),
            Self::PasskeyRejected => (
                S::BAD_REQUEST,
                "passkey_rejected",
                "The passkey could not be registered",
            ),
            Self::InvalidCredentials => (
                S::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid email or password",
            ),
            Self::WrongSecondFactor => (
                S::UNAUTHORIZED,
                "invalid_credentials",
                "The code or passkey is wrong",
            ),
            Self::WrongStepUp => (
                S::FORBIDDEN,
                "invalid_credentials",
                "The password, code or passkey is wrong",
            ),
            Self::ReauthenticationRequired => (
                S::FORBIDDEN,
                "reauthentication_required",
                "Confirm it is you first: POST /v1/auth/reauthenticate",
            ),
            Self::WrongCurrentPassword => (
                S::FORBIDDEN,
                "invalid_credentials",
                "The current password is wrong",
            ),
            Self::RoleExists => (S::CONFLICT, "role_exists", "A role with this name exists"),
            Self::LastAdmin => (
                S::CONFLICT,
                "last_admin",
                "The last active admin must stay one",
            ),
            Self::ProtectedRole => (
                S::CONFLICT,
                "protected_role",
                "The admin role cannot be deleted, renamed or lose `*`",
            ),
            Self::Forbidden | Self::MissingPermission(_) => (
                S::FORBIDDEN,
                "forbidden",
                "You lack the permission this needs",
            ),
            Self::CsrfFailed => (S::FORBIDDEN, "csrf_failed", "Cross-site request refused"),
            Self::AccountDisabled => (S::FORBIDDEN, "account_disabled", "This account is disabled"),
            Self::EmailNotVerified => (
                S::FORBIDDEN,
                "email_not_verified",
                "Verify your email address first",
            ),
            Self::NotFound => (S::NOT_FOUND, "not_found", "Not found"),
            Self::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Self::EmailTaken => (
                S::CONFLICT,
                "email_taken",
                "This email address is already registered",
            ),
            Self::InvalidState => (
                S::BAD_REQUEST,
                "invalid_state",
                "This sign-in link is invalid, used or expired; start again",
            ),
            Self::OAuthFailed => (
                S::BAD_REQUEST,
                "oauth_failed",
                "The provider did not confirm the sign-in",
            ),
            Self::OAuthAccountTaken => (
                S::CONFLICT,
                "oauth_account_taken",
                "This provider account is linked to another user",
            ),
            Self::ProviderAlreadyLinked => (
                S::CONFLICT,
                "provider_already_linked",
                "Another account of this provider is linked already; unlink it first",
            ),
            Self::LastLoginMethod => (
                S::CONFLICT,
                "last_login_method",
                "Set a password or link another provider first",
            ),
            Self::TotpEnrolled => (
                S::CONFLICT,
                "totp_enrolled",
                "An authenticator app is set up already; remove it first",
            ),
            Self::MfaNotEnabled => (
                S::CONFLICT,
                "mfa_not_enabled",
                "Set up an authenticator app or a passkey first",
            ),
            Self::PasskeyRegistered => (
                S::CONFLICT,
                "passkey_registered",
                "This passkey is registered already",
            ),
            Self::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is too large",
            ),
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The request body must be application/json",
            ),
            Self::Validation(_) => (
                S::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "The request is not valid",
            ),
            Self::AccountLocked => (
                S::LOCKED,
                "account_locked",
                "Too many failed logins; try again later",
            ),
            Self::RateLimited(_) => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests; try again later",
            ),
            Self::Internal => (
                S::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Something went wrong",
            ),
            Self::NotConfigured => (
                S::NOT_IMPLEMENTED,
                "not_configured",
                "This feature is not configured on this server",
            ),
            Self::Unavailable => (
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "The service is temporarily unavailable",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let mut body = json!({"error": {"code": code, "message": message}});
        match &self {
            Self::Validation(fields) => body["error"]["details"] = json!(fields),
            Self::BadRequest(reason) => body["error"]["details"] = Value::String(reason.clone()),
            _ => {}
        }
        let mut response = (status, Json(body)).into_response();
        // Only refusals are audited by their code: other answers spare the allocation.
        if matches!(
            status,
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
        ) {
            response
                .extensions_mut()
                .insert(super::refusals::ErrorCode(code));
        }
        if let Self::MissingPermission(permission) = self {
            response
                .extensions_mut()
                .insert(super::refusals::LackedPermission(permission));
        }
        let headers = response.headers_mut();
        match self {
            // RFC 9110: every 401 carries a challenge.
            Self::Unauthorized | Self::InvalidCredentials | Self::WrongSecondFactor => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited(retry_after) => {
                // Whole seconds, rounded up: never invite a retry that is still too early.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            _ => {}
        }
        response
    }
}

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Unavailable(cause) => {
                tracing::warn!(error = %cause, "dependency unavailable");
                Self::Unavailable
            }
            Failure::Unexpected(cause) => {
                tracing::error!(error = %cause, source = ?cause.source(), "unexpected failure");
                Self::Internal
            }
        }
    }
}

pub(super) fn fields(errors: &FieldErrors) -> BTreeMap<String, String> {
    errors
        .fields()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

impl From<RegisterError> for ApiError {
    fn from(err: RegisterError) -> Self {
        match err {
            RegisterError::RateLimited { retry_after } => Self::RateLimited(retry_after),
            RegisterError::Invalid(errors) => Self::Validation(fields(&errors)),
            RegisterError::EmailTaken => Self::EmailTaken,
            RegisterError::UnknownRole(role) => {
                // Registration assigns the seeded `user` role: its absence is a broken
                // installation, not a client error.
                tracing::error!(%role, "the default role is missing");
                Self::Internal
            }
            RegisterError::Failure(failure) => failure.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::RateLimited { retry_after } => Self::RateLimited(retry_after),
            LoginError::Invalid(errors) => Self::Validation(fields(&errors)),
            LoginError::InvalidCredentials => Self::InvalidCredentials,
            LoginError::AccountLocked { .. } => Self::AccountLocked,
            LoginError::AccountDisabled => Self::AccountDisabled,
            LoginError::EmailNotVerified => Self::EmailNotVerified,
            LoginError::Failure(failure) => failure.into(),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(err: AuthenticateError) -> Self {
        match err {
            AuthenticateError::Unauthorized => Self::Unauthorized,
            AuthenticateError::Failure(failure) => failure.into(),
        }
    }
}

impl From<RevokeError> for ApiError {
    fn from(err: RevokeError) -> Self {
        match err {
            RevokeError::NotFound => Self::NotFound,
            RevokeError::ReauthenticationRequired(_) => Self::ReauthenticationRequired,
            RevokeError::Failure(failure) => failure.into(),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(err: ChangePasswordError) -> Self {
        match err {
            ChangePasswordError::Password(unconfirmed) => unconfirmed.into(),
            ChangePasswordError::Invalid(errors) => Self::Validation(fields(&errors)),
            ChangePasswordError::ReauthenticationRequired(_) => Self::ReauthenticationRequired,
            ChangePasswordError::Failure(failure) => failure.into(),
        }
    }
}

impl From<PasswordCheckError> for ApiError {
    fn from(err: PasswordCheckError) -> Self {
        match err {
            PasswordCheckError::RateLimited { retry_after } => Self::RateLimited(retry_after),
            PasswordCheckError::InvalidCredentials => Self::WrongCurrentPassword,
            PasswordCheckError::AccountLocked { .. } => Self::AccountLocked,
            PasswordCheckError::Failure(failure) => failure.into(),
        }
    }
}

impl From<DeleteAccountError> for ApiError {
    fn from(err: DeleteAccountError) -> Self {
        match err {
            DeleteAccountError::Password(unconfirmed) => unconfirmed.into(),
            DeleteAccountError::Invalid(errors) => Self::Validation(fields(&errors)),
            DeleteAccountError::ReauthenticationRequired(_) => Self::ReauthenticationRequired,
            DeleteAccountError::LastAdmin => Self::LastAdmin,
            DeleteAccountError::Failure(failure) => failure.into(),
        }
    }
}

impl From<RecoveryRequestError> for ApiError {
    fn from(err: RecoveryRequestError) -> Self {
        match err {
            RecoveryRequestError::RateLimited { retry_after } => Self::RateLimited(retry_after),
            RecoveryRequestError::Invalid(errors) => Self::Validation(fields(&errors)),
            RecoveryRequestError::Failure(failure) => failure.into(),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::InvalidToken => Self::InvalidToken,
            TokenError::Invalid(errors) => Self::Validation(fields(&errors)),
            TokenError::Failure(failure) => failure.into(),
        }
    }
}

impl From<IssueTokenError> for ApiError {
    fn from(err: IssueTokenError) -> Self {
        match err {
            IssueTokenError::NotConfigured => Self::NotConfigured,
            IssueTokenError::Failure(failure) => failure.into(),
        }
    }
}

impl From<MissingPermission> for ApiError {
    fn from(MissingPermission(permission): MissingPermission) -> Self {
        Self::MissingPermission(permission)
    }
}

impl From<ReadError> for ApiError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::MissingPermission(missing) => missing.into(),
            ReadError::Failure(failure) => failure.into(),
        }
    }
}

impl From<GetUserError> for ApiError {
    fn from(err: GetUserError) -> Self {
        match err {
            GetUserError::MissingPermission(missing) => missing.into(),
            GetUserError::NotFound => Self::NotFound,
            GetUserError::Failure(failure) => failure.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::NotFound => Self::NotFound,
            AccountError::Forbidden => Self::Forbidden,
            AccountError::MissingPermission(missing) => missing.into(),
            AccountError::Invalid(errors) => Self::Validation(fields(&errors)),
            AccountError::Deleted => Self::invalid("status", "a deleted account cannot be changed"),
            AccountError::LastAdmin => Self::LastAdmin,
            AccountError::EmailTaken => Self::EmailTaken,
            AccountError::Failure(failure) => failure.into(),
        }
    }
}

impl From<RoleError> for ApiError {
    fn from(err: RoleError) -> Self {
        match err {
            RoleError::NotFound => Self::NotFound,
            RoleError::Invalid(errors) => Self::Validation(fields(&errors)),
            RoleError::Exists => Self::RoleExists,
            RoleError::Protected => Self::ProtectedRole,
            RoleError::LastAdmin => Self::LastAdmin,
            RoleError::Forbidden => Self::Forbidden,
            RoleError::MissingPermission(missing) => missing.into(),
            RoleError::Failure(failure) => failure.into(),
        }
    }
}

#[cfg(test)]
mod tests;
