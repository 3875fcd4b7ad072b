//! The pages the mails link to (`/verify-email`, `/reset-password`, which without a token
//! asks for a reset link) and their stylesheet: server-rendered HTML for people who
//! follow a link, with no JavaScript and a strict CSP. They call the same `AuthService`
//! methods as the JSON API in `recovery.rs`, so audit entries and limits are the same;
//! they are not API, so not in `/openapi.json`.

mod error;
mod form;
mod handlers;
mod headers;
pub(super) mod links;
mod render;
#[cfg(test)]
mod tests;

pub(super) use error::ErrorPage;

use super::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// The page that confirms an email address.
const VERIFY_EMAIL: &str = "/verify-email";
/// The page that sets a new password, or without a token asks for a link.
const RESET_PASSWORD: &str = "/reset-password";
/// Where the form that asks for a reset link posts.
const REQUEST_RESET: &str = "/reset-password/request";
/// The pages' stylesheet (CSP `style-src 'self'`: no inline styles).
const STYLESHEET: &str = "/assets/authd.css";

/// Every path served here, so the middleware in front can answer them in HTML too.
pub(super) const PATHS: [&str; 4] = [VERIFY_EMAIL, RESET_PASSWORD, REQUEST_RESET, STYLESHEET];

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            VERIFY_EMAIL,
            get(handlers::show_verify_email)
                .post(handlers::verify_email)
                .fallback(handlers::wrong_method),
        )
        .route(
            RESET_PASSWORD,
            get(handlers::show_reset_password)
                .post(handlers::reset_password)
                .fallback(handlers::wrong_method),
        )
        .route(
            REQUEST_RESET,
            post(handlers::request_password_reset).fallback(handlers::wrong_method),
        )
        .route(
            STYLESHEET,
            get(handlers::stylesheet).fallback(handlers::wrong_method),
        )
}
