//! Changing accounts over HTTP (SPEC.md section 4.2): PATCH, soft DELETE and unlock,
//! their permissions, the last-admin rule and their audit entries.

use crate::server::{PASSWORD, TestApp, expect_error, expect_invalid};
use auth_ports::{AuditQuery, AuditRepository, NewAuditEntry, NewRole, RoleRepository, UserId};
use auth_testing::unaudited;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

auth_testing::on_both_backends!(
    crate::server::TestApp;
    each_change_needs_its_permission,
    patch_changes_names_and_status_and_ends_sessions,
    patch_rejects_bad_changes_without_writing,
    delete_is_soft_final_and_idempotent,
    unlock_lifts_a_lockout,
    only_a_holder_of_star_unlocks_a_holder_of_star,
    the_last_active_admin_cannot_be_suspended_or_deleted,
    two_admins_suspending_each_other_leave_one_active,
);

/// A role of these permissions (named after the email's local part), held by a fresh
/// logged-in user.
pub(crate) async fn login_with_permissions(
    app: &TestApp,
    email: &str,
    permissions: &[&str],
) -> String {
    let role = NewRole {
        name: email.split('@').next().unwrap().into(),
        description: None,
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        created_at: crate::server::now(),
    };
    let role = app.store.roles().create(role, unaudited()).await.unwrap();
    app.login_with_role(email, &role.name).await.1
}

/// The audit entries about user `id` with `action`.
async fn entries(app: &TestApp, action: &str, id: &str) -> Vec<NewAuditEntry> {
    let query = AuditQuery {
        action: Some(action.into()),
        resource_type: Some("user".into()),
        resource_id: Some(id.into()),
        limit: 100,
        ..AuditQuery::default()
    };
    let entries = app.store.audit().query(query).await.unwrap();
    entries.into_iter().map(|e| e.entry).collect()
}

async fn patch(app: &TestApp, id: &str, token: &str, body: Value) -> reqwest::Response {
    let path = format!("/v1/admin/users/{id}");
    app.send(Method::PATCH, &path, token, Some(body)).await
}

async fn each_change_needs_its_permission(app: &TestApp) {
    let target = app.register("target@example.com").await;
    let user = format!("/v1/admin/users/{target}");
    let unlock = format!("{user}/unlock");
    let names = json!({"first_name": "Ada"});
    let suspend = json!({"status": "suspended"});
    let reader = login_with_permissions(app, "reader@example.com", &["users:read"]).await;
    let writer = login_with_permissions(app, "writer@example.com", &["users:write"]).await;
    let suspender = login_with_permissions(app, "suspender@example.com", &["users:suspend"]).await;
    let deleter = login_with_permissions(app, "deleter@example.com", &["users:delete"]).await;
    let wildcard = login_with_permissions(app, "wild@example.com", &["users:*"]).await;

    for token in [&reader, &suspender, &deleter] {
        let denied = patch(app, &target, token, names.clone()).await;
        expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;
        let denied = app.send(Method::POST, &unlock, token, None).await;
        expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for token in [&reader, &writer, &deleter] {
        let denied = patch(app, &target, token, suspend.clone()).await;
        expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for token in [&reader, &writer, &suspender] {
        let denied = app.send(Method::DELETE, &user, token, None).await;
        expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert!(entries(app, "user.update", &target).await.is_empty());

    let anonymous = app.client.patch(app.url(&user)).json(&names).send().await;
    expect_error(anonymous.unwrap(), StatusCode::UNAUTHORIZED, "unauthorized").await;

    assert_eq!(
        patch(app, &target, &writer, names.clone()).await.status(),
        StatusCode::OK
    );
    let both = json!({"first_name": "Grace", "status": "inactive"});
    assert_eq!(
        patch(app, &target, &wildcard, both).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        patch(app, &target, &suspender, json!({"status": "active"}))
            .await
            .status(),
        StatusCode::OK
    );
    for token in [&writer, &wildcard] {
        let unlocked = app.send(Method::POST, &unlock, token, None).await;
        assert_eq!(unlocked.status(), StatusCode::NO_CONTENT);
    }
    let deleted = app.send(Method::DELETE, &user, &deleter, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    // users:* is no match for a holder of `*`.
    let (boss, _) = app.login_with_role("boss@example.com", "admin").await;
    let boss = boss.to_string();
    let denied = patch(app, &boss, &wildcard, suspend.clone()).await;
    expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;
    let path = format!("/v1/admin/users/{boss}");
    let denied = app.send(Method::DELETE, &path, &wildcard, None).await;
    expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;

    let other = app.register("other@example.com").await;
    let path = format!("/v1/admin/users/{other}");
    let deleted = app.send(Method::DELETE, &path, &wildcard, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
}

async fn patch_changes_names_and_status_and_ends_sessions(app: &TestApp) {
    let (admin, token) = app.login_with_role("boss@example.com", "admin").await;
    let target = app.register("ada@example.com").await;
    let session = app.login("ada@example.com", PASSWORD).await;

    let renamed = patch(
        app,
        &target,
        &token,
        json!({"first_name": " Ada ", "last_name": "Lovelace"}),
    )
    .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let body: Value = renamed.json().await.unwrap();
    assert_eq!(body["user"]["first_name"], "Ada");
    assert_eq!(body["user"]["last_name"], "Lovelace");
    assert_eq!(body["user"]["status"], "active");
    assert_eq!(
        app.get("/v1/auth/me", &session).await.status(),
        StatusCode::OK
    );

    let cleared = patch(app, &target, &token, json!({"last_name": null})).await;
    let body: Value = cleared.json().await.unwrap();
    assert_eq!(body["user"]["first_name"], "Ada", "absent fields are kept");
    assert_eq!(body["user"]["last_name"], Value::Null);

    for _ in 0..2 {
        let suspended = patch(app, &target, &token, json!({"status": "suspended"})).await;
        let body: Value = suspended.json().await.unwrap();
        assert_eq!(body["user"]["status"], "suspended");
    }
    assert_shut_out(app, &session, "ada@example.com").await;

    let back = patch(app, &target, &token, json!({"status": "active"})).await;
    assert_eq!(back.status(), StatusCode::OK);
    app.login("ada@example.com", PASSWORD).await;

    let updates = entries(app, "user.update", &target).await;
    assert_eq!(updates.len(), 3, "{updates:#?}");
    let suspends = entries(app, "user.suspend", &target).await;
    assert_eq!(
        suspends.len(),
        1,
        "suspending again changes nothing, so records nothing"
    );
    for entry in updates.iter().chain(&suspends) {
        assert_eq!(entry.user_id, Some(admin), "the actor is the operator");
        assert!(entry.success);
        assert_eq!(entry.ip_address, Some("127.0.0.1".parse().unwrap()));
    }
    assert_eq!(suspends[0].details["status"], "suspended");
    assert_eq!(updates[0].details["fields"], json!(["status"]));
}

async fn patch_rejects_bad_changes_without_writing(app: &TestApp) {
    let (_, token) = app.login_with_role("boss@example.com", "admin").await;
    let target = app.register("ada@example.com").await;
    for (body, field) in [
        (json!({"status": "deleted"}), "status"),
        (json!({"status": "gone"}), "status"),
        (json!({"first_name": "x".repeat(101)}), "first_name"),
        (json!({"last_name": "a\u{0}b"}), "last_name"),
        (json!({"email": "new@example.com"}), "email"),
        (json!({"first_name": 7}), "first_name"),
    ] {
        let refused = patch(app, &target, &token, body.clone()).await;
        expect_invalid(refused, field, &body).await;
    }
    for id in [UserId::new().to_string(), "not-a-uuid".to_owned()] {
        let missing = patch(app, &id, &token, json!({"first_name": "Ada"})).await;
        expect_error(missing, StatusCode::NOT_FOUND, "not_found").await;
        let path = format!("/v1/admin/users/{id}");
        let missing = app.send(Method::DELETE, &path, &token, None).await;
        expect_error(missing, StatusCode::NOT_FOUND, "not_found").await;
        let missing = app
            .send(Method::POST, &format!("{path}/unlock"), &token, None)
            .await;
        expect_error(missing, StatusCode::NOT_FOUND, "not_found").await;
    }
    let user: Value = app
        .get_json(&format!("/v1/admin/users/{target}"), &token)
        .await;
    assert_eq!(user["user"]["first_name"], Value::Null);
    assert_eq!(user["user"]["status"], "active");
    assert!(entries(app, "user.update", &target).await.is_empty());
}

async fn delete_is_soft_final_and_idempotent(app: &TestApp) {
    let (admin, token) = app.login_with_role("boss@example.com", "admin").await;
    let target = app.register("ada@example.com").await;
    let session = app.login("ada@example.com", PASSWORD).await;
    let path = format!("/v1/admin/users/{target}");
    for _ in 0..2 {
        let deleted = app.send(Method::DELETE, &path, &token, None).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    }
    let user: Value = app.get_json(&path, &token).await;
    assert_eq!(user["user"]["status"], "deleted", "the record stays");
    assert_shut_out(app, &session, "ada@example.com").await;
    let revived = patch(app, &target, &token, json!({"status": "active"})).await;
    expect_error(
        revived,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    let deletes = entries(app, "user.delete", &target).await;
    assert_eq!(deletes.len(), 1, "deleting again writes nothing");
    assert_eq!(deletes[0].user_id, Some(admin));
    assert_eq!(deletes[0].ip_address, Some("127.0.0.1".parse().unwrap()));
}

async fn unlock_lifts_a_lockout(app: &TestApp) {
    let (admin, token) = app.login_with_role("boss@example.com", "admin").await;
    let target = app.register("ada@example.com").await;
    for _ in 0..5 {
        app.try_login("ada@example.com", "wrong password!!").await;
    }
    expect_error(
        app.try_login("ada@example.com", PASSWORD).await,
        StatusCode::LOCKED,
        "account_locked",
    )
    .await;
    let path = format!("/v1/admin/users/{target}/unlock");
    let unlocked = app.send(Method::POST, &path, &token, None).await;
    assert_eq!(unlocked.status(), StatusCode::NO_CONTENT);
    app.login("ada@example.com", PASSWORD).await;
    let unlocks = entries(app, "user.unlock", &target).await;
    assert_eq!(unlocks.len(), 1);
    assert_eq!(unlocks[0].user_id, Some(admin));
}

async fn only_a_holder_of_star_unlocks_a_holder_of_star(app: &TestApp) {
    let (boss, token) = app.login_with_role("boss@example.com", "admin").await;
    let writer = login_with_permissions(app, "writer@example.com", &["users:write"]).await;
    for _ in 0..5 {
        app.try_login("boss@example.com", "wrong password!!").await;
    }
    let path = format!("/v1/admin/users/{boss}/unlock");
    let denied = app.send(Method::POST, &path, &writer, None).await;
    expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(
        app.try_login("boss@example.com", PASSWORD).await,
        StatusCode::LOCKED,
        "account_locked",
    )
    .await;
    assert!(
        entries(app, "user.unlock", &boss.to_string())
            .await
            .is_empty()
    );
    let unlocked = app.send(Method::POST, &path, &token, None).await;
    assert_eq!(unlocked.status(), StatusCode::NO_CONTENT);
    app.login("boss@example.com", PASSWORD).await;
}

async fn the_last_active_admin_cannot_be_suspended_or_deleted(app: &TestApp) {
    let (first, token) = app.login_with_role("first@example.com", "admin").await;
    let me = format!("/v1/admin/users/{first}");
    let refused = patch(
        app,
        &first.to_string(),
        &token,
        json!({"status": "suspended"}),
    )
    .await;
    expect_error(refused, StatusCode::CONFLICT, "last_admin").await;
    let refused = patch(
        app,
        &first.to_string(),
        &token,
        json!({"status": "inactive"}),
    )
    .await;
    expect_error(refused, StatusCode::CONFLICT, "last_admin").await;
    let refused = app.send(Method::DELETE, &me, &token, None).await;
    expect_error(refused, StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(
        app.get("/v1/auth/me", &token).await.status(),
        StatusCode::OK
    );
    assert!(
        entries(app, "user.suspend", &first.to_string())
            .await
            .is_empty()
    );

    let (second, _) = app.login_with_role("second@example.com", "admin").await;
    let suspended = patch(
        app,
        &second.to_string(),
        &token,
        json!({"status": "suspended"}),
    )
    .await;
    assert_eq!(
        suspended.status(),
        StatusCode::OK,
        "another admin is still active"
    );
    let refused = app.send(Method::DELETE, &me, &token, None).await;
    expect_error(refused, StatusCode::CONFLICT, "last_admin").await;
    let renamed = patch(
        app,
        &first.to_string(),
        &token,
        json!({"first_name": "Root"}),
    )
    .await;
    assert_eq!(renamed.status(), StatusCode::OK, "names are not guarded");
}

async fn two_admins_suspending_each_other_leave_one_active(app: &TestApp) {
    let (a, token_a) = app.login_with_role("a@example.com", "admin").await;
    let (b, token_b) = app.login_with_role("b@example.com", "admin").await;
    let suspend = json!({"status": "suspended"});
    let (a_id, b_id) = (a.to_string(), b.to_string());
    let (by_a, by_b) = tokio::join!(
        patch(app, &b_id, &token_a, suspend.clone()),
        patch(app, &a_id, &token_b, suspend.clone()),
    );
    let statuses = [by_a.status(), by_b.status()];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    let (_, token) = app.login_with_role("c@example.com", "admin").await;
    let mut active = 0;
    for id in [a, b] {
        let user: Value = app.get_json(&format!("/v1/admin/users/{id}"), &token).await;
        active += usize::from(user["user"]["status"] == "active");
    }
    assert_eq!(active, 1);
}

/// The account of `email` lost `session` and cannot log in again (`account_disabled`).
async fn assert_shut_out(app: &TestApp, session: &str, email: &str) {
    expect_error(
        app.get("/v1/auth/me", session).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.try_login(email, PASSWORD).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
}
