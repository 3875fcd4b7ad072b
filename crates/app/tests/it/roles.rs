//! Role management over HTTP (SPEC.md section 4.2).

use crate::server::{PASSWORD, TestApp, expect_error, now};
use auth_ports::{AuditQuery, AuditRepository, RoleRepository, UserId};
use reqwest::StatusCode;
use serde_json::{Value, json};

auth_testing::on_both_backends!(
    crate::server::TestApp;
    roles_are_managed_with_roles_permissions,
    the_admin_role_is_protected,
    role_input_is_validated,
);

async fn admin_token(app: &TestApp, email: &str) -> (UserId, String) {
    let id = UserId(app.register(email).await.parse().unwrap());
    let admin = app
        .store
        .roles()
        .find_by_name("admin")
        .await
        .unwrap()
        .unwrap();
    app.store
        .roles()
        .assign(id, admin.id, None, now())
        .await
        .unwrap();
    (id, app.login(email, PASSWORD).await)
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn roles_are_managed_with_roles_permissions(app: &TestApp) {
    use reqwest::Method;
    app.register("plainr@example.com").await;
    let plain = app.login("plainr@example.com", PASSWORD).await;
    expect_error(
        app.get("/v1/admin/roles", &plain).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let create = json!({"name": "support", "description": "Help desk", "permissions": ["users:read", "audit:read"]});
    let denied = send(
        app,
        Method::POST,
        "/v1/admin/roles",
        &plain,
        Some(create.clone()),
    )
    .await;
    expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;

    let (admin_id, admin) = admin_token(app, "rootr@example.com").await;
    let listed: Value = app
        .get("/v1/admin/roles", &admin)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "moderator", "user"]);

    let created = send(
        app,
        Method::POST,
        "/v1/admin/roles",
        &admin,
        Some(create.clone()),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        created["role"]["permissions"],
        json!(["audit:read", "users:read"]),
        "stored sorted"
    );
    let id = created["role"]["id"].as_str().unwrap().to_owned();
    let again = send(app, Method::POST, "/v1/admin/roles", &admin, Some(create)).await;
    expect_error(again, StatusCode::CONFLICT, "role_exists").await;

    let path = format!("/v1/admin/roles/{id}");
    let fetched: Value = app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(fetched["role"]["name"], "support");
    let patch = json!({"name": "helpdesk", "description": null, "permissions": ["users:*"]});
    let patched = send(app, Method::PATCH, &path, &admin, Some(patch)).await;
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["role"]["name"], "helpdesk");
    assert!(patched["role"]["description"].is_null());
    assert_eq!(patched["role"]["permissions"], json!(["users:*"]));

    assert_eq!(
        send(app, Method::DELETE, &path, &admin, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        app.get(&path, &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        send(app, Method::DELETE, &path, &admin, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.get("/v1/admin/roles/not-a-uuid", &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let entries = app
        .store
        .audit()
        .query(AuditQuery {
            resource_type: Some("role".into()),
            limit: 20,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["role.create", "role.update", "role.delete"]);
    assert!(entries.iter().all(|e| e.user_id == Some(admin_id)
        && e.success
        && e.resource_id.as_deref() == Some(id.as_str())));
    assert!(
        entries
            .iter()
            .all(|e| e.ip_address == Some("127.0.0.1".parse().unwrap()))
    );
}

async fn the_admin_role_is_protected(app: &TestApp) {
    use reqwest::Method;
    let (_, admin) = admin_token(app, "guard@example.com").await;
    let id = app
        .store
        .roles()
        .find_by_name("admin")
        .await
        .unwrap()
        .unwrap()
        .id;
    let path = format!("/v1/admin/roles/{id}");
    for patch in [json!({"name": "root"}), json!({"permissions": ["users:*"]})] {
        let response = send(app, Method::PATCH, &path, &admin, Some(patch)).await;
        expect_error(response, StatusCode::CONFLICT, "protected_role").await;
    }
    expect_error(
        send(app, Method::DELETE, &path, &admin, None).await,
        StatusCode::CONFLICT,
        "protected_role",
    )
    .await;
    let widened = send(
        app,
        Method::PATCH,
        &path,
        &admin,
        Some(json!({"permissions": ["*", "audit:read"]})),
    )
    .await;
    assert_eq!(widened.status(), StatusCode::OK, "keeping * is allowed");
    let admin_role = app.store.roles().find_by_id(id).await.unwrap().unwrap();
    assert_eq!(admin_role.name, "admin");
    assert!(admin_role.permissions.contains(&"*".to_owned()));
}

async fn role_input_is_validated(app: &TestApp) {
    use reqwest::Method;
    let (_, admin) = admin_token(app, "valid@example.com").await;
    for (body, field) in [
        (json!({"name": "Bad Name", "permissions": []}), "name"),
        (json!({"name": "x".repeat(65), "permissions": []}), "name"),
        (
            json!({"name": "ok", "permissions": ["users"]}),
            "permissions",
        ),
        (
            json!({"name": "ok", "permissions": ["*:read"]}),
            "permissions",
        ),
        (json!({"name": "ok"}), "permissions"),
    ] {
        let response = send(
            app,
            Method::POST,
            "/v1/admin/roles",
            &admin,
            Some(body.clone()),
        )
        .await;
        let error = expect_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(
            error["error"]["details"][field].is_string(),
            "{body}: {error}"
        );
    }
    assert!(
        app.store
            .roles()
            .find_by_name("ok")
            .await
            .unwrap()
            .is_none(),
        "nothing written"
    );
}
