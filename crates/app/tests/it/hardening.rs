//! The HTTP layer under hostile input (issue 14): malformed JSON on every route, NUL
//! bytes in paths and queries.

use crate::server::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::Value;

auth_testing::on_both_backends!(
    crate::server::TestApp;
    malformed_json_is_a_bad_request_on_every_route,
    nul_bytes_in_paths_and_queries_are_clean_4xx,
    nul_bytes_in_json_strings_are_clean_4xx,
);

/// Bodies that are not JSON, each broken after a field a route may know or not know.
const MALFORMED: [&str; 8] = [
    "{\"email\": ",
    "{",
    "not json",
    "{\"email\": 5",
    "{\"name\": ",
    "{\"email\": \"a@example.com\",}",
    "{\"email\": \"a@example.com\"} trailing",
    "{\"x\": 1",
];

/// Every operation of `/openapi.json` that takes a JSON body: `(method, path)`.
pub(crate) async fn json_operations(app: &TestApp) -> Vec<(String, String)> {
    let document = crate::openapi::document(app).await;
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation["requestBody"]["content"]["application/json"].is_object() {
                operations.push((method.clone(), path.clone()));
            }
        }
    }
    operations
}

async fn malformed_json_is_a_bad_request_on_every_route(app: &TestApp) {
    let (_, token) = app.login_with_role("root@example.com", "admin").await;
    let operations = json_operations(app).await;
    assert!(operations.len() >= 9, "{operations:?}");
    let mut wrong = Vec::new();
    for (method, path) in operations {
        let id = uuid::Uuid::new_v4().to_string();
        let url = app.url(&path.replace("{id}", &id).replace("{role_id}", &id));
        for body in MALFORMED {
            let response = app
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &url,
                )
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let answer: Value = response.json().await.unwrap();
            if status != StatusCode::BAD_REQUEST || answer["error"]["code"] != "bad_request" {
                wrong.push(format!("{method} {path} {body:?}: {status} {answer}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

async fn nul_bytes_in_paths_and_queries_are_clean_4xx(app: &TestApp) {
    let (_, token) = app.login_with_role("root@example.com", "admin").await;
    let probes = [
        "/v1/admin/users/%00",
        "/v1/admin/users/a%00b/roles/c%00d",
        "/v1/admin/roles/%00",
        "/v1/admin/users?email=a%00b",
        "/v1/admin/users?status=%00",
        "/v1/admin/users?cursor=%00",
        "/v1/admin/audit-logs?action=a%00b",
        "/v1/admin/audit-logs?resource_type=%00&resource_id=%00",
        "/v1/admin/audit-logs?ip=%00",
        "/v1/admin/audit-logs?cursor=%00",
        "/v1/admin/audit-logs/stats?from=%00",
        "/v1/auth/sessions/%00",
        "/v1/no%00such",
    ];
    for probe in probes {
        for method in [Method::GET, Method::DELETE] {
            let response = app.send(method.clone(), probe, &token, None).await;
            let status = response.status();
            assert!(
                status.is_client_error(),
                "{method} {probe} answered {status}"
            );
            let body: Value = response.json().await.unwrap();
            assert!(
                body["error"]["code"].is_string(),
                "{method} {probe}: {body}"
            );
        }
    }
}

async fn nul_bytes_in_json_strings_are_clean_4xx(app: &TestApp) {
    let (_, token) = app.login_with_role("root@example.com", "admin").await;
    let probes = [
        (
            Method::POST,
            "/v1/auth/register".to_owned(),
            serde_json::json!({"email": "nul@example.com", "password": crate::server::PASSWORD, "first_name": "a\u{0}b"}),
        ),
        (
            Method::POST,
            "/v1/auth/login".to_owned(),
            serde_json::json!({"email": "nul\u{0}@example.com", "password": crate::server::PASSWORD}),
        ),
        (
            Method::POST,
            "/v1/admin/roles".to_owned(),
            serde_json::json!({"name": "r", "description": "a\u{0}b", "permissions": ["x\u{0}:y"]}),
        ),
        (
            Method::POST,
            "/v1/auth/password-reset".to_owned(),
            serde_json::json!({"token": "a\u{0}b", "new_password": crate::server::PASSWORD}),
        ),
        (
            Method::POST,
            "/v1/auth/verify-email".to_owned(),
            serde_json::json!({"token": "a\u{0}b"}),
        ),
    ];
    for (method, path, body) in probes {
        let response = app.send(method.clone(), &path, &token, Some(body)).await;
        let status = response.status();
        assert!(
            status.is_client_error(),
            "{method} {path} answered {status}"
        );
    }
}

/// A server with the registration limit of SPEC.md section 3 (10 per minute per IP).
pub struct DefaultRegisterLimit(TestApp);

impl DefaultRegisterLimit {
    pub async fn open(database: auth_testing::TestDatabase) -> Self {
        Self(TestApp::open_with(database, &[("RATE_LIMIT_REGISTER_PER_MIN", "10")]).await)
    }
}

mod register_limit {
    auth_testing::on_both_backends!(
        crate::hardening::DefaultRegisterLimit;
        one_ip_registering_many_emails_is_limited,
    );

    async fn one_ip_registering_many_emails_is_limited(f: &super::DefaultRegisterLimit) {
        let app = &f.0;
        for n in 0..10 {
            let response = app
                .try_register(&format!("user{n}@example.com"), crate::server::PASSWORD)
                .await;
            assert_eq!(
                response.status(),
                reqwest::StatusCode::CREATED,
                "registration {n}"
            );
        }
        let response = app
            .try_register("user10@example.com", crate::server::PASSWORD)
            .await;
        assert_eq!(response.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key("retry-after"));
    }
}

/// One verification or reset request per hour, so a second one is a 429.
pub struct OneRecoveryPerHour(TestApp);

impl OneRecoveryPerHour {
    pub async fn open(database: auth_testing::TestDatabase) -> Self {
        Self(TestApp::open_with(database, &[("RATE_LIMIT_RESET_PER_HOUR", "1")]).await)
    }
}

mod refusals {
    use auth_ports::{AuditQuery, AuditRepository, NewAuditEntry};
    use reqwest::{Method, StatusCode};

    auth_testing::on_both_backends!(
        crate::hardening::OneRecoveryPerHour;
        refusals_of_authenticated_callers_are_audited_once_a_minute,
    );

    async fn entries(app: &crate::server::TestApp, action: &str) -> Vec<NewAuditEntry> {
        let query = AuditQuery {
            action: Some(action.to_owned()),
            limit: 100,
            ..AuditQuery::default()
        };
        let entries = app.store.audit().query(query).await.unwrap();
        entries.into_iter().map(|e| e.entry).collect()
    }

    async fn refusals_of_authenticated_callers_are_audited_once_a_minute(
        f: &super::OneRecoveryPerHour,
    ) {
        let app = &f.0;
        let (user, token) = app.login_with_role("plain@example.com", "user").await;
        for _ in 0..3 {
            let response = app.get("/v1/admin/users", &token).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
        }
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let response = app
                .send(Method::POST, "/v1/auth/verify-email/request", &token, None)
                .await;
            statuses.push(response.status());
        }
        assert!(
            statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );
        // Anonymous refusals (a 401, a 429 of the login limit) are not this entry.
        let anonymous = app.get_anonymously("/v1/admin/users").await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

        let forbidden = entries(app, "auth.forbidden").await;
        assert_eq!(forbidden.len(), 1, "{forbidden:?}");
        let entry = &forbidden[0];
        assert_eq!(entry.user_id, Some(user));
        assert!(!entry.success);
        assert_eq!(entry.details["permission"], "users:read");
        assert_eq!(entry.details["route"], "/v1/admin/users");
        assert_eq!(entry.details["method"], "GET");
        assert!(entry.ip_address.is_some());

        let limited = entries(app, "auth.rate_limited").await;
        assert_eq!(limited.len(), 1, "{limited:?}");
        assert_eq!(limited[0].user_id, Some(user));
        assert_eq!(limited[0].details["route"], "/v1/auth/verify-email/request");
    }
}
