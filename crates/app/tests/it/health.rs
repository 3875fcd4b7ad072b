//! Operations endpoints and the rules every response follows (SPEC.md sections 4, 4.5).

use crate::server::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

auth_testing::on_both_backends!(
    crate::server::TestApp;
    health_endpoints_answer,
    unknown_route_is_a_json_404,
    wrong_method_is_a_json_405,
);

async fn health_endpoints_answer(app: &TestApp) {
    for (path, status) in [("/health/live", "live"), ("/health/ready", "ready")] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_security_headers(&response);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"status": status})
        );
    }
}

async fn unknown_route_is_a_json_404(app: &TestApp) {
    let response = app.get_anonymously("/no/such/route").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].is_string());
}

async fn wrong_method_is_a_json_405(app: &TestApp) {
    let response = app
        .client
        .request(Method::DELETE, app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_security_headers(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

/// Every response carries `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.
pub fn assert_security_headers(response: &reqwest::Response) {
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}
