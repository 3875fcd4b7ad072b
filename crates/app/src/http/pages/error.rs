//! [`ErrorPage`]: an [`ApiError`] answered as a page. Status, headers (`Retry-After`)
//! and the refusal marks are the API's own, taken from its answer, so the two cannot
//! disagree on how a domain error maps; only the body becomes HTML.

use super::render::{ErrorTemplate, html};
use crate::http::error::ApiError;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// An error on a page, answered in HTML. Made from the `ApiError` the API would answer.
#[derive(Debug)]
pub(crate) struct ErrorPage {
    error: ApiError,
    /// The path the pages sit under, for the stylesheet.
    root: String,
}

impl ErrorPage {
    /// The page for `error` under `root` (the path the pages sit under).
    pub(crate) fn new(error: impl Into<ApiError>, root: &str) -> Self {
        Self {
            error: error.into(),
            root: root.to_owned(),
        }
    }

    /// The heading and the advice; the API's message where it suits a person too.
    fn wording(&self) -> (&'static str, &'static str) {
        let (status, _, message) = self.error.parts();
        match self.error {
            ApiError::InvalidToken => (
                "This link is invalid, used or expired",
                "Each link works once and for a limited time. Ask for a new one where \
                 you signed up or signed in.",
            ),
            ApiError::UnsupportedMediaType => (
                "Unsupported form",
                "Send the form as application/x-www-form-urlencoded.",
            ),
            _ => (status.canonical_reason().unwrap_or("Error"), message),
        }
    }
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        let (title, message) = self.wording();
        let (api, _json) = self.error.into_response().into_parts();
        let page = ErrorTemplate {
            root: &self.root,
            title,
            message,
        };
        let mut response = html(api.status, &page);
        for (name, value) in &api.headers {
            if name != header::CONTENT_TYPE {
                response.headers_mut().insert(name, value.clone());
            }
        }
        *response.extensions_mut() = api.extensions;
        response
    }
}
