//! The pages as askama templates (`crates/app/templates/pages/`), which escape every
//! value they insert, and [`html`], which turns one into a protected answer.

use super::headers::{HTML, protect};
use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The form that confirms an email address (`GET /verify-email`).
#[derive(Template)]
#[template(path = "pages/verify_email.html")]
pub(super) struct VerifyEmailPage<'a> {
    /// The path the pages sit under (usually empty).
    pub(super) root: &'a str,
    /// The token from the link, posted back in a hidden field.
    pub(super) token: &'a str,
}

/// "Your email address is verified".
#[derive(Template)]
#[template(path = "pages/email_verified.html")]
pub(super) struct EmailVerifiedPage<'a> {
    pub(super) root: &'a str,
}

/// The form that sets a new password (`GET /reset-password`, and again after a refusal,
/// with the errors). It never holds a password: what was typed is not sent back.
#[derive(Template)]
#[template(path = "pages/reset_password.html")]
pub(super) struct ResetPasswordPage<'a> {
    pub(super) root: &'a str,
    /// The token from the link, posted back in a hidden field.
    pub(super) token: &'a str,
    /// The password policy's bounds, for the browser to check first.
    pub(super) min_length: usize,
    pub(super) max_length: usize,
    /// Why the new password was refused.
    pub(super) new_password_error: Option<&'a str>,
    /// Why the repetition was refused (it differs).
    pub(super) confirm_password_error: Option<&'a str>,
}

/// The form that asks for a reset link (`GET /reset-password` without a token, where the
/// "password changed" notice points, and again after a refused address, with the reason).
#[derive(Template)]
#[template(path = "pages/request_reset.html")]
pub(super) struct RequestResetPage<'a> {
    pub(super) root: &'a str,
    /// What was typed, kept after a refusal so it can be corrected.
    pub(super) email: &'a str,
    /// The longest address accepted, for the browser to check first.
    pub(super) max_length: usize,
    /// Why the address was refused.
    pub(super) email_error: Option<&'a str>,
}

/// "Check your mail": the same page whether or not the address has an account.
#[derive(Template)]
#[template(path = "pages/reset_requested.html")]
pub(super) struct ResetRequestedPage<'a> {
    pub(super) root: &'a str,
    /// How long the link works, in words ("30 minutes").
    pub(super) validity: &'a str,
}

/// "Your password is changed".
#[derive(Template)]
#[template(path = "pages/password_reset.html")]
pub(super) struct PasswordResetPage<'a> {
    pub(super) root: &'a str,
}

/// An error: what went wrong, and what to do.
#[derive(Template)]
#[template(path = "pages/error.html")]
pub(super) struct ErrorTemplate<'a> {
    pub(super) root: &'a str,
    pub(super) title: &'a str,
    pub(super) message: &'a str,
}

/// `page` rendered, with `status` and the page headers.
pub(super) fn html(status: StatusCode, page: &impl Template) -> Response {
    let mut response = match page.render() {
        Ok(body) => (status, body).into_response(),
        Err(err) => {
            // Only a failing `Display` of a value can get here: a bug, shown as little
            // as the API shows one.
            tracing::error!(error = %err, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, RENDER_FAILED).into_response()
        }
    };
    protect(response.headers_mut(), HTML);
    response
}

/// The page of a page that could not be rendered.
const RENDER_FAILED: &str = "<!doctype html><html lang=\"en\"><title>Something went wrong\
    </title><main><h1>Something went wrong</h1></main></html>";
