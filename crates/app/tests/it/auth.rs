//! The accounts and sessions API (SPEC.md section 4.1) through a real server.

use crate::server::{PASSWORD, TestApp, expect_error, now};
use auth_ports::{AuditQuery, Email, UserRepository};
use auth_testing::unaudited;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

auth_testing::on_both_backends!(
    crate::server::TestApp;
    register_login_me_logout,
    register_rejects_duplicates_and_weak_passwords,
    register_and_login_never_return_secrets,
    logout_all_ends_every_session,
    sessions_are_listed_and_revoked_only_by_their_owner,
    password_change_revokes_other_sessions,
    bad_bodies_get_clean_errors_and_write_nothing,
    bad_tokens_are_unauthorized_with_a_challenge,
    login_events_are_audited,
    a_disabled_account_is_refused_only_with_the_right_password,
    a_lying_content_length_is_refused_at_once,
);

async fn audit_actions(app: &TestApp) -> Vec<(String, bool, Option<String>)> {
    let entries = app
        .audit_entries(AuditQuery {
            limit: 200,
            ..Default::default()
        })
        .await;
    entries
        .into_iter()
        .rev()
        .map(|e| {
            (
                e.entry.action,
                e.entry.success,
                e.entry
                    .details
                    .get("reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )
        })
        .collect()
}

async fn register_login_me_logout(app: &TestApp) {
    let id = app.register("Ada@Example.com").await;
    let token = app.login("ada@example.com", PASSWORD).await;
    let me = app.get("/v1/auth/me", &token).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"]["id"], id);
    assert_eq!(me["user"]["email"], "ada@example.com");
    assert_eq!(me["user"]["status"], "active");
    assert_eq!(me["roles"], json!(["user"]));
    assert_eq!(
        me["permissions"],
        json!([
            "profile:read",
            "profile:write",
            "sessions:read",
            "sessions:write"
        ])
    );

    let logout = app.post("/v1/auth/logout", Some(&token), json!({})).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.get("/v1/auth/me", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

async fn register_rejects_duplicates_and_weak_passwords(app: &TestApp) {
    app.register("bob@example.com").await;
    let again = app.try_register("BOB@example.com", PASSWORD).await;
    expect_error(again, StatusCode::CONFLICT, "email_taken").await;

    for (password, why) in [
        ("short", "too short"),
        ("password1234", "common"),
        ("my new password is long", "contains email"),
    ] {
        let weak = app.try_register("new@example.com", password).await;
        let body = expect_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(
            body["error"]["details"]["password"].is_string(),
            "{why}: {body}"
        );
    }
    let weak = app
        .try_register("bob.builder@example.com", "I am bob.builder!!")
        .await;
    expect_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let bad_email = app.try_register("not-an-email", PASSWORD).await;
    let body = expect_error(
        bad_email,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(body["error"]["details"]["email"].is_string());
    let long_name = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "n@example.com", "password": PASSWORD, "first_name": "x".repeat(101)}),
        )
        .await;
    expect_error(
        long_name,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let email = Email::parse("new@example.com").unwrap();
    assert_eq!(
        app.store.users().find_by_email(&email).await.unwrap(),
        None,
        "nothing written"
    );
}

async fn register_and_login_never_return_secrets(app: &TestApp) {
    let response = app.try_register("eve@example.com", PASSWORD).await;
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("argon2") && !text.contains(PASSWORD),
        "{text}"
    );
    let token = app.login("eve@example.com", PASSWORD).await;
    assert_eq!(token.len(), 43, "256 bits, base64url");
    let sessions = app
        .get("/v1/auth/sessions", &token)
        .await
        .text()
        .await
        .unwrap();
    assert!(!sessions.contains(&token));
    let audit = format!(
        "{:?}",
        app.audit_entries(AuditQuery {
            limit: 50,
            ..Default::default()
        })
        .await
    );
    assert!(!audit.contains(PASSWORD) && !audit.contains(&token) && !audit.contains("argon2"));
}

async fn logout_all_ends_every_session(app: &TestApp) {
    app.register("carl@example.com").await;
    let a = app.login("carl@example.com", PASSWORD).await;
    let b = app.login("carl@example.com", PASSWORD).await;
    assert_eq!(
        app.post("/v1/auth/logout-all", Some(&a), json!({}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    for token in [&a, &b] {
        assert_eq!(
            app.get("/v1/auth/me", token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let logout = audit_actions(app)
        .await
        .into_iter()
        .filter(|(a, ..)| a == "auth.logout")
        .count();
    assert_eq!(logout, 1);
}

async fn sessions_are_listed_and_revoked_only_by_their_owner(app: &TestApp) {
    app.register("dina@example.com").await;
    app.register("mallory@example.com").await;
    let first = app.login("dina@example.com", PASSWORD).await;
    let second = app.login("dina@example.com", PASSWORD).await;
    let intruder = app.login("mallory@example.com", PASSWORD).await;

    let listed: Value = app.get_json("/v1/auth/sessions", &first).await;
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    for field in [
        "id",
        "ip_address",
        "created_at",
        "last_accessed_at",
        "expires_at",
    ] {
        assert!(!sessions[0][field].is_null(), "{field}");
    }
    let other_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!("/v1/auth/sessions/{other_id}");
    let stolen = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&intruder)
        .send()
        .await
        .unwrap();
    expect_error(stolen, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        app.get("/v1/auth/me", &second).await.status(),
        StatusCode::OK,
        "still alive"
    );

    let malformed = app
        .client
        .delete(app.url("/v1/auth/sessions/not-a-uuid"))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    expect_error(malformed, StatusCode::NOT_FOUND, "not_found").await;

    let own = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/auth/me", &second).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/v1/auth/me", &first).await.status(),
        StatusCode::OK
    );
    assert!(
        audit_actions(app)
            .await
            .iter()
            .any(|(a, ok, _)| a == "session.revoke" && *ok)
    );
}

async fn password_change_revokes_other_sessions(app: &TestApp) {
    app.register("fay@example.com").await;
    let current = app.login("fay@example.com", PASSWORD).await;
    let other = app.login("fay@example.com", PASSWORD).await;
    let new_password = "a brand new passphrase";

    let wrong = app
        .post(
            "/v1/auth/password",
            Some(&current),
            json!({"current_password": "nope nope nope", "new_password": new_password}),
        )
        .await;
    expect_error(wrong, StatusCode::FORBIDDEN, "invalid_credentials").await;

    let weak = app
        .post(
            "/v1/auth/password",
            Some(&current),
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    expect_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let ok = app
        .post(
            "/v1/auth/password",
            Some(&current),
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/auth/me", &current).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/auth/me", &other).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let old = app.try_login("fay@example.com", PASSWORD).await;
    expect_error(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    app.login("fay@example.com", new_password).await;
    let changes: Vec<bool> = audit_actions(app)
        .await
        .into_iter()
        .filter(|(a, ..)| a == "password.change")
        .map(|(_, ok, _)| ok)
        .collect();
    assert_eq!(changes, [false, true]);
}

async fn bad_bodies_get_clean_errors_and_write_nothing(app: &TestApp) {
    let register = app.url("/v1/auth/register");
    let send = |body: String, content_type: &'static str| {
        app.client
            .post(register.clone())
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    expect_error(
        send("{\"email\": ".into(), "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let body = json!({"email": "x@example.com", "password": PASSWORD}).to_string();
    expect_error(
        send(body.clone(), "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let huge =
        json!({"email": "x@example.com", "password": PASSWORD, "first_name": "x".repeat(70_000)})
            .to_string();
    expect_error(
        send(huge, "application/json").await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let wrong_type = json!({"email": 42, "password": PASSWORD}).to_string();
    let body422 = expect_error(
        send(wrong_type, "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(body422["error"]["details"].is_object());
    let missing = json!({"email": "x@example.com"}).to_string();
    expect_error(
        send(missing, "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let email = Email::parse("x@example.com").unwrap();
    assert_eq!(
        app.store.users().find_by_email(&email).await.unwrap(),
        None,
        "nothing written"
    );
    assert!(audit_actions(app).await.is_empty(), "nothing audited");
}

async fn bad_tokens_are_unauthorized_with_a_challenge(app: &TestApp) {
    for auth in [
        None,
        Some("Bearer"),
        Some("Bearer not-a-token"),
        Some("Basic dXNlcjpwYXNz"),
    ] {
        let mut request = app.client.get(app.url("/v1/auth/me"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{auth:?}");
        expect_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // A token in the query string is never accepted.
    app.register("gus@example.com").await;
    let token = app.login("gus@example.com", PASSWORD).await;
    let query = app
        .client
        .get(app.url(&format!("/v1/auth/me?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), StatusCode::UNAUTHORIZED);
}

async fn login_events_are_audited(app: &TestApp) {
    let id = app.register("hal@example.com").await;
    let unknown = app.try_login("nobody@example.com", PASSWORD).await;
    let unknown_body = expect_error(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let wrong = app.try_login("hal@example.com", "wrong password!").await;
    let wrong_body = expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(
        unknown_body, wrong_body,
        "unknown email and wrong password look the same"
    );
    app.login("hal@example.com", PASSWORD).await;

    let entries = app
        .audit_entries(AuditQuery {
            limit: 50,
            ..Default::default()
        })
        .await;
    let find = |action: &str, reason: Option<&str>| {
        entries
            .iter()
            .filter(|e| {
                e.entry.action == action
                    && e.entry.details.get("reason").and_then(Value::as_str) == reason
            })
            .collect::<Vec<_>>()
    };
    let register = find("user.register", None);
    assert_eq!(register.len(), 1);
    assert_eq!(
        register[0].entry.user_id.map(|u| u.to_string()),
        Some(id.clone())
    );
    assert_eq!(
        register[0].entry.ip_address,
        Some("127.0.0.1".parse().unwrap())
    );
    let unknown = find("auth.login", Some("unknown_email"));
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].entry.user_id, None);
    assert!(!unknown[0].entry.success);
    let wrong = find("auth.login", Some("invalid_credentials"));
    assert_eq!(wrong.len(), 1);
    assert_eq!(wrong[0].entry.user_id.map(|u| u.to_string()), Some(id));
    let ok = find("auth.login", None);
    assert_eq!(ok.len(), 1);
    assert!(ok[0].entry.success);
    assert!(ok[0].entry.user_agent.is_some());
}

// ---- tests that need their own configuration ----

configured_app! {
    /// Lockout after 5 failures for 2 seconds.
    ShortLockout = [("LOCKOUT_DURATION_SECS", "2")];
}

configured_app! {
    /// Sessions idle out after 2 seconds.
    ShortIdle = [("SESSION_IDLE_TIMEOUT_SECS", "2")];
}

configured_app! {
    /// Three logins per minute per IP or account, two registrations.
    Limited = [
        ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
        ("RATE_LIMIT_REGISTER_PER_MIN", "2"),
    ];
}

mod lockout {
    use super::lockout_locks_even_the_right_password_then_lifts;
    auth_testing::on_both_backends!(crate::auth::ShortLockout; lockout_locks_even_the_right_password_then_lifts);
}

mod idle {
    use super::idle_sessions_expire;
    auth_testing::on_both_backends!(crate::auth::ShortIdle; idle_sessions_expire);
}

mod limits {
    use super::rate_limits_answer_429_even_for_the_right_password;
    auth_testing::on_both_backends!(crate::auth::Limited; rate_limits_answer_429_even_for_the_right_password);
}

async fn lockout_locks_even_the_right_password_then_lifts(app: &TestApp) {
    app.register("ivy@example.com").await;
    let attempt = |password: &'static str| {
        app.post(
            "/v1/auth/login",
            None,
            json!({"email": "ivy@example.com", "password": password}),
        )
    };
    for _ in 0..5 {
        expect_error(
            attempt("wrong password!").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    expect_error(
        attempt(PASSWORD).await,
        StatusCode::LOCKED,
        "account_locked",
    )
    .await;
    expect_error(
        attempt("wrong password!").await,
        StatusCode::LOCKED,
        "account_locked",
    )
    .await;
    let lockouts = audit_actions(app)
        .await
        .into_iter()
        .filter(|(a, ok, _)| a == "auth.lockout" && *ok)
        .count();
    assert_eq!(lockouts, 1, "auth.lockout once, when the lock is set");

    tokio::time::sleep(Duration::from_millis(2_200)).await;
    app.login("ivy@example.com", PASSWORD).await;
}

async fn idle_sessions_expire(app: &TestApp) {
    app.register("jay@example.com").await;
    let token = app.login("jay@example.com", PASSWORD).await;
    // Activity keeps the session alive past the idle timeout…
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(
            app.get("/v1/auth/me", &token).await.status(),
            StatusCode::OK
        );
    }
    // …and idleness ends it.
    tokio::time::sleep(Duration::from_millis(2_800)).await;
    expect_error(
        app.get("/v1/auth/me", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

async fn rate_limits_answer_429_even_for_the_right_password(app: &TestApp) {
    app.register("kit@example.com").await;
    app.register("lou@example.com").await;
    let third = app.try_register("max@example.com", PASSWORD).await;
    assert!(third.headers().contains_key("retry-after"));
    expect_error(third, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    for _ in 0..3 {
        app.login("kit@example.com", PASSWORD).await;
    }
    let limited = app.try_login("kit@example.com", PASSWORD).await;
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

async fn a_disabled_account_is_refused_only_with_the_right_password(app: &TestApp) {
    use auth_ports::{UserId, UserStatus, UserUpdate};
    let id = app.register("sus@example.com").await;
    let id = UserId(id.parse().unwrap());
    let token = app.login("sus@example.com", PASSWORD).await;
    let suspend = UserUpdate {
        status: Some(UserStatus::Suspended),
        ..Default::default()
    };
    app.store
        .users()
        .update(id, suspend, now(), unaudited())
        .await
        .unwrap();
    assert_eq!(
        app.get("/v1/auth/me", &token).await.status(),
        StatusCode::UNAUTHORIZED,
        "sessions end"
    );
    let wrong = app.try_login("sus@example.com", "wrong password!").await;
    expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let right = app.try_login("sus@example.com", PASSWORD).await;
    expect_error(right, StatusCode::FORBIDDEN, "account_disabled").await;
}

async fn a_lying_content_length_is_refused_at_once(app: &TestApp) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = "POST /v1/auth/register HTTP/1.1\r\nHost: authd\r\ncontent-type: application/json\r\n\
                   content-length: 99999999\r\n\r\n{}";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = vec![0; 1024];
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut response)).await;
    let text = String::from_utf8_lossy(&response[..read.unwrap().unwrap()]).into_owned();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
    // The unread body leaves the connection unusable: clients are told not to reuse it,
    // and the server closes it.
    assert!(text.contains("connection: close"), "{text}");
    let mut rest = Vec::new();
    // End of stream, or a reset if the close found the body's bytes unread.
    let closed = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut rest));
    assert!(closed.await.is_ok(), "the server closed the connection");
}

configured_app! {
    /// Logins must have a verified email.
    VerifiedOnly = [("REQUIRE_VERIFIED_EMAIL", "true")];
}

configured_app! {
    /// Behind a trusted proxy on 127.0.0.1, with three logins per minute per IP or account.
    BehindProxy = [
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
    ];
}

mod verified {
    use super::unverified_emails_cannot_log_in;
    auth_testing::on_both_backends!(crate::auth::VerifiedOnly; unverified_emails_cannot_log_in);
}

mod proxy {
    use super::client_addresses_come_from_the_trusted_proxy;
    auth_testing::on_both_backends!(crate::auth::BehindProxy; client_addresses_come_from_the_trusted_proxy);
}

async fn unverified_emails_cannot_log_in(app: &TestApp) {
    use auth_ports::UserId;
    let id = app.register("unv@example.com").await;
    let wrong = app.try_login("unv@example.com", "wrong password!").await;
    expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let right = app.try_login("unv@example.com", PASSWORD).await;
    expect_error(right, StatusCode::FORBIDDEN, "email_not_verified").await;
    let id = UserId(id.parse().unwrap());
    app.store
        .users()
        .mark_email_verified(id, now(), unaudited())
        .await
        .unwrap();
    app.login("unv@example.com", PASSWORD).await;
}

async fn client_addresses_come_from_the_trusted_proxy(app: &TestApp) {
    app.register("px@example.com").await;
    let login_from = |ip: &'static str, email: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
    };
    // The per-account limit holds across client addresses.
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_eq!(
            login_from(ip, "px@example.com").await.unwrap().status(),
            StatusCode::OK
        );
    }
    let fourth = login_from("203.0.113.4", "px@example.com").await.unwrap();
    expect_error(fourth, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // The audit trail and the session record the forwarded client, not the proxy.
    let entries = app
        .audit_entries(AuditQuery {
            action: Some("auth.login".into()),
            limit: 10,
            ..Default::default()
        })
        .await;
    let ips: Vec<String> = entries
        .iter()
        .filter(|e| e.entry.success)
        .filter_map(|e| e.entry.ip_address.map(|ip| ip.to_string()))
        .collect();
    assert_eq!(ips, ["203.0.113.3", "203.0.113.2", "203.0.113.1"]);

    // The per-IP limit holds across accounts.
    for (i, email) in [
        "p1@example.com",
        "p2@example.com",
        "p3@example.com",
        "p4@example.com",
    ]
    .into_iter()
    .enumerate()
    {
        app.register(email).await;
        let status = login_from("198.51.100.9", email).await.unwrap().status();
        let expected = if i < 3 {
            StatusCode::OK
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "{email}");
    }
}
