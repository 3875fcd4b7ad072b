//! [`PageForm`]: form fields, with every rejection answered as a page.

use super::error::ErrorPage;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// The fields of a form, by `axum::Form`'s rule: the query of a GET, the
/// `application/x-www-form-urlencoded` body (within the body limit) of a POST. A
/// malformed one is a 400 page, a body too large a 413, another content type a 415.
pub(super) struct PageForm<T>(pub(super) T);

impl<T: DeserializeOwned> FromRequest<AppState> for PageForm<T> {
    type Rejection = ErrorPage;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ErrorPage> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(fields)) => Ok(Self(fields)),
            Err(rejection) => Err(ErrorPage::new(refusal(&rejection), &state.page_root)),
        }
    }
}

/// The API's answer to the same fault.
fn refusal(rejection: &FormRejection) -> ApiError {
    match rejection {
        FormRejection::InvalidFormContentType(_) => ApiError::UnsupportedMediaType,
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest(other.body_text()),
    }
}
