//! `GET /openapi.json` (SPEC.md section 4.5): the document lists exactly the routes the
//! server answers, with exactly their methods.

use crate::health::assert_security_headers;
use crate::server::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;

auth_testing::on_both_backends!(
    crate::server::TestApp;
    openapi_documents_every_route,
    documented_operations_are_exactly_the_routed_ones,
    login_success_is_described_with_its_session_token,
    every_operation_documents_the_errors_its_kind_can_answer,
    pages_are_routed_but_not_documented,
);

/// The operations that count against a rate limit (SPEC.md section 4.1).
const RATE_LIMITED: [&str; 8] = [
    "/v1/auth/register",
    "/v1/auth/login",
    "/v1/auth/password",
    "/v1/auth/verify-email/request",
    "/v1/auth/password-reset/request",
    "/v1/oauth/{provider}/authorize",
    "/v1/oauth/{provider}/callback",
    "/v1/auth/oauth/{provider}/link",
];

/// Every API route of the router, with its methods. Adding a route means adding it here
/// (or to [`PAGES`]), and `documented_operations_are_exactly_the_routed_ones` fails until
/// it is documented.
const ROUTES: [(&str, &str); 56] = [
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/v1/auth/register"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/logout"),
    ("post", "/v1/auth/logout-all"),
    ("get", "/v1/auth/me"),
    ("delete", "/v1/auth/account"),
    ("get", "/v1/auth/account/export"),
    ("get", "/v1/auth/csrf"),
    ("get", "/v1/auth/sessions"),
    ("delete", "/v1/auth/sessions/{id}"),
    ("post", "/v1/auth/password"),
    ("post", "/v1/auth/mfa/verify"),
    ("post", "/v1/auth/passkey/start"),
    ("post", "/v1/auth/passkey/finish"),
    ("post", "/v1/auth/reauthenticate"),
    ("post", "/v1/auth/reauthenticate/passkey"),
    ("get", "/v1/auth/mfa"),
    ("post", "/v1/auth/mfa/totp"),
    ("delete", "/v1/auth/mfa/totp"),
    ("post", "/v1/auth/mfa/totp/confirm"),
    ("post", "/v1/auth/mfa/recovery-codes"),
    ("post", "/v1/auth/mfa/passkeys/register"),
    ("post", "/v1/auth/mfa/passkeys"),
    ("delete", "/v1/auth/mfa/passkeys/{id}"),
    ("post", "/v1/auth/token"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/v1/oauth/{provider}/authorize"),
    ("get", "/v1/oauth/{provider}/callback"),
    ("get", "/v1/auth/oauth"),
    ("post", "/v1/auth/oauth/{provider}/link"),
    ("delete", "/v1/auth/oauth/{provider}"),
    ("post", "/v1/auth/verify-email/request"),
    ("post", "/v1/auth/verify-email"),
    ("post", "/v1/auth/password-reset/request"),
    ("post", "/v1/auth/password-reset"),
    ("get", "/v1/admin/users"),
    ("get", "/v1/admin/users/{id}"),
    ("patch", "/v1/admin/users/{id}"),
    ("delete", "/v1/admin/users/{id}"),
    ("post", "/v1/admin/users"),
    ("post", "/v1/admin/users/{id}/unlock"),
    ("get", "/v1/admin/users/{id}/mfa"),
    ("delete", "/v1/admin/users/{id}/mfa"),
    ("get", "/v1/admin/audit-logs"),
    ("get", "/v1/admin/audit-logs/stats"),
    ("get", "/v1/admin/roles"),
    ("post", "/v1/admin/roles"),
    ("get", "/v1/admin/roles/{id}"),
    ("patch", "/v1/admin/roles/{id}"),
    ("delete", "/v1/admin/roles/{id}"),
    ("put", "/v1/admin/users/{id}/roles/{role_id}"),
    ("delete", "/v1/admin/users/{id}/roles/{role_id}"),
];

/// The router's other routes: the HTML pages the mails link to and their stylesheet
/// (pages.rs). They are not API, so the document leaves them out.
const PAGES: [(&str, &str); 6] = [
    ("get", "/verify-email"),
    ("post", "/verify-email"),
    ("get", "/reset-password"),
    ("post", "/reset-password"),
    ("post", "/reset-password/request"),
    ("get", "/assets/authd.css"),
];

/// Routes whose handler answers 404 `not_found` by design on the test server, which has
/// no Ed25519 key (tokens.rs checks them with one) and no OAuth provider (oauth.rs).
const NOT_FOUND_UNCONFIGURED: [&str; 3] = [
    "/.well-known/jwks.json",
    "/v1/oauth/{provider}/authorize",
    "/v1/oauth/{provider}/callback",
];

/// The methods probed on every documented path (HEAD and OPTIONS follow GET and CORS).
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The document, checked for its status and headers.
pub(crate) async fn document(app: &TestApp) -> Value {
    let response = app.get_anonymously("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_security_headers(&response);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// `(method, path)` of every operation in the document.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

/// Follows a local `$ref` (`#/components/...`), or returns the value itself.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(target) => document
            .pointer(target.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {target}")),
        None => value,
    }
}

async fn openapi_documents_every_route(app: &TestApp) {
    let document = document(app).await;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        document["openapi"]
    );
    assert_eq!(document["info"]["title"], "authd");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    let documented = operations(&document);
    for (method, path) in ROUTES {
        assert!(
            documented.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} is not documented"
        );
    }
    // Authenticated operations name the bearer scheme; the others do not.
    assert_eq!(
        document["components"]["securitySchemes"]["session"]["scheme"],
        "bearer"
    );
    for (method, path) in ROUTES {
        let secured = !document["paths"][path][method]["security"].is_null();
        let anonymous = [
            "/v1/auth/register",
            "/v1/auth/login",
            "/v1/auth/verify-email",
            "/v1/auth/password-reset/request",
            "/v1/auth/password-reset",
            "/v1/auth/mfa/verify",
            "/v1/auth/passkey/start",
            "/v1/auth/passkey/finish",
        ];
        let authenticated = path.starts_with("/v1/admin/")
            || (path.starts_with("/v1/auth/") && !anonymous.contains(&path));
        assert_eq!(secured, authenticated, "{method} {path}");
        if authenticated {
            let unauthorized = &document["paths"][path][method]["responses"]["401"];
            assert!(
                resolve(&document, unauthorized)["headers"]["WWW-Authenticate"].is_object(),
                "{method} {path}: 401 without WWW-Authenticate"
            );
        }
    }
}

/// The document lists exactly [`ROUTES`], and the server agrees with it: every
/// documented operation is answered by a handler (never the 404 or 405 fallback), and
/// every other method on a documented path is a 405.
async fn documented_operations_are_exactly_the_routed_ones(app: &TestApp) {
    let document = document(app).await;
    let documented = operations(&document);
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(documented, expected);

    let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, path)| *path).collect();
    for path in paths {
        let url = app.url(&path.replace("{id}", &uuid::Uuid::new_v4().to_string()));
        for method in METHODS {
            let response = app
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &url,
                )
                .send()
                .await
                .unwrap();
            let status = response.status();
            let code = response
                .json::<Value>()
                .await
                .ok()
                .and_then(|body| body["error"]["code"].as_str().map(str::to_owned));
            if documented.contains(&(method.to_owned(), path.to_owned())) {
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                if NOT_FOUND_UNCONFIGURED.contains(&path) {
                    continue;
                }
                assert_ne!(
                    (status, code.as_deref()),
                    (StatusCode::NOT_FOUND, Some("not_found")),
                    "{method} {path} fell through to the fallback"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is answered but not documented"
                );
            }
        }
    }
}

async fn login_success_is_described_with_its_session_token(app: &TestApp) {
    let document = document(app).await;
    let ok = &document["paths"]["/v1/auth/login"]["post"]["responses"]["200"];
    let answer = resolve(
        &document,
        &resolve(&document, ok)["content"]["application/json"]["schema"],
    );
    // A session, or the challenge of the second step for an account with MFA on.
    let alternatives: Vec<&Value> = answer["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("the login answer is one of two: {answer}"))
        .iter()
        .map(|alternative| resolve(&document, alternative))
        .collect();
    assert_eq!(alternatives.len(), 2, "{answer}");
    let schema = alternatives[0];
    for field in ["session_token", "token_type", "expires_at", "user"] {
        assert!(
            schema["properties"][field].is_object(),
            "LoginResponse lacks {field}: {schema}"
        );
    }
    for field in ["mfa_required", "mfa_token", "methods", "expires_at"] {
        assert!(
            alternatives[1]["properties"][field].is_object(),
            "MfaRequiredResponse lacks {field}: {}",
            alternatives[1]
        );
    }
    let user = resolve(&document, &schema["properties"]["user"]);
    assert_eq!(user["properties"]["id"]["format"], "uuid");
    assert_eq!(user["properties"]["created_at"]["format"], "date-time");
    assert!(
        user["properties"]["status"]["enum"]
            .as_array()
            .unwrap()
            .contains(&"active".into())
    );

    // Errors are the SPEC shape.
    let unauthorized = &document["paths"]["/v1/auth/me"]["get"]["responses"]["401"];
    let error = resolve(
        &document,
        &resolve(&document, unauthorized)["content"]["application/json"]["schema"],
    );
    let detail = resolve(&document, &error["properties"]["error"]);
    assert_eq!(detail["required"], serde_json::json!(["code", "message"]));
    assert!(detail["properties"]["details"].is_object());
}

/// Each operation lists the errors its kind of route can answer (SPEC.md section 4): 401
/// when it needs a session, 403 when it needs a permission, 400/413/415/422 when it
/// takes a JSON body, 422 when it takes query parameters, 429 when rate-limited, and
/// 500/503 for every `/v1` route.
async fn every_operation_documents_the_errors_its_kind_can_answer(app: &TestApp) {
    let document = document(app).await;
    for (method, path) in ROUTES {
        let operation = &document["paths"][path][method];
        let statuses: BTreeSet<&str> = operation["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let takes_query = operation["parameters"]
            .as_array()
            .is_some_and(|parameters| parameters.iter().any(|p| p["in"] == "query"));
        let expected = [
            (!operation["security"].is_null(), &["401"][..]),
            (path.starts_with("/v1/admin/"), &["403"]),
            (
                !operation["requestBody"].is_null(),
                &["400", "413", "415", "422"],
            ),
            (takes_query, &["422"]),
            (RATE_LIMITED.contains(&path), &["429"]),
            (path.starts_with("/v1/"), &["500", "503"]),
        ];
        for status in expected
            .iter()
            .filter(|(applies, _)| *applies)
            .flat_map(|(_, statuses)| statuses.iter())
        {
            assert!(
                statuses.contains(status),
                "{method} {path} does not document {status}: {statuses:?}"
            );
        }
    }
}

/// The pages are answered by their handlers, in HTML or CSS, and absent from the document.
async fn pages_are_routed_but_not_documented(app: &TestApp) {
    let document = document(app).await;
    for (method, path) in PAGES {
        assert!(document["paths"][path].is_null(), "{path} is documented");
        let response = app
            .client
            .request(
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                app.url(path),
            )
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_ne!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            ["text/html; charset=utf-8", "text/css; charset=utf-8"].contains(&content_type),
            "{method} {path}: {content_type}"
        );
    }
}
