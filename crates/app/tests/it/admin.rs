//! The operator's API (SPEC.md section 4.2) through a real server: the permission guard
//! and the user listing.

use crate::server::{PASSWORD, TestApp, expect_error, expect_invalid, now};
use auth_ports::{
    Email, NewRole, NewUser, RoleRepository, UserId, UserRepository, UserStatus, UserUpdate,
};
use auth_testing::unaudited;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;

auth_testing::on_both_backends!(
    crate::server::TestApp;
    user_routes_need_users_read,
    wildcards_grant_and_changes_apply_at_the_next_request,
    a_user_is_read_by_id,
    listings_filter_and_reject_bad_parameters,
    pagination_is_stable_while_users_are_added,
    the_audit_trail_is_queried_with_filters_pages_and_counts,
    an_operator_creates_an_account_that_logs_in,
    creating_an_account_is_refused_without_the_permissions_and_for_bad_input,
);

async fn create_role(app: &TestApp, name: &str, permissions: &[&str]) {
    let role = NewRole {
        name: name.into(),
        description: None,
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        created_at: now(),
    };
    app.store.roles().create(role, unaudited()).await.unwrap();
}

/// Creates a passwordless user directly in the store (fast seeding).
async fn seed(app: &TestApp, email: &str) -> UserId {
    let user = NewUser {
        email: Email::parse(email).unwrap(),
        password_hash: None,
        first_name: None,
        last_name: None,
        email_verified: false,
        role: None,
        verification: None,
        created_at: now(),
    };
    app.store
        .users()
        .create(user, unaudited())
        .await
        .unwrap()
        .id
}

async fn user_routes_need_users_read(app: &TestApp) {
    let anonymous = app.get_anonymously("/v1/admin/users").await;
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;

    app.register("plain@example.com").await;
    let plain = app.login("plain@example.com", PASSWORD).await;
    expect_forbidden(app, "/v1/admin/users", &plain).await;
    let id = seed(app, "someone@example.com").await;
    let path = format!("/v1/admin/users/{id}");
    expect_forbidden(app, &path, &plain).await;

    let (_, admin) = app.login_with_role("boss@example.com", "admin").await;
    assert_eq!(
        app.get("/v1/admin/users", &admin).await.status(),
        StatusCode::OK
    );
    let (_, moderator) = app.login_with_role("mod@example.com", "moderator").await;
    assert_eq!(app.get(&path, &moderator).await.status(), StatusCode::OK);
}

async fn wildcards_grant_and_changes_apply_at_the_next_request(app: &TestApp) {
    create_role(app, "user-admins", &["users:*"]).await;
    create_role(app, "writers", &["users:write"]).await;
    let (id, token) = app.login_with_role("wild@example.com", "user-admins").await;
    assert_eq!(
        app.get("/v1/admin/users", &token).await.status(),
        StatusCode::OK,
        "users:* grants users:read"
    );

    let roles = app.store.roles();
    let wildcard = roles.find_by_name("user-admins").await.unwrap().unwrap();
    roles
        .unassign(id, wildcard.id, false, unaudited())
        .await
        .unwrap();
    expect_forbidden(app, "/v1/admin/users", &token).await;

    let writers = roles.find_by_name("writers").await.unwrap().unwrap();
    roles
        .assign(id, writers.id, None, now(), unaudited())
        .await
        .unwrap();
    expect_forbidden(app, "/v1/admin/users", &token).await;
}

async fn a_user_is_read_by_id(app: &TestApp) {
    let (_, admin) = app.login_with_role("reader@example.com", "admin").await;
    let id = seed(app, "target@example.com").await;
    let response = app.get(&format!("/v1/admin/users/{id}"), &admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "target@example.com");
    assert!(body["user"].get("password_hash").is_none());
    for id in [UserId::new().to_string(), "nope".to_owned()] {
        let response = app.get(&format!("/v1/admin/users/{id}"), &admin).await;
        expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

async fn listings_filter_and_reject_bad_parameters(app: &TestApp) {
    let (_, admin) = app.login_with_role("lister@example.com", "admin").await;
    let suspended = seed(app, "Quiet.One@Example.com").await;
    seed(app, "loud@example.com").await;
    let suspend = UserUpdate {
        status: Some(UserStatus::Suspended),
        ..Default::default()
    };
    app.store
        .users()
        .update(suspended, suspend, now(), unaudited())
        .await
        .unwrap();

    let emails = |body: &Value| -> Vec<String> {
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    let by_status: Value = app
        .get_json("/v1/admin/users?status=suspended", &admin)
        .await;
    assert_eq!(emails(&by_status), ["quiet.one@example.com"]);
    let by_email: Value = app.get_json("/v1/admin/users?email=QUIET", &admin).await;
    assert_eq!(emails(&by_email), ["quiet.one@example.com"]);
    let one: Value = app.get_json("/v1/admin/users?limit=0", &admin).await;
    assert_eq!(
        one["users"].as_array().unwrap().len(),
        1,
        "limit is clamped up to 1"
    );
    assert!(one["next_cursor"].is_string());
    let all: Value = app.get_json("/v1/admin/users?limit=500", &admin).await;
    assert_eq!(all["users"].as_array().unwrap().len(), 3);
    assert!(all["next_cursor"].is_null(), "null on the last page");

    for (query, field) in [
        ("limit=abc", "limit"),
        ("status=banned", "status"),
        ("cursor=garbage", "cursor"),
    ] {
        let response = app.get(&format!("/v1/admin/users?{query}"), &admin).await;
        expect_invalid(response, field, &query).await;
    }
}

async fn pagination_is_stable_while_users_are_added(app: &TestApp) {
    let (_, admin) = app.login_with_role("pager@example.com", "admin").await;
    for i in 0..449 {
        seed(app, &format!("user{i:03}@example.com")).await;
    }
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        let path = match &cursor {
            Some(cursor) => format!("/v1/admin/users?limit=200&cursor={cursor}"),
            None => "/v1/admin/users?limit=200".to_owned(),
        };
        let body: Value = app.get_json(&path, &admin).await;
        let users = body["users"].as_array().unwrap();
        sizes.push(users.len());
        seen.extend(users.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        // Newcomers between pages land before the cursor, so the walk never sees them.
        seed(app, &format!("newcomer{page}@example.com")).await;
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(sizes, [200, 200, 50]);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        450,
        "no duplicates, no gaps"
    );
}

async fn the_audit_trail_is_queried_with_filters_pages_and_counts(app: &TestApp) {
    app.register("plain2@example.com").await;
    let plain = app.login("plain2@example.com", PASSWORD).await;
    expect_forbidden(app, "/v1/admin/audit-logs", &plain).await;
    let (moderator_id, moderator) = app
        .login_with_role("auditor@example.com", "moderator")
        .await;
    let wrong = app
        .try_login("auditor@example.com", "not my password")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let get = |path: String| {
        let token = moderator.clone();
        async move {
            let response = app.get(&path, &token).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let failures = get("/v1/admin/audit-logs?action=auth.login&success=false".into()).await;
    let entries = failures["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["user_id"], moderator_id.to_string());
    assert_eq!(entries[0]["details"]["reason"], "invalid_credentials");
    assert_eq!(entries[0]["ip_address"], "127.0.0.1");

    let mine = get(format!("/v1/admin/audit-logs?user_id={moderator_id}")).await;
    let actions: Vec<&str> = mine["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["auth.login", "auth.login", "user.register"],
        "newest first"
    );

    let everything = get("/v1/admin/audit-logs?limit=200".into()).await;
    let total = everything["entries"].as_array().unwrap().len();
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/admin/audit-logs?limit=2&cursor={c}"),
            None => "/v1/admin/audit-logs?limit=2".to_owned(),
        };
        let page = get(path).await;
        walked.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(walked.len(), total);
    assert!(
        walked.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats: {walked:?}"
    );

    let stats = get("/v1/admin/audit-logs/stats".into()).await;
    assert_eq!(stats["counts"]["user.register"], 2);
    assert!(stats["counts"]["auth.login"].as_u64().unwrap() >= 3);
    let future = get("/v1/admin/audit-logs/stats?from=2999-01-01T00:00:00Z".into()).await;
    assert_eq!(future["counts"], serde_json::json!({}));

    for (query, field) in [
        ("from=yesterday", "from"),
        ("ip=not-an-ip", "ip"),
        ("user_id=42", "user_id"),
        ("success=maybe", "success"),
    ] {
        let response = app
            .get(&format!("/v1/admin/audit-logs?{query}"), &moderator)
            .await;
        expect_invalid(response, field, &query).await;
    }
}

/// `GET path` as the holder of `token` is refused: 403 `forbidden`.
async fn expect_forbidden(app: &TestApp, path: &str, token: &str) {
    expect_error(
        app.get(path, token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

async fn an_operator_creates_an_account_that_logs_in(app: &TestApp) {
    let (admin, token) = app.login_with_role("root@example.com", "admin").await;
    let body = serde_json::json!({
        "email": " Grace@Example.com", "password": PASSWORD,
        "first_name": "Grace", "role": "moderator",
    });
    let response = app.post("/v1/admin/users", Some(&token), body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["user"]["email"], "grace@example.com");
    assert_eq!(created["user"]["email_verified"], true);
    assert!(created["user"].get("password_hash").is_none());

    let grace = app.login("grace@example.com", PASSWORD).await;
    let me = app.get_json("/v1/auth/me", &grace).await;
    assert_eq!(me["roles"], serde_json::json!(["moderator"]));
    let entries = app
        .audit_entries(auth_ports::AuditQuery {
            action: Some("user.register".into()),
            resource_id: created["user"]["id"].as_str().map(str::to_owned),
            limit: 10,
            ..Default::default()
        })
        .await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].entry.user_id,
        Some(admin),
        "the operator is the actor"
    );
    assert_eq!(entries[0].entry.details["via"], "admin");

    let again = app
        .post(
            "/v1/admin/users",
            Some(&token),
            serde_json::json!({"email": "grace@example.com", "password": PASSWORD}),
        )
        .await;
    expect_error(again, StatusCode::CONFLICT, "email_taken").await;
}

async fn creating_an_account_is_refused_without_the_permissions_and_for_bad_input(app: &TestApp) {
    let (_, moderator) = app.login_with_role("mod@example.com", "moderator").await;
    let body = serde_json::json!({"email": "new@example.com", "password": PASSWORD});
    let refused = app
        .post("/v1/admin/users", Some(&moderator), body.clone())
        .await;
    expect_error(refused, StatusCode::FORBIDDEN, "forbidden").await;

    create_role(
        app,
        "support",
        &["users:write", "roles:assign", "users:read"],
    )
    .await;
    let (_, support) = app.login_with_role("support@example.com", "support").await;
    let as_admin =
        serde_json::json!({"email": "new@example.com", "password": PASSWORD, "role": "admin"});
    let escalation = app.post("/v1/admin/users", Some(&support), as_admin).await;
    expect_error(escalation, StatusCode::FORBIDDEN, "forbidden").await;
    let weak = serde_json::json!({"email": "new@example.com", "password": "short"});
    let weak = app.post("/v1/admin/users", Some(&support), weak).await;
    expect_invalid(weak, "password", "a short password").await;
    let unknown =
        serde_json::json!({"email": "new@example.com", "password": PASSWORD, "role": "wizard"});
    let unknown = app.post("/v1/admin/users", Some(&support), unknown).await;
    expect_invalid(unknown, "role", "an unknown role").await;
    let users = app.store.users();
    assert!(
        users
            .find_by_email(&Email::parse("new@example.com").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    let made = app.post("/v1/admin/users", Some(&support), body).await;
    assert_eq!(
        made.status(),
        StatusCode::CREATED,
        "the default role needs no roles:assign"
    );
}
