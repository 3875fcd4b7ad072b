//! The error shape of SPEC.md section 4 and the error answers many operations share, for
//! the OpenAPI document. These types describe and are never built: `ApiError` renders
//! the same shape with `json!`, and a test in `error` checks that the two agree.
#![expect(
    dead_code,
    reason = "descriptions only: their schemas are used, their values never exist"
)]

use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::{ToResponse, ToSchema};

/// Every error the API answers, as `ApiError` renders it (SPEC.md section 4).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"error": {"code": "unauthorized", "message": "A valid session token is required"}}))]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ErrorDetail {
    /// Stable snake_case code to match on, e.g. `validation_failed`.
    #[schema(example = "validation_failed")]
    code: String,
    /// Human-readable English text; may change.
    #[schema(example = "The request is not valid")]
    message: String,
    /// 422 `validation_failed`: a message per offending field; 400 `bad_request`: why the
    /// body was rejected. Absent otherwise.
    #[serde(default)]
    #[schema(nullable = false)]
    details: Option<ErrorDetails>,
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum ErrorDetails {
    /// Field name → what is wrong with it.
    #[schema(example = json!({"password": "must be at least 12 characters"}))]
    Fields(BTreeMap<String, String>),
    /// Why a body was rejected.
    Reason(String),
}

/// One described error answer per line: the name its component gets, the headers it
/// carries, and its example body.
macro_rules! error_responses {
    ($($(#[doc = $doc:literal])* $name:ident $(headers($($header:tt)*))? = $example:tt;)*) => {
        $(
            $(#[doc = $doc])*
            #[derive(ToResponse)]
            #[response($(headers($($header)*),)? example = json!($example))]
            pub(crate) struct $name(ErrorBody);
        )*
    };
}

error_responses! {
    /// The body is not valid JSON (`bad_request`).
    BadRequest = {"error": {"code": "bad_request", "message": "The request is malformed", "details": "malformed JSON"}};
    /// No valid session (`unauthorized`): the bearer token is missing, unknown, expired,
    /// idle too long or revoked, or its user is no longer active.
    Unauthorized headers(("WWW-Authenticate" = String, description = "Always `Bearer`")) = {"error": {"code": "unauthorized", "message": "A valid session token is required"}};
    /// The body is over 64 KiB (`payload_too_large`).
    PayloadTooLarge = {"error": {"code": "payload_too_large", "message": "The request body is too large"}};
    /// The body is not `application/json` (`unsupported_media_type`).
    UnsupportedMediaType = {"error": {"code": "unsupported_media_type", "message": "The request body must be application/json"}};
    /// Well-formed JSON of the wrong shape or type, or a value out of range
    /// (`validation_failed`), with a message per field in `details`.
    ValidationFailed = {"error": {"code": "validation_failed", "message": "The request is not valid", "details": {"email": "not a valid email address"}}};
    /// Too many attempts (`rate_limited`).
    RateLimited headers(("Retry-After" = u64, description = "Seconds to wait before trying again")) = {"error": {"code": "rate_limited", "message": "Too many requests; try again later"}};
    /// A bug (`internal_error`); the cause is logged, never shown.
    Internal = {"error": {"code": "internal_error", "message": "Something went wrong"}};
    /// The database is unavailable or the request timed out (`unavailable`).
    Unavailable = {"error": {"code": "unavailable", "message": "The service is temporarily unavailable"}};
    /// Authenticated, but without the permission the route needs (`forbidden`).
    Forbidden = {"error": {"code": "forbidden", "message": "You lack the permission this needs"}};
    /// The session was authenticated more than 5 minutes ago; prove it is you again at
    /// `POST /v1/auth/reauthenticate` (`reauthentication_required`).
    ReauthenticationRequired = {"error": {"code": "reauthentication_required", "message": "Confirm it is you first: POST /v1/auth/reauthenticate"}};
}
