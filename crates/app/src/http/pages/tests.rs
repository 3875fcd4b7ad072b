//! Rendering: every value escaped, no password echoed, the structure and headers every
//! page needs.

use super::error::ErrorPage;
use super::headers::CONTENT_SECURITY_POLICY;
use super::render::{
    EmailVerifiedPage, ErrorTemplate, PasswordResetPage, RequestResetPage, ResetPasswordPage,
    ResetRequestedPage, VerifyEmailPage, html,
};
use crate::http::error::ApiError;
use askama::Template as _;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use std::time::Duration;

/// A token that would break out of the attribute and run a script if not escaped.
const HOSTILE: &str = "\"><script>alert('x')</script>&";

/// [`HOSTILE`] as askama escapes it.
const HOSTILE_ESCAPED: &str = "&#34;&#62;&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;&#38;";

fn reset_page<'a>(new: Option<&'a str>, confirm: Option<&'a str>) -> ResetPasswordPage<'a> {
    ResetPasswordPage {
        root: "",
        token: HOSTILE,
        min_length: 12,
        max_length: 128,
        new_password_error: new,
        confirm_password_error: confirm,
    }
}

async fn body(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// What every page has: a language, a title, one heading, a main landmark, the
/// stylesheet, and never a script.
fn assert_accessible_shell(page: &str) {
    assert!(
        page.starts_with("<!doctype html>\n<html lang=\"en\">"),
        "{page}"
    );
    assert!(
        page.contains("<title>") && !page.contains("<title></title>"),
        "{page}"
    );
    assert_eq!(page.matches("<h1>").count(), 1, "{page}");
    assert_eq!(page.matches("<main>").count(), 1, "{page}");
    assert!(page.contains("<link rel=\"stylesheet\" href=\"/assets/authd.css\">"));
    assert!(!page.to_lowercase().contains("<script"), "{page}");
}

#[test]
fn the_token_is_escaped_in_the_verification_form() {
    let page = VerifyEmailPage {
        root: "",
        token: HOSTILE,
    }
    .render()
    .unwrap();

    assert_accessible_shell(&page);
    assert!(
        page.contains(&format!(
            "<input type=\"hidden\" name=\"token\" value=\"{HOSTILE_ESCAPED}\">"
        )),
        "{page}"
    );
    assert!(page.contains("<form method=\"post\" action=\"/verify-email\">"));
    assert_eq!(page.matches("<button type=\"submit\">").count(), 1);
}

#[test]
fn the_reset_form_labels_its_fields_and_escapes_the_token() {
    let page = reset_page(None, None).render().unwrap();

    assert_accessible_shell(&page);
    assert!(page.contains(&format!("name=\"token\" value=\"{HOSTILE_ESCAPED}\"")));
    assert!(page.contains("<form method=\"post\" action=\"/reset-password\">"));
    for field in ["new_password", "confirm_password"] {
        assert!(
            page.contains(&format!("<label for=\"{field}\">")),
            "{field}"
        );
        assert!(
            page.contains(&format!(
                "<input id=\"{field}\" name=\"{field}\" type=\"password\" \
                 autocomplete=\"new-password\" required minlength=\"12\" maxlength=\"128\""
            )),
            "{page}"
        );
    }
    assert!(!page.contains("aria-invalid"), "{page}");
    assert!(!page.contains("role=\"alert\""), "{page}");
    // A password field never carries a value: nothing typed is sent back.
    assert_eq!(page.matches("value=").count(), 1, "{page}");
}

#[test]
fn reset_errors_are_announced_tied_to_their_field_and_escaped() {
    let page = reset_page(Some("Password <b>is</b> too common."), None)
        .render()
        .unwrap();

    assert!(page.contains("<title>Error: Choose a new password</title>"));
    assert!(
        page.contains(
            "name=\"new_password\" type=\"password\" autocomplete=\"new-password\" required \
             minlength=\"12\" maxlength=\"128\" aria-invalid=\"true\" \
             aria-describedby=\"new_password-hint new_password-error\">"
        ),
        "{page}"
    );
    assert!(page.contains(
        "<p class=\"error\" id=\"new_password-error\" role=\"alert\">Password &#60;b&#62;is\
         &#60;/b&#62; too common.</p>"
    ));
    assert_eq!(page.matches("aria-invalid").count(), 1);

    let page = reset_page(None, Some("The two passwords differ."))
        .render()
        .unwrap();
    assert!(page.contains(
        "aria-invalid=\"true\" aria-describedby=\"confirm_password-error\">\n\
         <p class=\"error\" id=\"confirm_password-error\" role=\"alert\">The two passwords \
         differ.</p>"
    ));
}

fn request_page<'a>(email: &'a str, error: Option<&'a str>) -> RequestResetPage<'a> {
    RequestResetPage {
        root: "",
        email,
        max_length: 254,
        email_error: error,
    }
}

#[test]
fn the_request_form_labels_its_email_field() {
    let page = request_page("", None).render().unwrap();

    assert_accessible_shell(&page);
    assert!(
        page.contains("<title>Reset your password</title>"),
        "{page}"
    );
    assert!(page.contains("<h1>Reset your password</h1>"));
    assert!(page.contains("<form method=\"post\" action=\"/reset-password/request\">"));
    assert!(page.contains("<label for=\"email\">Email address</label>"));
    assert!(
        page.contains(
            "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" \
             required maxlength=\"254\" value=\"\">"
        ),
        "{page}"
    );
    assert_eq!(page.matches("<input").count(), 1, "{page}");
    assert_eq!(page.matches("<button type=\"submit\">").count(), 1);
    assert!(!page.contains("aria-invalid"), "{page}");
    assert!(!page.contains("role=\"alert\""), "{page}");
}

#[test]
fn a_refused_address_is_kept_escaped_and_the_reason_announced() {
    let page = request_page(HOSTILE, Some("Email <b>is</b> not a valid address."))
        .render()
        .unwrap();

    assert!(page.contains("<title>Error: Reset your password</title>"));
    assert!(
        page.contains(&format!(
            "value=\"{HOSTILE_ESCAPED}\" aria-invalid=\"true\" \
             aria-describedby=\"email-error\">"
        )),
        "{page}"
    );
    assert!(page.contains(
        "<p class=\"error\" id=\"email-error\" role=\"alert\">Email &#60;b&#62;is\
         &#60;/b&#62; not a valid address.</p>"
    ));
    assert!(!page.contains("<script"), "{page}");
}

#[test]
fn links_and_forms_follow_the_public_path() {
    assert_eq!(
        super::links::root("https://auth.example.com/base/"),
        "/base"
    );
    assert_eq!(super::links::root("http://127.0.0.1:8080"), "");
    let page = VerifyEmailPage {
        root: "/base",
        token: "t",
    }
    .render()
    .unwrap();

    assert!(page.contains("href=\"/base/assets/authd.css\""));
    assert!(page.contains("action=\"/base/verify-email\""));
    let request = RequestResetPage {
        root: "/base",
        ..request_page("", None)
    };
    let page = request.render().unwrap();
    assert!(page.contains("action=\"/base/reset-password/request\""));
}

#[test]
fn outcome_pages_say_what_happened() {
    let verified = EmailVerifiedPage { root: "" }.render().unwrap();
    assert_accessible_shell(&verified);
    assert!(verified.contains("<h1>Your email address is verified</h1>"));

    let reset = PasswordResetPage { root: "" }.render().unwrap();
    assert_accessible_shell(&reset);
    assert!(reset.contains("<h1>Your password is changed</h1>"));
    assert!(reset.contains("Every session was signed out"));

    let requested = ResetRequestedPage {
        root: "",
        validity: "30 minutes",
    }
    .render()
    .unwrap();
    assert_accessible_shell(&requested);
    assert!(requested.contains("<h1>Check your mail</h1>"));
    assert!(requested.contains("If an account exists for that address"));
    assert!(requested.contains("The link works once, for 30 minutes."));
}

#[tokio::test]
async fn pages_carry_the_protective_headers() {
    let response = html(StatusCode::OK, &EmailVerifiedPage { root: "" });

    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert_eq!(
        CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn api_errors_become_pages_with_the_api_status_and_headers() {
    let limited =
        ErrorPage::new(ApiError::RateLimited(Duration::from_millis(2_500)), "").into_response();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "3");
    assert_eq!(
        limited.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert_eq!(limited.headers()["referrer-policy"], "no-referrer");
    let page = body(limited).await;
    assert_accessible_shell(&page);
    assert!(page.contains("<h1>Too Many Requests</h1>"), "{page}");

    let cases = [
        (
            ApiError::InvalidToken,
            StatusCode::BAD_REQUEST,
            "This link is invalid, used or expired",
        ),
        (
            ApiError::BadRequest("x".into()),
            StatusCode::BAD_REQUEST,
            "The request is malformed",
        ),
        (
            ApiError::PayloadTooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
        ),
        (
            ApiError::UnsupportedMediaType,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "x-www-form-urlencoded",
        ),
        (
            ApiError::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily unavailable",
        ),
        (
            ApiError::Internal,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
        ),
        (
            ApiError::MethodNotAllowed,
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        ),
    ];
    for (error, status, wording) in cases {
        let response = ErrorPage::new(error, "").into_response();
        assert_eq!(response.status(), status);
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        let page = body(response).await;
        assert!(page.contains(wording), "{status}: {page}");
        assert!(!page.contains("\"error\""), "{page}");
    }
}

#[test]
fn error_pages_escape_their_text() {
    let page = ErrorTemplate {
        root: "",
        title: "<i>t</i>",
        message: "<i>m</i>",
    }
    .render()
    .unwrap();

    assert!(page.contains("<h1>&#60;i&#62;t&#60;/i&#62;</h1>"), "{page}");
    assert!(!page.contains("<i>"));
}
