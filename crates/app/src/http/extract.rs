//! Extractors that turn requests into domain inputs and every rejection into the SPEC
//! error shape: JSON bodies, the session (bearer or cookie), the client's address, ids
//! in paths.

use super::client::client_info;
use super::error::ApiError;
use super::refusals::CallerSlot;
use super::state::AppState;
use auth_domain::{ClientInfo, Principal};
use auth_ports::BearerToken;
use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde::de::{DeserializeOwned, IgnoredAny};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use uuid::Uuid;

/// A JSON body, rejected as 400 (malformed), 415 (not JSON), 413 (too large) or 422
/// (wrong shape or type, with the offending field).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })?;
        // Syntax (and content type) first: serde stops at the first field it cannot use,
        // so a body broken after an unknown or mistyped field would read as a 422.
        let whole = Request::from_parts(parts, Body::from(bytes.clone()));
        let axum::Json(IgnoredAny) = axum::Json::<IgnoredAny>::from_request(whole, state)
            .await
            .map_err(|rejection| json_rejection(&rejection))?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(err) => {
            let message =
                std::error::Error::source(err).map_or_else(|| err.body_text(), ToString::to_string);
            ApiError::Validation(data_error_details(&message))
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::BadRequest("malformed JSON".into()),
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// Turns serde's message (`password: invalid type: integer `1234`, expected …`) into
/// `{field: reason}`. serde quotes the submitted value and names Rust types; neither may
/// reach the client (the value may be a password), so only the field and a fixed reason
/// are kept.
fn data_error_details(message: &str) -> BTreeMap<String, String> {
    let (path, detail) = match message.split_once(": ") {
        Some((path, detail)) if !path.contains(' ') => (path, detail),
        _ => (".", message),
    };
    let quoted = || detail.split('`').nth(1);
    let (field, reason) = if detail.starts_with("missing field") {
        (quoted(), "is required")
    } else if detail.starts_with("unknown field") {
        (quoted(), "is not allowed")
    } else if detail.starts_with("invalid type") {
        (Some(path), "has the wrong type")
    } else {
        (Some(path), "is not valid")
    };
    let field = field
        .filter(|f| *f != "." && !f.is_empty())
        .unwrap_or("body");
    BTreeMap::from([(field.to_owned(), reason.to_owned())])
}

/// The caller, from `Authorization: Bearer <session token>` or, without that header, the
/// session cookie; a state-changing request by cookie must also pass the CSRF check.
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = if parts.headers.contains_key(header::AUTHORIZATION) {
            // A bad Authorization header is a 401, never a fall back to the cookie.
            bearer_token(&parts.headers).ok_or(ApiError::Unauthorized)?
        } else {
            let cookies = &state.session_cookies;
            let token = cookies
                .session(&parts.headers)
                .ok_or(ApiError::Unauthorized)?;
            // Only these three read; `is_safe` would also let TRACE and QUERY through.
            if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
                // Before the session is looked up: a forged request touches nothing.
                let csrf = cookies.csrf(&parts.headers);
                state.origins.check(&parts.headers, token, csrf)?;
            }
            BearerToken::new(token.to_owned())
        };
        let principal = state.auth.authenticate(&token).await?;
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            slot.set(principal.user.id);
        }
        Ok(Self(principal))
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<BearerToken> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        // Two credentials: which one counts would depend on the proxy in front.
        return None;
    }
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .then(|| BearerToken::new(token.to_owned()))
}

/// Query parameters; a value of the wrong type (a non-numeric `limit`) is a 422.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let message = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                Err(ApiError::Validation(data_error_details(message)))
            }
        }
    }
}

/// Where the request came from: the socket's peer, or — only when that peer is a trusted
/// proxy — the nearest untrusted address in `X-Forwarded-For`.
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Self(client_info(
            peer,
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}

/// For `#[serde(default, deserialize_with = "explicit")]` on an `Option<Option<T>>`:
/// `Some(None)` for an explicit `null` (clear it), `None` for an absent field (keep it).
pub(super) fn explicit<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A UUID path segment; anything else is a 404, as for an unknown id.
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound)?;
        Uuid::parse_str(&raw)
            .map(Self)
            .map_err(|_| ApiError::NotFound)
    }
}

/// Two UUID path segments (`/users/{id}/roles/{role_id}`); anything else is a 404.
pub struct IdPairPath(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPairPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path((first, second)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound)?;
        let parse = |raw: &str| Uuid::parse_str(raw).map_err(|_| ApiError::NotFound);
        Ok(Self(parse(&first)?, parse(&second)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_never_echo_the_value() {
        let details = data_error_details(
            "password: invalid type: integer `12345678901234`, expected a string at line 1 column 30",
        );
        assert_eq!(
            details,
            BTreeMap::from([("password".to_owned(), "has the wrong type".to_owned())])
        );
        let details = data_error_details("missing field `password` at line 1 column 26");
        assert_eq!(
            details,
            BTreeMap::from([("password".to_owned(), "is required".to_owned())])
        );
        let details =
            data_error_details("unknown field `admin`, expected one of `email`, `password`");
        assert_eq!(
            details,
            BTreeMap::from([("admin".to_owned(), "is not allowed".to_owned())])
        );
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        let mut headers = HeaderMap::new();
        headers.append(header::AUTHORIZATION, "Bearer a".parse().unwrap());
        headers.append(header::AUTHORIZATION, "Bearer b".parse().unwrap());
        assert!(bearer_token(&headers).is_none());
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(
            bearer_token(&headers).map(|t| t.expose().to_owned()),
            Some("abc".into())
        );
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(bearer_token(&headers).is_none());
    }
}
