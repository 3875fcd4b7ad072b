//! A downstream service that trusts authd's JWTs (the example of docs/verifying-tokens.md,
//! kept identical by a test). Run with `AUTHD_URL=https://auth.example.com`.

use std::sync::Arc;

use authd_verify::{AuthdClaims, Claims, Verifier};
use axum::{Json, Router, http::StatusCode, routing::get};

async fn whoami(AuthdClaims(claims): AuthdClaims) -> Json<Claims> {
    Json(claims)
}

async fn admin(AuthdClaims(claims): AuthdClaims) -> StatusCode {
    if claims.has_role("admin") {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::FORBIDDEN
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let authd = std::env::var("AUTHD_URL")?; // authd's AUTHD_PUBLIC_URL, which is also `iss`
    let verifier = Verifier::jwks(&format!("{authd}/.well-known/jwks.json"), &authd)?;
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/admin", get(admin));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app.with_state(Arc::new(verifier))).await?;
    Ok(())
}
