//! The axum extractor end to end: status, `WWW-Authenticate` and authd's error body.

use std::sync::Arc;

use authd_verify::{AuthdClaims, Verifier};
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::{Json, Router, routing::get};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::{ISSUER, JwksServer, TestKey, claims, claims_expiring_in, dead_url};

fn app(verifier: Verifier) -> Router {
    Router::new()
        .route(
            "/me",
            get(|AuthdClaims(claims): AuthdClaims| async move { Json(claims) }),
        )
        .with_state(Arc::new(verifier))
}

async fn call(app: Router, authorization: Option<&str>) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::get("/me");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|value| value.to_str().unwrap().to_owned());
    let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
    (status, challenge, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn a_good_token_reaches_the_handler_with_its_claims() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    let sent = claims();

    let (status, _, body) = call(
        app(Verifier::jwks(&server.url, ISSUER).unwrap()),
        Some(&format!("Bearer {}", key.sign(&sent))),
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sub"], sent["sub"]);
    assert_eq!(body["roles"], json!(["user", "billing"]));
}

#[tokio::test]
async fn a_missing_token_is_401_with_a_bearer_challenge() {
    let server = JwksServer::start(&[&TestKey::from_seed(1)]).await;
    for authorization in [None, Some("Basic dXNlcjpwYXNz"), Some("Bearer ")] {
        let (status, challenge, body) = call(
            app(Verifier::jwks(&server.url, ISSUER).unwrap()),
            authorization,
        )
        .await;

        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(challenge.as_deref(), Some("Bearer"));
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn a_bad_or_expired_token_is_401_invalid_token() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    let expired = key.sign(&claims_expiring_in(-60));
    let forged = TestKey::from_seed(2).sign_as(&key.kid, &claims());

    for token in ["not-a-jwt", expired.as_str(), forged.as_str()] {
        let (status, challenge, body) = call(
            app(Verifier::jwks(&server.url, ISSUER).unwrap()),
            Some(&format!("Bearer {token}")),
        )
        .await;

        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer error="invalid_token""#)
        );
        assert_eq!(body["error"]["code"], "unauthorized");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(!message.contains(token), "the token is echoed: {message}");
    }
}

#[tokio::test]
async fn unavailable_keys_are_503() {
    let key = TestKey::from_seed(1);
    let verifier = Verifier::jwks(&dead_url().await, ISSUER).unwrap();

    let (status, challenge, body) = call(
        app(verifier),
        Some(&format!("Bearer {}", key.sign(&claims()))),
    )
    .await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(challenge, None);
    assert_eq!(body["error"]["code"], "unavailable");
}
