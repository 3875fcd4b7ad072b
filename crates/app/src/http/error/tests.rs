//! The error body and its documentation agree.

use super::doc::ErrorBody;
use super::*;

/// `ErrorBody` is a description of what `ApiError` renders with `json!`: check the
/// two agree, including both kinds of `details`.
#[tokio::test]
async fn error_body_describes_what_api_error_renders() {
    let errors = [
        ApiError::BadRequest("malformed JSON".into()),
        ApiError::Unauthorized,
        ApiError::invalid("email", "not a valid email address"),
        ApiError::RateLimited(std::time::Duration::from_secs(3)),
        ApiError::Unavailable,
    ];
    for error in errors {
        let response = error.into_response();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        serde_json::from_slice::<ErrorBody>(&bytes)
            .unwrap_or_else(|err| panic!("{text} does not fit ErrorBody: {err}"));
    }
}

/// Each described answer's example is exactly what `ApiError` renders for it.
#[tokio::test]
async fn described_examples_are_what_api_error_renders() {
    use super::doc::{
        BadRequest, Forbidden, Internal, PayloadTooLarge, RateLimited, ReauthenticationRequired,
        Unauthorized, Unavailable, UnsupportedMediaType, ValidationFailed,
    };
    use utoipa::ToResponse;
    use utoipa::openapi::RefOr;
    let cases = [
        (
            BadRequest::response(),
            ApiError::BadRequest("malformed JSON".into()),
        ),
        (Unauthorized::response(), ApiError::Unauthorized),
        (PayloadTooLarge::response(), ApiError::PayloadTooLarge),
        (
            UnsupportedMediaType::response(),
            ApiError::UnsupportedMediaType,
        ),
        (
            ValidationFailed::response(),
            ApiError::invalid("email", "not a valid email address"),
        ),
        (
            RateLimited::response(),
            ApiError::RateLimited(Duration::from_secs(3)),
        ),
        (Internal::response(), ApiError::Internal),
        (Unavailable::response(), ApiError::Unavailable),
        (Forbidden::response(), ApiError::Forbidden),
        (
            ReauthenticationRequired::response(),
            ApiError::ReauthenticationRequired,
        ),
    ];
    for ((name, described), error) in cases {
        let RefOr::T(described) = described else {
            panic!("{name} is a reference");
        };
        let example = described.content["application/json"].example.clone();
        let bytes = axum::body::to_bytes(error.into_response().into_body(), usize::MAX)
            .await
            .unwrap();
        let rendered: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(example, Some(rendered), "{name}");
    }
}
