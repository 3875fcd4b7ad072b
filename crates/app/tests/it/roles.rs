//! Role management over HTTP (SPEC.md section 4.2).

use crate::accounts::login_with_permissions;
use crate::server::now;
use crate::server::{PASSWORD, TestApp, expect_error, expect_invalid};
use auth_ports::{AuditQuery, Email, NewRole, RoleId, RoleRepository, UserId, UserRepository};
use auth_testing::unaudited;
use reqwest::StatusCode;
use serde_json::{Value, json};

auth_testing::on_both_backends!(
    crate::server::TestApp;
    roles_are_managed_with_roles_permissions,
    the_admin_role_is_protected,
    role_input_is_validated,
    roles_are_assigned_and_the_last_admin_keeps_admin,
    only_permissions_the_caller_holds_are_granted,
    only_roles_of_permissions_the_caller_holds_are_assigned,
    a_refusal_is_answered_before_malformed_input,
);

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
    let denied = app
        .send(
            Method::POST,
            "/v1/admin/roles",
            &plain,
            Some(create.clone()),
        )
        .await;
    expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;

    let (admin_id, admin) = app.login_with_role("rootr@example.com", "admin").await;
    let listed: Value = app.get_json("/v1/admin/roles", &admin).await;
    let names: Vec<&str> = listed["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "moderator", "user"]);

    let created = app
        .send(
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
    let again = app
        .send(Method::POST, "/v1/admin/roles", &admin, Some(create))
        .await;
    expect_error(again, StatusCode::CONFLICT, "role_exists").await;

    let path = format!("/v1/admin/roles/{id}");
    let fetched: Value = app.get_json(&path, &admin).await;
    assert_eq!(fetched["role"]["name"], "support");
    let patch = json!({"name": "helpdesk", "description": null, "permissions": ["users:*"]});
    let patched = app.send(Method::PATCH, &path, &admin, Some(patch)).await;
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["role"]["name"], "helpdesk");
    assert!(patched["role"]["description"].is_null());
    assert_eq!(patched["role"]["permissions"], json!(["users:*"]));

    assert_eq!(
        app.send(Method::DELETE, &path, &admin, None).await.status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        app.get(&path, &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.send(Method::DELETE, &path, &admin, None).await,
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
        .audit_entries(AuditQuery {
            resource_type: Some("role".into()),
            limit: 20,
            ..Default::default()
        })
        .await;
    let actions: Vec<&str> = entries
        .iter()
        .rev()
        .map(|e| e.entry.action.as_str())
        .collect();
    assert_eq!(actions, ["role.create", "role.update", "role.delete"]);
    assert!(entries.iter().all(|e| e.entry.user_id == Some(admin_id)
        && e.entry.success
        && e.entry.resource_id.as_deref() == Some(id.as_str())));
    assert!(
        entries
            .iter()
            .all(|e| e.entry.ip_address == Some("127.0.0.1".parse().unwrap()))
    );
}

async fn the_admin_role_is_protected(app: &TestApp) {
    use reqwest::Method;
    let (_, admin) = app.login_with_role("guard@example.com", "admin").await;
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
        let response = app.send(Method::PATCH, &path, &admin, Some(patch)).await;
        expect_error(response, StatusCode::CONFLICT, "protected_role").await;
    }
    expect_error(
        app.send(Method::DELETE, &path, &admin, None).await,
        StatusCode::CONFLICT,
        "protected_role",
    )
    .await;
    let widened = app
        .send(
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
    let (_, admin) = app.login_with_role("valid@example.com", "admin").await;
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
        let response = app
            .send(Method::POST, "/v1/admin/roles", &admin, Some(body.clone()))
            .await;
        expect_invalid(response, field, &body).await;
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

async fn roles_are_assigned_and_the_last_admin_keeps_admin(app: &TestApp) {
    use reqwest::Method;
    let (root_id, root) = app.login_with_role("only-root@example.com", "admin").await;
    let roles = app.store.roles();
    let admin = roles.find_by_name("admin").await.unwrap().unwrap().id;
    let moderator = roles.find_by_name("moderator").await.unwrap().unwrap().id;
    let member = app.register("member@example.com").await;
    let member_token = app.login("member@example.com", PASSWORD).await;
    let path =
        |user: &str, role: &dyn std::fmt::Display| format!("/v1/admin/users/{user}/roles/{role}");

    // Without roles:assign: 403.
    let denied = app
        .send(Method::PUT, &path(&member, &moderator), &member_token, None)
        .await;
    expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;

    // Assign (twice: still 204), and the permission applies at the next request.
    for _ in 0..2 {
        assert_eq!(
            app.send(Method::PUT, &path(&member, &moderator), &root, None)
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        app.get("/v1/admin/users", &member_token).await.status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        assert_eq!(
            app.send(Method::DELETE, &path(&member, &moderator), &root, None)
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
    }
    expect_error(
        app.get("/v1/admin/users", &member_token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // The only active admin cannot lose admin; with a second one, one may go.
    let own = path(&root_id.to_string(), &admin);
    expect_error(
        app.send(Method::DELETE, &own, &root, None).await,
        StatusCode::CONFLICT,
        "last_admin",
    )
    .await;
    assert_eq!(
        app.send(Method::PUT, &path(&member, &admin), &root, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.send(Method::DELETE, &own, &root, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let member_admin = path(&member, &admin);
    expect_error(
        app.send(Method::DELETE, &member_admin, &member_token, None)
            .await,
        StatusCode::CONFLICT,
        "last_admin",
    )
    .await;

    // Unknown or malformed ids: 404.
    let unknown_role = path(&member, &UserId::new());
    expect_error(
        app.send(Method::PUT, &unknown_role, &member_token, None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let unknown_user = path(&UserId::new().to_string(), &moderator);
    for method in [Method::PUT, Method::DELETE] {
        expect_error(
            app.send(method, &unknown_user, &member_token, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let malformed = format!("/v1/admin/users/{member}/roles/nope");
    expect_error(
        app.send(Method::PUT, &malformed, &member_token, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Each real change audited once, by its actor, on the user.
    let entries = app
        .audit_entries(AuditQuery {
            limit: 50,
            ..Default::default()
        })
        .await;
    let changes: Vec<(&str, Option<UserId>)> = entries
        .iter()
        .rev()
        .filter(|e| e.entry.action.starts_with("role."))
        .map(|e| (e.entry.action.as_str(), e.entry.user_id))
        .collect();
    assert_eq!(
        changes,
        [
            ("role.assign", Some(root_id)),
            ("role.unassign", Some(root_id)),
            ("role.assign", Some(root_id)),
            ("role.unassign", Some(root_id)),
        ]
    );
}

async fn only_permissions_the_caller_holds_are_granted(app: &TestApp) {
    use reqwest::Method;
    let writer =
        login_with_permissions(app, "writer@example.com", &["roles:read", "roles:write"]).await;
    let roles = app.store.roles();
    let create =
        |name: &str, permissions: &[&str]| Some(json!({"name": name, "permissions": permissions}));
    for permissions in [&["*"][..], &["users:*"], &["roles:read", "users:read"]] {
        let denied = app
            .send(
                Method::POST,
                "/v1/admin/roles",
                &writer,
                create("mine", permissions),
            )
            .await;
        expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert!(roles.find_by_name("mine").await.unwrap().is_none());

    // The writer holds what `user` grants (as every registered user does), no more.
    let user = roles.find_by_name("user").await.unwrap().unwrap();
    let moderator = roles.find_by_name("moderator").await.unwrap().unwrap();
    let path = |id| format!("/v1/admin/roles/{id}");
    for (role, patch) in [
        (&user, json!({"permissions": ["*"]})),
        (
            &user,
            json!({"permissions": ["profile:read", "users:read"]}),
        ),
        (&moderator, json!({"permissions": []})),
        (&moderator, json!({"name": "renamed"})),
    ] {
        let denied = app
            .send(Method::PATCH, &path(role.id), &writer, Some(patch))
            .await;
        expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;
    }
    expect_error(
        app.send(Method::DELETE, &path(moderator.id), &writer, None)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for role in [user, moderator] {
        assert_eq!(roles.find_by_id(role.id).await.unwrap().unwrap(), role);
    }

    let narrow =
        login_with_permissions(app, "narrow@example.com", &["roles:write", "users:read"]).await;
    let created = app
        .send(
            Method::POST,
            "/v1/admin/roles",
            &narrow,
            create("readers", &["users:read"]),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let entries = app
        .audit_entries(AuditQuery {
            action: Some("role.create".into()),
            limit: 10,
            ..Default::default()
        })
        .await;
    assert_eq!(entries.len(), 1, "only the granted role was written");
}

async fn only_roles_of_permissions_the_caller_holds_are_assigned(app: &TestApp) {
    use reqwest::Method;
    let roles = app.store.roles();
    let readers = NewRole {
        name: "readers".into(),
        description: None,
        permissions: vec!["users:read".into()],
        created_at: now(),
    };
    let readers = roles.create(readers, unaudited()).await.unwrap().id;
    let (root, _) = app.login_with_role("root@example.com", "admin").await;
    let assigner =
        login_with_permissions(app, "assigner@example.com", &["roles:assign", "users:*"]).await;
    let email = Email::parse("assigner@example.com").unwrap();
    let me = app
        .store
        .users()
        .find_by_email(&email)
        .await
        .unwrap()
        .unwrap()
        .id;
    let member = UserId(app.register("member@example.com").await.parse().unwrap());
    let admin = roles.find_by_name("admin").await.unwrap().unwrap().id;
    let moderator = roles.find_by_name("moderator").await.unwrap().unwrap().id;
    let path = |user: UserId, role: RoleId| format!("/v1/admin/users/{user}/roles/{role}");

    // `admin` to oneself or another, a role with `audit:read`, any change to a holder of `*`.
    for (target, role) in [
        (me, admin),
        (member, admin),
        (member, moderator),
        (root, readers),
    ] {
        for method in [Method::PUT, Method::DELETE] {
            let denied = app.send(method, &path(target, role), &assigner, None).await;
            expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;
        }
    }
    for user in [me, member, root] {
        let held = roles.roles_of_user(user).await.unwrap();
        let names: Vec<&str> = held.iter().map(|r| r.name.as_str()).collect();
        assert!(
            !names.contains(&"moderator") && !names.contains(&"readers"),
            "{names:?}"
        );
        assert_eq!(names.contains(&"admin"), user == root, "{names:?}");
    }

    for method in [Method::PUT, Method::DELETE] {
        let allowed = app
            .send(method, &path(member, readers), &assigner, None)
            .await;
        assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    }
}

/// 401, then 403, then the input's own 400, 404 or 422: a caller without the permission
/// learns nothing from the shape of what it sends.
async fn a_refusal_is_answered_before_malformed_input(app: &TestApp) {
    use reqwest::Method;
    app.register("shapeless@example.com").await;
    let plain = app.login("shapeless@example.com", PASSWORD).await;
    let (_, admin) = app.login_with_role("shapes@example.com", "admin").await;
    let malformed_body = |token: Option<&str>| {
        let request = app
            .client
            .post(app.url("/v1/admin/roles"))
            .header("content-type", "application/json")
            .body("{");
        match token {
            Some(token) => request.bearer_auth(token).send(),
            None => request.send(),
        }
    };
    let anonymous = malformed_body(None).await.unwrap();
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let denied = malformed_body(Some(&plain)).await.unwrap();
    expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;
    let malformed = malformed_body(Some(&admin)).await.unwrap();
    expect_error(malformed, StatusCode::BAD_REQUEST, "bad_request").await;

    for (method, path, malformed) in [
        (
            Method::GET,
            "/v1/admin/roles/not-a-uuid",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/v1/admin/roles/not-a-uuid",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PUT,
            "/v1/admin/users/x/roles/y",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/admin/users/not-a-uuid",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/v1/admin/users/not-a-uuid",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/v1/admin/users/not-a-uuid/unlock",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/admin/users?limit=many",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/v1/admin/audit-logs?cursor=%21",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/v1/admin/audit-logs/stats?from=soon",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let denied = app.send(method.clone(), path, &plain, None).await;
        assert_eq!(denied.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let answered = app.send(method.clone(), path, &admin, None).await;
        assert_eq!(answered.status(), malformed, "{method} {path}");
    }
}
