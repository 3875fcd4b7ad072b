//! The page handlers. A GET only shows a form: mail scanners fetch links before people
//! do, so nothing is used up until the form is posted.

use super::error::ErrorPage;
use super::form::PageForm;
use super::headers::{CSS, protect};
use super::render::{
    EmailVerifiedPage, PasswordResetPage, RequestResetPage, ResetPasswordPage, ResetRequestedPage,
    VerifyEmailPage, html,
};
use crate::http::error::ApiError;
use crate::http::extract::Client;
use crate::http::recovery::run_after_answering;
use crate::http::state::AppState;
use auth_domain::messages::in_words;
use auth_domain::password_policy::MAX_PASSWORD_CHARS;
use auth_ports::Password;
use auth_ports::email::MAX_EMAIL_LEN;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The stylesheet, compiled in.
const STYLESHEET: &str = include_str!("authd.css");

/// The field a link carries.
#[derive(Deserialize)]
pub(super) struct TokenField {
    #[serde(default)]
    token: String,
}

/// The form that asks for a reset link.
#[derive(Deserialize)]
pub(super) struct EmailField {
    #[serde(default)]
    email: String,
}

/// The reset form. No `Debug`: it holds passwords.
#[derive(Deserialize)]
pub(super) struct ResetFields {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// The token of a link, or the invalid-link page when the link has none.
fn token_of<'a>(state: &AppState, fields: &'a TokenField) -> Result<&'a str, ErrorPage> {
    let token = fields.token.trim();
    if token.is_empty() {
        return Err(ErrorPage::new(ApiError::InvalidToken, &state.page_root));
    }
    Ok(token)
}

/// `GET /verify-email?token=…`: the confirmation form.
pub(super) async fn show_verify_email(
    State(state): State<AppState>,
    PageForm(fields): PageForm<TokenField>,
) -> Result<Response, ErrorPage> {
    let page = VerifyEmailPage {
        root: &state.page_root,
        token: token_of(&state, &fields)?,
    };
    Ok(html(StatusCode::OK, &page))
}

/// `POST /verify-email`: confirms the address, as `POST /v1/auth/verify-email` does.
pub(super) async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    PageForm(fields): PageForm<TokenField>,
) -> Result<Response, ErrorPage> {
    state
        .auth
        .verify_email(&fields.token, &client)
        .await
        .map_err(|err| ErrorPage::new(err, &state.page_root))?;
    let page = EmailVerifiedPage {
        root: &state.page_root,
    };
    Ok(html(StatusCode::OK, &page))
}

/// `GET /reset-password?token=…`: the new-password form. Without a token (the link of
/// the "password changed" notice) the form that asks for a link instead.
pub(super) async fn show_reset_password(
    State(state): State<AppState>,
    PageForm(fields): PageForm<TokenField>,
) -> Response {
    match fields.token.trim() {
        "" => request_form(&state, StatusCode::OK, "", None),
        token => reset_form(&state, StatusCode::OK, token, None, None),
    }
}

/// `POST /reset-password/request`: mails a reset link, as
/// `POST /v1/auth/password-reset/request` does: the same page, answered before the lookup,
/// whether or not the address has an account. A malformed address shows the form again
/// (422) with the reason.
pub(super) async fn request_password_reset(
    State(state): State<AppState>,
    Client(client): Client,
    PageForm(fields): PageForm<EmailField>,
) -> Result<Response, ErrorPage> {
    let result = state
        .auth
        .request_password_reset(&fields.email, &client)
        .await;
    match result.map_err(ApiError::from) {
        Ok(request) => {
            run_after_answering(request);
            let page = ResetRequestedPage {
                root: &state.page_root,
                validity: &in_words(state.auth.reset_link_lifetime()),
            };
            Ok(html(StatusCode::OK, &page))
        }
        Err(ApiError::Validation(problems)) => {
            let reason = first_reason(&problems, "This email address is not accepted.");
            let refused = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(request_form(&state, refused, &fields.email, Some(&reason)))
        }
        Err(other) => Err(ErrorPage::new(other, &state.page_root)),
    }
}

/// The form that asks for a reset link, with `status` and the error, if any.
fn request_form(
    state: &AppState,
    status: StatusCode,
    email: &str,
    email_error: Option<&str>,
) -> Response {
    let page = RequestResetPage {
        root: &state.page_root,
        email,
        max_length: MAX_EMAIL_LEN,
        email_error,
    };
    html(status, &page)
}

/// `POST /reset-password`: sets the password, as `POST /v1/auth/password-reset` does. A
/// refused password shows the form again (422) with the reason and the same token.
pub(super) async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    PageForm(fields): PageForm<ResetFields>,
) -> Result<Response, ErrorPage> {
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    if fields.new_password != fields.confirm_password {
        let mismatch = Some("The two passwords differ; type the same one twice.");
        return Ok(reset_form(&state, refused, &fields.token, None, mismatch));
    }
    let new = Password::new(fields.new_password);
    let result = state
        .auth
        .reset_password(&fields.token, &new, &client)
        .await;
    match result.map_err(ApiError::from) {
        Ok(()) => {
            let page = PasswordResetPage {
                root: &state.page_root,
            };
            Ok(html(StatusCode::OK, &page))
        }
        Err(ApiError::Validation(problems)) => {
            let reason = first_reason(&problems, "This password is not accepted.");
            Ok(reset_form(
                &state,
                refused,
                &fields.token,
                Some(&reason),
                None,
            ))
        }
        Err(other) => Err(ErrorPage::new(other, &state.page_root)),
    }
}

/// The reset form with `status` and the errors, if any.
fn reset_form(
    state: &AppState,
    status: StatusCode,
    token: &str,
    new_password_error: Option<&str>,
    confirm_password_error: Option<&str>,
) -> Response {
    let page = ResetPasswordPage {
        root: &state.page_root,
        token,
        min_length: state.auth.password_policy().min_chars,
        max_length: MAX_PASSWORD_CHARS,
        new_password_error,
        confirm_password_error,
    };
    html(status, &page)
}

/// The domain's first reason ("password must be …") as a sentence, or `otherwise`.
fn first_reason(problems: &BTreeMap<String, String>, otherwise: &str) -> String {
    problems
        .values()
        .next()
        .map_or_else(|| otherwise.to_owned(), |reason| capitalised(reason))
}

/// `reason` as a sentence.
fn capitalised(reason: &str) -> String {
    let mut chars = reason.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}

/// `GET /assets/authd.css`.
pub(super) async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    protect(response.headers_mut(), CSS);
    response
}

/// Any other method on a page's path: a 405 page.
pub(super) async fn wrong_method(State(state): State<AppState>) -> ErrorPage {
    ErrorPage::new(ApiError::MethodNotAllowed, &state.page_root)
}
