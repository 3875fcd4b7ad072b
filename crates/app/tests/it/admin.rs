//! The operator's API (SPEC.md section 4.2) through a real server: the permission guard
//! and the user listing.

use crate::server::{PASSWORD, TestApp, expect_error, now};
use auth_ports::{
    Email, NewRole, NewUser, RoleRepository, UserId, UserRepository, UserStatus, UserUpdate,
};
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
);

/// Registers `email`, gives it `role` and logs it in.
async fn login_with_role(app: &TestApp, email: &str, role: &str) -> (UserId, String) {
    let id = UserId(app.register(email).await.parse().unwrap());
    let role = app.store.roles().find_by_name(role).await.unwrap().unwrap();
    app.store
        .roles()
        .assign(id, role.id, None, now())
        .await
        .unwrap();
    (id, app.login(email, PASSWORD).await)
}

async fn create_role(app: &TestApp, name: &str, permissions: &[&str]) {
    let role = NewRole {
        name: name.into(),
        description: None,
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        created_at: now(),
    };
    app.store.roles().create(role).await.unwrap();
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
        created_at: now(),
    };
    app.store.users().create(user).await.unwrap().id
}

async fn user_routes_need_users_read(app: &TestApp) {
    let anonymous = app
        .client
        .get(app.url("/v1/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;

    app.register("plain@example.com").await;
    let plain = app.login("plain@example.com", PASSWORD).await;
    expect_error(
        app.get("/v1/admin/users", &plain).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let id = seed(app, "someone@example.com").await;
    let path = format!("/v1/admin/users/{id}");
    expect_error(
        app.get(&path, &plain).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let (_, admin) = login_with_role(app, "boss@example.com", "admin").await;
    assert_eq!(
        app.get("/v1/admin/users", &admin).await.status(),
        StatusCode::OK
    );
    let (_, moderator) = login_with_role(app, "mod@example.com", "moderator").await;
    assert_eq!(app.get(&path, &moderator).await.status(), StatusCode::OK);
}

async fn wildcards_grant_and_changes_apply_at_the_next_request(app: &TestApp) {
    create_role(app, "user-admins", &["users:*"]).await;
    create_role(app, "writers", &["users:write"]).await;
    let (id, token) = login_with_role(app, "wild@example.com", "user-admins").await;
    assert_eq!(
        app.get("/v1/admin/users", &token).await.status(),
        StatusCode::OK,
        "users:* grants users:read"
    );

    let roles = app.store.roles();
    let wildcard = roles.find_by_name("user-admins").await.unwrap().unwrap();
    roles.unassign(id, wildcard.id).await.unwrap();
    expect_error(
        app.get("/v1/admin/users", &token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let writers = roles.find_by_name("writers").await.unwrap().unwrap();
    roles.assign(id, writers.id, None, now()).await.unwrap();
    expect_error(
        app.get("/v1/admin/users", &token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

async fn a_user_is_read_by_id(app: &TestApp) {
    let (_, admin) = login_with_role(app, "reader@example.com", "admin").await;
    let id = seed(app, "target@example.com").await;
    let response = app.get(&format!("/v1/admin/users/{id}"), &admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "target@example.com");
    assert!(body["user"].get("password_hash").is_none());
    let unknown = format!("/v1/admin/users/{}", UserId::new());
    expect_error(
        app.get(&unknown, &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.get("/v1/admin/users/nope", &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn listings_filter_and_reject_bad_parameters(app: &TestApp) {
    let (_, admin) = login_with_role(app, "lister@example.com", "admin").await;
    let suspended = seed(app, "Quiet.One@Example.com").await;
    seed(app, "loud@example.com").await;
    let suspend = UserUpdate {
        status: Some(UserStatus::Suspended),
        ..Default::default()
    };
    app.store
        .users()
        .update(suspended, suspend, now())
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
        .get("/v1/admin/users?status=suspended", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(emails(&by_status), ["quiet.one@example.com"]);
    let by_email: Value = app
        .get("/v1/admin/users?email=QUIET", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(emails(&by_email), ["quiet.one@example.com"]);
    let one: Value = app
        .get("/v1/admin/users?limit=0", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        one["users"].as_array().unwrap().len(),
        1,
        "limit is clamped up to 1"
    );
    assert!(one["next_cursor"].is_string());
    let all: Value = app
        .get("/v1/admin/users?limit=500", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["users"].as_array().unwrap().len(), 3);
    assert!(all["next_cursor"].is_null(), "null on the last page");

    for (query, field) in [
        ("limit=abc", "limit"),
        ("status=banned", "status"),
        ("cursor=garbage", "cursor"),
    ] {
        let response = app.get(&format!("/v1/admin/users?{query}"), &admin).await;
        let body = expect_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(
            body["error"]["details"][field].is_string(),
            "{query}: {body}"
        );
    }
}

async fn pagination_is_stable_while_users_are_added(app: &TestApp) {
    let (_, admin) = login_with_role(app, "pager@example.com", "admin").await;
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
        let body: Value = app.get(&path, &admin).await.json().await.unwrap();
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
