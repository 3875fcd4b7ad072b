//! The axum extractor: `AuthdClaims` from `Authorization: Bearer <jwt>`, refusing with
//! authd's error shape (401 + `WWW-Authenticate`, or 503 when keys cannot be fetched).

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::claims::Claims;
use crate::error::VerifyError;
use crate::verifier::Verifier;

/// The verified claims of the request's bearer JWT.
///
/// The state must give an `Arc<Verifier>` (`impl FromRef<AppState> for Arc<Verifier>`,
/// or the state is `Arc<Verifier>` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthdClaims(pub Claims);

impl<S> FromRequestParts<S> for AuthdClaims
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthdRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<Verifier>::from_ref(state);
        let token = bearer_token(&parts.headers).ok_or(AuthdRejection::MissingToken)?;
        match verifier.verify(token).await {
            Ok(claims) => Ok(Self(claims)),
            Err(VerifyError::KeysUnavailable) => Err(AuthdRejection::KeysUnavailable),
            Err(refusal) => Err(AuthdRejection::InvalidToken(refusal)),
        }
    }
}

/// Why [`AuthdClaims`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthdRejection {
    /// No `Authorization: Bearer` header: 401, `WWW-Authenticate: Bearer`.
    MissingToken,
    /// A bad or expired token: 401, `WWW-Authenticate: Bearer error="invalid_token"`.
    InvalidToken(VerifyError),
    /// The JWKS could not be fetched: 503 `unavailable`.
    KeysUnavailable,
}

impl IntoResponse for AuthdRejection {
    fn into_response(self) -> Response {
        let (status, code, message, challenge) = match &self {
            Self::MissingToken => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a bearer token is required".to_owned(),
                Some("Bearer"),
            ),
            Self::InvalidToken(refusal) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                refusal.to_string(),
                Some(r#"Bearer error="invalid_token""#),
            ),
            Self::KeysUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                VerifyError::KeysUnavailable.to_string(),
                None,
            ),
        };
        let body = Json(json!({ "error": { "code": code, "message": message } }));
        let mut response = (status, body).into_response();
        if let Some(challenge) = challenge {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
