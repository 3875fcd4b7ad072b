//! A downstream service that trusts authd's JWTs: `GET /whoami` answers the caller's id,
//! `GET /admin` only for the `admin` role. Run with `AUTHD_URL=https://auth.example.com`.

use std::sync::Arc;

use authd_verify::{AuthdClaims, Verifier};
use axum::{Json, Router, http::StatusCode, routing::get};

async fn whoami(AuthdClaims(claims): AuthdClaims) -> Json<authd_verify::Claims> {
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
    let authd = std::env::var("AUTHD_URL")?; // authd's AUTHD_PUBLIC_URL, also the `iss`
    let verifier = Verifier::jwks(&format!("{authd}/.well-known/jwks.json"), &authd)?;
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/admin", get(admin))
        .with_state(Arc::new(verifier));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
