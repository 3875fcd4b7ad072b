//! The pages the mails link to (`/verify-email`, `/reset-password` and, without a token,
//! its reset request form) and `MAIL_LINK_BASE`: forms shown on GET, the same service
//! calls as the JSON API on POST, every answer an HTML page with the page headers, never
//! JSON.

use crate::server::{Inbox, PASSWORD, TestApp, expect_error, token_in};
use auth_ports::{AuditQuery, Email, UserRepository as _};
use reqwest::{Method, Response, StatusCode};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

auth_testing::on_both_backends!(
    crate::pages::PagesApp;
    mails_link_under_mail_link_base,
    the_verification_page_verifies_only_when_posted,
    the_reset_page_sets_the_password_and_ends_every_session,
    refused_passwords_show_the_form_again_and_change_nothing,
    the_notice_mail_links_to_the_reset_request_form,
    a_requested_link_resets_the_password,
    unknown_and_malformed_addresses_get_no_mail,
    reset_requests_share_the_api_limits,
    bad_links_get_an_error_page,
    malformed_and_oversized_forms_get_an_error_page,
    other_methods_and_the_stylesheet,
);

/// Exactly the policy ISSUE 17 sets for every page.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Where `PagesApp`'s mails link to: a web app, which serves the same paths as authd.
const LINK_BASE: &str = "https://app.example.com/account";

/// A token the server never issued.
const UNKNOWN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// A server that mails into a directory, with mail links into a web app.
pub struct PagesApp {
    app: TestApp,
    inbox: Inbox,
}

impl PagesApp {
    pub async fn open(database: auth_testing::TestDatabase) -> Self {
        let vars = [("MAIL_LINK_BASE", "https://app.example.com/account/")];
        // The default `RATE_LIMIT_RESET_PER_HOUR` (5) applies.
        let (app, inbox) = TestApp::open_mailing(database, &vars).await;
        Self { app, inbox }
    }

    /// Registers `email` and returns the token of its verification mail (mail `n`).
    async fn register(&self, email: &str, n: usize) -> String {
        self.app.register(email).await;
        token_in(&self.inbox.mail(n).await, "verify-email?token=")
    }

    /// Asks for a reset of `email` and returns the token of its mail (mail `n`).
    async fn reset_token(&self, email: &str, n: usize) -> String {
        let body = json!({"email": email});
        let accepted = self
            .app
            .post("/v1/auth/password-reset/request", None, body)
            .await;
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
        token_in(&self.inbox.mail(n).await, "reset-password?token=")
    }

    async fn get(&self, path_and_query: &str) -> Response {
        self.app.get_anonymously(path_and_query).await
    }

    /// POSTs `fields` as a browser posts a form.
    async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.app
            .client
            .post(self.app.url(path))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Asks for a reset link of `email` on the page, as a browser posts the form.
    async fn request_reset(&self, email: &str) -> Response {
        self.submit("/reset-password/request", &[("email", email)])
            .await
    }

    async fn verified(&self, email: &str) -> bool {
        let email = Email::parse(email).unwrap();
        let user = self.app.store.users().find_by_email(&email).await.unwrap();
        user.unwrap().email_verified
    }

    async fn count(&self, action: &str) -> usize {
        let query = AuditQuery {
            action: Some(action.into()),
            limit: 100,
            ..AuditQuery::default()
        };
        self.app.audit_entries(query).await.len()
    }
}

/// Asserts `status`, the page headers, and returns the page.
async fn page(response: Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status, "{}", response.url());
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let text = response.text().await.unwrap();
    assert!(text.starts_with("<!doctype html>"), "{text}");
    assert!(!text.contains("<script"), "{text}");
    text
}

/// Asserts an error page of `status` whose heading says `heading`.
async fn error_page(response: Response, status: StatusCode, heading: &str) -> String {
    let text = page(response, status).await;
    assert!(text.contains(&format!("<h1>{heading}")), "{text}");
    text
}

async fn mails_link_under_mail_link_base(f: &PagesApp) {
    f.app.register("ada@example.com").await;
    let verification = f.inbox.mail(1).await;
    token_in(
        &verification,
        "https://app.example.com/account/verify-email?token=",
    );
    let reset = f.reset_token("ada@example.com", 2).await;
    token_in(
        &f.inbox.mail(2).await,
        "https://app.example.com/account/reset-password?token=",
    );
    // The password-changed notice points to the same place.
    let changed = json!({"token": reset, "new_password": "a brand new passphrase"});
    let done = f.app.post("/v1/auth/password-reset", None, changed).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    let notice = f.inbox.mail(3).await;
    assert!(
        notice["text"]
            .as_str()
            .unwrap()
            .contains("https://app.example.com/account/reset-password\n"),
        "{notice}"
    );
}

async fn the_verification_page_verifies_only_when_posted(f: &PagesApp) {
    let token = f.register("bob@example.com", 1).await;

    let form = page(
        f.get(&format!("/verify-email?token={token}")).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        form.contains("<h1>Confirm your email address</h1>"),
        "{form}"
    );
    assert!(form.contains("<form method=\"post\" action=\"/verify-email\">"));
    assert!(form.contains(&format!(
        "<input type=\"hidden\" name=\"token\" value=\"{token}\">"
    )));
    // A link scanner's GET uses nothing up.
    f.get(&format!("/verify-email?token={token}")).await;
    assert!(!f.verified("bob@example.com").await);
    assert_eq!(f.count("email.verify").await, 0);

    let done = page(
        f.submit("/verify-email", &[("token", &token)]).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        done.contains("<h1>Your email address is verified</h1>"),
        "{done}"
    );
    assert!(f.verified("bob@example.com").await);
    assert_eq!(f.count("email.verify").await, 1);

    let again = f.submit("/verify-email", &[("token", &token)]).await;
    error_page(
        again,
        StatusCode::BAD_REQUEST,
        "This link is invalid, used or expired",
    )
    .await;
    assert_eq!(f.count("email.verify").await, 1);
}

async fn the_reset_page_sets_the_password_and_ends_every_session(f: &PagesApp) {
    f.register("carol@example.com", 1).await;
    let session = f.app.login("carol@example.com", PASSWORD).await;
    let token = f.reset_token("carol@example.com", 2).await;

    let form = page(
        f.get(&format!("/reset-password?token={token}")).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        form.contains("<form method=\"post\" action=\"/reset-password\">"),
        "{form}"
    );
    assert!(form.contains(&format!("name=\"token\" value=\"{token}\"")));
    for field in ["new_password", "confirm_password"] {
        assert!(
            form.contains(&format!("<label for=\"{field}\">")),
            "{field}"
        );
        assert!(form.contains(&format!(
            "<input id=\"{field}\" name=\"{field}\" type=\"password\" \
             autocomplete=\"new-password\" required minlength=\"12\" maxlength=\"128\""
        )));
    }

    let new = "a brand new passphrase";
    let fields = [
        ("token", token.as_str()),
        ("new_password", new),
        ("confirm_password", new),
    ];
    let done = page(f.submit("/reset-password", &fields).await, StatusCode::OK).await;
    assert!(done.contains("<h1>Your password is changed</h1>"), "{done}");
    assert!(!done.contains(new));
    let ended = f.app.get("/v1/auth/me", &session).await;
    expect_error(ended, StatusCode::UNAUTHORIZED, "unauthorized").await;
    f.app.login("carol@example.com", new).await;
    let old = f.app.try_login("carol@example.com", PASSWORD).await;
    expect_error(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(f.count("password.reset").await, 1);

    let again = f.submit("/reset-password", &fields).await;
    error_page(
        again,
        StatusCode::BAD_REQUEST,
        "This link is invalid, used or expired",
    )
    .await;
    assert_eq!(f.count("password.reset").await, 1);
}

async fn refused_passwords_show_the_form_again_and_change_nothing(f: &PagesApp) {
    f.register("dave@example.com", 1).await;
    let session = f.app.login("dave@example.com", PASSWORD).await;
    let token = f.reset_token("dave@example.com", 2).await;

    let mismatch = [
        ("token", token.as_str()),
        ("new_password", "first secret passphrase"),
        ("confirm_password", "second secret passphrase"),
    ];
    let weak = [
        ("token", token.as_str()),
        ("new_password", "password1234"),
        ("confirm_password", "password1234"),
    ];
    for (fields, field, reason) in [
        (&mismatch, "confirm_password", "The two passwords differ"),
        (&weak, "new_password", "Password is too common"),
    ] {
        let form = page(
            f.submit("/reset-password", fields).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(
            form.contains(&format!(
                "<p class=\"error\" id=\"{field}-error\" role=\"alert\">{reason}"
            )),
            "{form}"
        );
        assert!(form.contains("aria-invalid=\"true\""), "{form}");
        assert!(form.contains(&format!("name=\"token\" value=\"{token}\"")));
        for (name, value) in fields.iter().skip(1) {
            assert!(!form.contains(value), "{name} echoed: {form}");
        }
    }
    // Nothing changed, and the link still works.
    assert_eq!(f.count("password.reset").await, 0);
    assert_eq!(
        f.app.get("/v1/auth/me", &session).await.status(),
        StatusCode::OK
    );
    f.app.login("dave@example.com", PASSWORD).await;
    let new = "a brand new passphrase";
    let fields = [
        ("token", token.as_str()),
        ("new_password", new),
        ("confirm_password", new),
    ];
    page(f.submit("/reset-password", &fields).await, StatusCode::OK).await;
}

async fn bad_links_get_an_error_page(f: &PagesApp) {
    let verification = f.register("erin@example.com", 1).await;
    let invalid = "This link is invalid, used or expired";
    for path in [
        "/verify-email",
        "/verify-email?token=",
        "/verify-email?token=%20",
    ] {
        error_page(f.get(path).await, StatusCode::BAD_REQUEST, invalid).await;
    }
    let unknown = f.submit("/verify-email", &[("token", UNKNOWN)]).await;
    error_page(unknown, StatusCode::BAD_REQUEST, invalid).await;
    let new = "a brand new passphrase";
    // A verification token does not reset a password, nor an unknown one.
    for token in [UNKNOWN, verification.as_str(), ""] {
        let fields = [
            ("token", token),
            ("new_password", new),
            ("confirm_password", new),
        ];
        let refused = f.submit("/reset-password", &fields).await;
        error_page(refused, StatusCode::BAD_REQUEST, invalid).await;
    }
    assert!(!f.verified("erin@example.com").await);
    assert_eq!(f.count("password.reset").await, 0);

    // Whatever the link holds comes back escaped, inside the attribute.
    let hostile = "\"><script>alert(1)</script>";
    let shown = f
        .app
        .client
        .get(f.app.url("/verify-email"))
        .query(&[("token", hostile)])
        .send()
        .await
        .unwrap();
    let shown = page(shown, StatusCode::OK).await;
    assert!(
        shown.contains("value=\"&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;\""),
        "{shown}"
    );
}

async fn malformed_and_oversized_forms_get_an_error_page(f: &PagesApp) {
    let token = f.register("frank@example.com", 1).await;
    let send = |path: &str, content_type: &str, body: String| {
        f.app
            .client
            .post(f.app.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let form = "application/x-www-form-urlencoded";
    let twice = format!("token={token}&token={token}");
    let malformed = send("/verify-email", form, twice).await.unwrap();
    error_page(malformed, StatusCode::BAD_REQUEST, "Bad Request").await;
    let duplicate = "token=a&new_password=b&new_password=c".to_owned();
    let malformed = send("/reset-password", form, duplicate).await.unwrap();
    error_page(malformed, StatusCode::BAD_REQUEST, "Bad Request").await;
    let duplicate = "email=frank@example.com&email=x@example.com".to_owned();
    let malformed = send("/reset-password/request", form, duplicate);
    error_page(
        malformed.await.unwrap(),
        StatusCode::BAD_REQUEST,
        "Bad Request",
    )
    .await;
    let json = json!({"email": "frank@example.com"}).to_string();
    let json = send("/reset-password/request", "application/json", json);
    error_page(
        json.await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported form",
    )
    .await;
    let huge = format!("email=frank@example.com&pad={}", "x".repeat(70 * 1024));
    let declared = send("/reset-password/request", form, huge).await.unwrap();
    error_page(declared, StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large").await;
    let json = send(
        "/verify-email",
        "application/json",
        json!({"token": token}).to_string(),
    );
    let json = json.await.unwrap();
    error_page(json, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported form").await;
    let huge = format!("token={token}&pad={}", "x".repeat(70 * 1024));
    let declared = send("/verify-email", form, huge).await.unwrap();
    error_page(declared, StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large").await;
    // Chunked, so the size is known only once the body is read.
    let chunked = chunked_post(f, "/reset-password", 70 * 1024).await;
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert!(
        chunked.contains("content-type: text/html; charset=utf-8"),
        "{chunked}"
    );
    assert!(chunked.contains("<h1>Payload Too Large</h1>"), "{chunked}");
    // Refused before routing, and still a page.
    let nul = f.get(&format!("/verify-email?token={token}%00")).await;
    error_page(nul, StatusCode::BAD_REQUEST, "Bad Request").await;
    assert!(!f.verified("frank@example.com").await);
    f.inbox.expect_mails(1).await;
}

/// POSTs a chunked form body of `size` bytes over a raw connection and returns the answer.
async fn chunked_post(f: &PagesApp, path: &str, size: usize) -> String {
    let address = f.app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: authd\r\nconnection: close\r\n\
         content-type: application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{size:x}\r\ntoken={}\r\n0\r\n\r\n", "x".repeat(size - 6));
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(chunk.as_bytes()).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer));
    let _ = read.await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn other_methods_and_the_stylesheet(f: &PagesApp) {
    let paths = [
        "/verify-email",
        "/reset-password",
        "/reset-password/request",
        "/assets/authd.css",
    ];
    for path in paths {
        let response = f
            .app
            .client
            .request(Method::DELETE, f.app.url(path))
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("allow"), "{path}");
        error_page(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
        )
        .await;
    }
    // The request form only posts.
    let get = f.get("/reset-password/request?email=a@example.com").await;
    error_page(get, StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed").await;
    let css = f.get("/assets/authd.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers()["content-security-policy"], CSP);
    let css = css.text().await.unwrap();
    assert!(css.contains("max-width: 28rem"), "{css}");
    assert!(css.contains(":focus-visible"), "{css}");
}

/// Asserts the reset request form, with `status`, and returns the page.
async fn request_form(response: Response, status: StatusCode) -> String {
    let form = page(response, status).await;
    assert!(form.contains("<h1>Reset your password</h1>"), "{form}");
    assert!(
        form.contains("<form method=\"post\" action=\"/reset-password/request\">"),
        "{form}"
    );
    assert!(form.contains("<label for=\"email\">Email address</label>"));
    assert!(
        form.contains(
            "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" \
             required maxlength=\"254\""
        ),
        "{form}"
    );
    assert_eq!(form.matches("<input").count(), 1, "{form}");
    assert_eq!(form.matches("<button type=\"submit\">").count(), 1);
    form
}

/// Asserts the page that follows a well-formed request, and returns it.
async fn requested(response: Response) -> String {
    let sent = page(response, StatusCode::OK).await;
    assert!(sent.contains("<h1>Check your mail</h1>"), "{sent}");
    assert!(
        sent.contains("If an account exists for that address"),
        "{sent}"
    );
    assert!(
        sent.contains("The link works once, for 30 minutes."),
        "{sent}"
    );
    sent
}

/// The only link to `LINK_BASE` in a mail's text (also in its HTML), as a path on authd.
fn link_in(mail: &serde_json::Value) -> String {
    let text = mail["text"].as_str().unwrap();
    let links: Vec<&str> = text
        .split_whitespace()
        .filter(|word| word.starts_with(LINK_BASE))
        .collect();
    assert_eq!(links.len(), 1, "{text}");
    assert!(
        mail["html"]
            .as_str()
            .unwrap()
            .contains(&format!("href=\"{}\"", links[0]))
    );
    links[0][LINK_BASE.len()..].to_owned()
}

async fn the_notice_mail_links_to_the_reset_request_form(f: &PagesApp) {
    f.register("gina@example.com", 1).await;
    let session = f.app.login("gina@example.com", PASSWORD).await;
    let body = json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"});
    let changed = f.app.post("/v1/auth/password", Some(&session), body).await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let notice = f.inbox.mail(2).await;
    assert_eq!(notice["subject"], "Your password was changed");

    let link = link_in(&notice);
    assert_eq!(link, "/reset-password");
    let form = request_form(f.get(&link).await, StatusCode::OK).await;
    assert!(
        form.contains("<title>Reset your password</title>"),
        "{form}"
    );
    assert!(form.contains("value=\"\""), "{form}");
    assert!(!form.contains("aria-invalid"), "{form}");
    // An empty or blank token is no token either.
    for path in ["/reset-password?token=", "/reset-password?token=%20"] {
        request_form(f.get(path).await, StatusCode::OK).await;
    }
    // Showing the form asks for nothing.
    f.inbox.expect_mails(2).await;
    assert_eq!(f.count("password.reset.request").await, 0);
}

async fn a_requested_link_resets_the_password(f: &PagesApp) {
    f.register("hugo@example.com", 1).await;
    let session = f.app.login("hugo@example.com", PASSWORD).await;

    requested(f.request_reset(" Hugo@Example.com ").await).await;
    f.inbox.expect_mails(2).await;
    let mail = f.inbox.mail(2).await;
    assert_eq!(mail["to"], "hugo@example.com");
    assert_eq!(mail["subject"], "Reset your password");
    assert_eq!(f.count("password.reset.request").await, 1);

    // The mail's link, opened and its form submitted, sets the password.
    let link = link_in(&mail);
    let token = token_in(&mail, "reset-password?token=");
    assert_eq!(link, format!("/reset-password?token={token}"));
    let form = page(f.get(&link).await, StatusCode::OK).await;
    assert!(form.contains("<h1>Choose a new password</h1>"), "{form}");
    let new = "a brand new passphrase";
    let fields = [
        ("token", token.as_str()),
        ("new_password", new),
        ("confirm_password", new),
    ];
    let done = page(f.submit("/reset-password", &fields).await, StatusCode::OK).await;
    assert!(done.contains("<h1>Your password is changed</h1>"), "{done}");
    assert_eq!(f.count("password.reset").await, 1);
    let ended = f.app.get("/v1/auth/me", &session).await;
    expect_error(ended, StatusCode::UNAUTHORIZED, "unauthorized").await;
    f.app.login("hugo@example.com", new).await;
}

async fn unknown_and_malformed_addresses_get_no_mail(f: &PagesApp) {
    f.register("iris@example.com", 1).await;
    let known = requested(f.request_reset("iris@example.com").await).await;
    let unknown = requested(f.request_reset("nobody@example.com").await).await;
    assert_eq!(known, unknown);
    f.inbox.expect_mails(2).await;
    assert_eq!(f.inbox.mail(2).await["to"], "iris@example.com");
    assert_eq!(f.count("password.reset.request").await, 2);

    // A malformed address: the form again, with the API's reason and what was typed,
    // escaped.
    for (typed, shown, reason) in [
        ("", "", "Email is empty."),
        (
            "<b>iris</b>",
            "&#60;b&#62;iris&#60;/b&#62;",
            "Email is not a valid address.",
        ),
        (
            "\"><script>x</script>",
            "&#34;&#62;&#60;script&#62;x&#60;/script&#62;",
            "Email is not a valid address.",
        ),
    ] {
        let refused = f.request_reset(typed).await;
        let form = request_form(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            form.contains("<title>Error: Reset your password</title>"),
            "{form}"
        );
        assert!(
            form.contains(&format!(
                "value=\"{shown}\" aria-invalid=\"true\" aria-describedby=\"email-error\">"
            )),
            "{form}"
        );
        assert!(
            form.contains(&format!(
                "<p class=\"error\" id=\"email-error\" role=\"alert\">{reason}</p>"
            )),
            "{form}"
        );
    }
    let api = json!({"email": "<b>iris</b>"});
    let api = f
        .app
        .post("/v1/auth/password-reset/request", None, api)
        .await;
    let api = expect_error(api, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        api["error"]["details"]["email"],
        "email is not a valid address"
    );
    f.inbox.expect_mails(2).await;
    assert_eq!(f.count("password.reset.request").await, 2);
}

async fn reset_requests_share_the_api_limits(f: &PagesApp) {
    f.register("jack@example.com", 1).await;
    // Five an hour per address and per client, counted across the page and the API.
    for _ in 0..3 {
        requested(f.request_reset("jack@example.com").await).await;
    }
    for _ in 0..2 {
        let body = json!({"email": "jack@example.com"});
        let accepted = f
            .app
            .post("/v1/auth/password-reset/request", None, body)
            .await;
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    }
    for email in ["jack@example.com", "nobody@example.com"] {
        let limited = f.request_reset(email).await;
        assert!(limited.headers().contains_key("retry-after"));
        error_page(limited, StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").await;
    }
    f.inbox.expect_mails(6).await;
    assert_eq!(f.count("password.reset.request").await, 5);
}
