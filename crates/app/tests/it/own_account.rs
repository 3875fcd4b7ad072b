//! `DELETE /v1/auth/account` and `GET /v1/auth/account/export`: a user's own account as
//! a whole.

use crate::server::{PASSWORD, TestApp, expect_error, expect_invalid};
use auth_ports::{AuditQuery, Email, UserId, UserRepository as _, UserStatus};
use reqwest::{Method, StatusCode};
use serde_json::json;

auth_testing::on_both_backends!(
    crate::server::TestApp;
    deleting_ones_account_erases_it_and_keeps_the_trail,
    deleting_needs_the_password_and_spares_the_last_admin,
    an_export_holds_the_callers_data_and_no_secret,
);

async fn delete(app: &TestApp, token: &str, body: serde_json::Value) -> reqwest::Response {
    app.send(Method::DELETE, "/v1/auth/account", token, Some(body))
        .await
}

async fn deleting_ones_account_erases_it_and_keeps_the_trail(app: &TestApp) {
    let id = UserId(app.register("ada@example.com").await.parse().unwrap());
    let token = app.login("ada@example.com", PASSWORD).await;
    let other = app.login("ada@example.com", PASSWORD).await;
    let response = delete(app, &token, json!({"password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    for session in [&token, &other] {
        let me = app.get("/v1/auth/me", session).await;
        assert_eq!(
            me.status(),
            StatusCode::UNAUTHORIZED,
            "a session outlived the account"
        );
    }
    let login = app.try_login("ada@example.com", PASSWORD).await;
    expect_error(login, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let stored = app.store.users().find_by_id(id).await.unwrap().unwrap();
    assert_eq!(stored.status, UserStatus::Deleted);
    assert!(
        stored.email.as_str().ends_with("@erased.invalid"),
        "{}",
        stored.email
    );
    assert!(stored.password_hash.is_none() && stored.first_name.is_none());
    let users = app.store.users();
    let email = Email::parse("ada@example.com").unwrap();
    let found = users.find_by_email(&email).await.unwrap();
    assert!(found.is_none(), "the address is free again");
    assert_eq!(
        app.try_register("ada@example.com", PASSWORD).await.status(),
        StatusCode::CREATED
    );

    let trail = app
        .audit_entries(AuditQuery {
            resource_id: Some(id.to_string()),
            limit: 50,
            ..AuditQuery::default()
        })
        .await;
    let actions: Vec<_> = trail.iter().map(|e| e.entry.action.as_str()).collect();
    assert!(
        actions.contains(&"user.register") && actions.contains(&"auth.login"),
        "{actions:?}"
    );
    let deleted = trail
        .iter()
        .find(|e| e.entry.action == "user.delete")
        .unwrap();
    assert_eq!(deleted.entry.details["via"], "self");
    assert_eq!(deleted.entry.user_id, Some(id));
}

async fn deleting_needs_the_password_and_spares_the_last_admin(app: &TestApp) {
    app.register("grace@example.com").await;
    let token = app.login("grace@example.com", PASSWORD).await;
    let wrong = delete(app, &token, json!({"password": "not her password at all"})).await;
    expect_error(wrong, StatusCode::FORBIDDEN, "invalid_credentials").await;
    let missing = delete(app, &token, json!({})).await;
    expect_invalid(missing, "password", "no password").await;
    let me = app.get("/v1/auth/me", &token).await;
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "a refused deletion changed nothing"
    );

    let (_, root) = app.login_with_role("root@example.com", "admin").await;
    let last = delete(app, &root, json!({"password": PASSWORD})).await;
    expect_error(last, StatusCode::CONFLICT, "last_admin").await;
    let me = app.get("/v1/auth/me", &root).await;
    assert_eq!(me.status(), StatusCode::OK);
}

async fn an_export_holds_the_callers_data_and_no_secret(app: &TestApp) {
    app.register("ada@example.com").await;
    let token = app.login("ada@example.com", PASSWORD).await;
    let response = app.get("/v1/auth/account/export", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains(&token) && !text.contains("argon2"),
        "a secret in {text}"
    );
    let export: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["user"]["email"], "ada@example.com");
    assert_eq!(export["roles"], json!(["user"]));
    assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(export["sessions"][0]["current"], true);
    assert_eq!(export["oauth_accounts"], json!([]));
    assert_eq!(export["mfa"]["recovery_codes_left"], 0);
    let actions: Vec<_> = export["audit_trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["auth.login", "user.register"], "newest first");

    crate::mfa::authenticated_long_ago(app).await;
    let stale = app.get("/v1/auth/account/export", &token).await;
    expect_error(stale, StatusCode::FORBIDDEN, "reauthentication_required").await;
}
