//! Email verification and password reset over HTTP (SPEC.md section 4.1), with mail
//! delivered through the `file:` transport and read back from its directory.

use crate::server::{Inbox, PASSWORD, TestApp, expect_error, token_in};
use auth_ports::{AuditQuery, AuditRepository};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

auth_testing::on_both_backends!(
    crate::recovery::MailApp;
    registration_mails_a_link_that_verifies_the_email,
    a_new_verification_link_replaces_the_old_one,
    a_reset_sets_the_password_ends_sessions_and_clears_the_lock,
    bad_tokens_are_invalid_token,
    a_token_used_twice_at_once_works_once,
    ten_parallel_resets_with_one_token_give_one_success,
    unknown_emails_get_the_same_answer_and_no_mail,
    recovery_requests_are_rate_limited,
);

/// A server that mails into a directory, allows two recovery requests per hour, and lets
/// reset links live two seconds.
pub struct MailApp {
    app: TestApp,
    inbox: Inbox,
}

impl MailApp {
    pub async fn open(database: auth_testing::TestDatabase) -> Self {
        let vars = [
            ("RATE_LIMIT_RESET_PER_HOUR", "2"),
            ("RESET_TOKEN_TTL_SECS", "2"),
            ("AUTHD_PUBLIC_URL", "https://auth.example.com"),
        ];
        let (app, inbox) = TestApp::open_mailing(database, &vars).await;
        Self { app, inbox }
    }

    /// Registers `email` and returns the token of its verification mail (mail `n`).
    async fn register(&self, email: &str, n: usize) -> String {
        self.app.register(email).await;
        let mail = self.inbox.mail(n).await;
        assert_eq!(mail["to"], email);
        assert_eq!(mail["subject"], "Confirm your email address");
        token_in(&mail, "https://auth.example.com/verify-email?token=")
    }

    async fn post(&self, path: &str, body: Value) -> Response {
        self.app.post(path, None, body).await
    }

    async fn verify(&self, token: &str) -> Response {
        self.post("/v1/auth/verify-email", json!({"token": token}))
            .await
    }

    async fn request_reset(&self, email: &str) -> Response {
        self.post("/v1/auth/password-reset/request", json!({"email": email}))
            .await
    }

    async fn reset(&self, token: &str, password: &str) -> Response {
        let body = json!({"token": token, "new_password": password});
        self.post("/v1/auth/password-reset", body).await
    }

    async fn verified(&self, session: &str) -> bool {
        let me: Value = self.app.get_json("/v1/auth/me", session).await;
        me["user"]["email_verified"] == true
    }

    async fn count(&self, action: &str) -> usize {
        let query = AuditQuery {
            action: Some(action.into()),
            limit: 100,
            ..AuditQuery::default()
        };
        self.app.store.audit().query(query).await.unwrap().len()
    }
}

async fn registration_mails_a_link_that_verifies_the_email(f: &MailApp) {
    let token = f.register("ada@example.com", 1).await;
    let session = f.app.login("ada@example.com", PASSWORD).await;
    assert!(!f.verified(&session).await);

    assert_eq!(f.verify(&token).await.status(), StatusCode::NO_CONTENT);
    assert!(f.verified(&session).await);
    expect_error(
        f.verify(&token).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_eq!(f.count("email.verify").await, 1);

    // Verified already: accepted, and nothing is sent.
    let again = f
        .app
        .send(
            Method::POST,
            "/v1/auth/verify-email/request",
            &session,
            None,
        )
        .await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    f.inbox.expect_mails(1).await;
}

async fn a_new_verification_link_replaces_the_old_one(f: &MailApp) {
    let first = f.register("bob@example.com", 1).await;
    let other = f.register("carol@example.com", 2).await;
    let bob = f.app.login("bob@example.com", PASSWORD).await;
    let anonymous = f.post("/v1/auth/verify-email/request", json!({})).await;
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let accepted = f
        .app
        .send(Method::POST, "/v1/auth/verify-email/request", &bob, None)
        .await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let mail = f.inbox.mail(3).await;
    assert_eq!(mail["to"], "bob@example.com");
    let second = token_in(&mail, "verify-email?token=");

    expect_error(
        f.verify(&first).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_eq!(f.verify(&second).await.status(), StatusCode::NO_CONTENT);
    assert!(f.verified(&bob).await);
    // Another user's link is untouched.
    assert_eq!(f.verify(&other).await.status(), StatusCode::NO_CONTENT);
}

async fn a_reset_sets_the_password_ends_sessions_and_clears_the_lock(f: &MailApp) {
    f.register("dave@example.com", 1).await;
    let session = f.app.login("dave@example.com", PASSWORD).await;
    for _ in 0..5 {
        f.app
            .try_login("dave@example.com", "wrong password!!")
            .await;
    }
    let locked = f.app.try_login("dave@example.com", PASSWORD).await;
    expect_error(locked, StatusCode::LOCKED, "account_locked").await;

    let accepted = f.request_reset("Dave@Example.com").await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let mail = f.inbox.mail(2).await;
    assert_eq!(mail["subject"], "Reset your password");
    let reset = token_in(&mail, "https://auth.example.com/reset-password?token=");

    let weak = f.reset(&reset, "password1234").await;
    expect_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let new = "a brand new passphrase";
    assert_eq!(f.reset(&reset, new).await.status(), StatusCode::NO_CONTENT);
    expect_error(
        f.app.get("/v1/auth/me", &session).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let session = f.app.login("dave@example.com", new).await;
    assert!(
        f.verified(&session).await,
        "using the reset link proves the address"
    );
    let old = f.app.try_login("dave@example.com", PASSWORD).await;
    expect_error(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    expect_error(
        f.reset(&reset, "another new passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_eq!(f.count("password.reset.request").await, 1);
    assert_eq!(f.count("password.reset").await, 1);
}

async fn bad_tokens_are_invalid_token(f: &MailApp) {
    let verification = f.register("erin@example.com", 1).await;
    f.verify(&verification).await;
    f.request_reset("erin@example.com").await;
    let reset = token_in(&f.inbox.mail(2).await, "reset-password?token=");
    f.register("frank@example.com", 3).await;
    let frank = token_in(&f.inbox.mail(3).await, "verify-email?token=");

    let new = "a brand new passphrase";
    for (token, why) in [
        ("", "empty"),
        ("not a token", "malformed"),
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "unknown"),
        (frank.as_str(), "for email verification"),
    ] {
        let refused = f.reset(token, new).await;
        let body = expect_error(refused, StatusCode::BAD_REQUEST, "invalid_token").await;
        assert!(body["error"]["message"].is_string(), "{why}");
    }
    let refused = f.verify(&reset).await;
    expect_error(refused, StatusCode::BAD_REQUEST, "invalid_token").await;
    // Reset links live two seconds here.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    expect_error(
        f.reset(&reset, new).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    let missing = f
        .post("/v1/auth/password-reset", json!({"new_password": new}))
        .await;
    expect_error(
        missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(f.count("password.reset").await, 0);
    f.app.login("erin@example.com", PASSWORD).await;
}

async fn a_token_used_twice_at_once_works_once(f: &MailApp) {
    let token = f.register("gina@example.com", 1).await;
    let attempts = futures::future::join_all((0..6).map(|_| f.verify(&token))).await;
    let statuses: Vec<StatusCode> = attempts.iter().map(Response::status).collect();
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::NO_CONTENT)
        .count();
    assert_eq!(won, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::NO_CONTENT || *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
    assert_eq!(f.count("email.verify").await, 1);
}

async fn ten_parallel_resets_with_one_token_give_one_success(f: &MailApp) {
    f.register("gus@example.com", 1).await;
    let session = f.app.login("gus@example.com", PASSWORD).await;
    f.request_reset("gus@example.com").await;
    let token = token_in(&f.inbox.mail(2).await, "reset-password?token=");
    let new = "a brand new passphrase";
    let attempts = futures::future::join_all((0..10).map(|_| f.reset(&token, new))).await;
    let mut won = 0;
    for attempt in attempts {
        if attempt.status() == StatusCode::NO_CONTENT {
            won += 1;
        } else {
            expect_error(attempt, StatusCode::BAD_REQUEST, "invalid_token").await;
        }
    }
    assert_eq!(won, 1);
    assert_eq!(f.count("password.reset").await, 1);
    let revoked = f.app.get("/v1/auth/me", &session).await;
    expect_error(revoked, StatusCode::UNAUTHORIZED, "unauthorized").await;
    f.app.login("gus@example.com", new).await;
}

async fn unknown_emails_get_the_same_answer_and_no_mail(f: &MailApp) {
    f.register("hank@example.com", 1).await;
    let known = f.request_reset("hank@example.com").await;
    let unknown = f.request_reset("nobody@example.com").await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(unknown.status(), known.status());
    let (known, unknown) = (known.bytes().await.unwrap(), unknown.bytes().await.unwrap());
    assert_eq!(known, unknown);
    f.inbox.expect_mails(2).await;
    assert_eq!(f.inbox.mail(2).await["to"], "hank@example.com");
    assert_eq!(f.count("password.reset.request").await, 2);
    let malformed = f.request_reset("not-an-email").await;
    expect_error(
        malformed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

async fn recovery_requests_are_rate_limited(f: &MailApp) {
    f.register("ivy@example.com", 1).await;
    for _ in 0..2 {
        let accepted = f.request_reset("ivy@example.com").await;
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    }
    // Known or not, the third request from this client gets the same refusal.
    for email in ["ivy@example.com", "nobody@example.com"] {
        let limited = f.request_reset(email).await;
        assert!(limited.headers().contains_key("retry-after"));
        expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    f.inbox.expect_mails(3).await;
}
