//! Tokens for other services (SPEC 4.4): `POST /v1/auth/token` and
//! `GET /.well-known/jwks.json`, verified with jsonwebtoken against the published keys
//! (and by PyJWT, an independent library), through key rotation and expiry.

use crate::server::{PASSWORD, TestApp, expect_error};
use auth_testing::TestDatabase;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

auth_testing::on_both_backends!(
    crate::tokens::Database;
    eddsa_token_carries_the_callers_session,
    a_jwt_is_never_a_session,
    hs256_token_verifies_with_the_secret_and_has_no_jwks,
    without_a_key_token_is_501_and_jwks_404,
    a_revoked_session_gets_no_token,
    rotation_publishes_old_keys_until_they_are_removed,
    an_expired_token_is_rejected,
    unsigned_and_alg_confused_tokens_count_for_nothing,
    pyjwt_verifies_what_authd_signs,
    a_downstream_service_trusts_authd_tokens_and_nothing_else,
);

/// The `iss` of every token: the test servers' `AUTHD_PUBLIC_URL`.
const ISSUER: &str = "https://auth.example.com";

/// A 32-byte HS256 secret.
const SECRET: &str = "jwt-test-secret-0123456789abcdef-0123";

/// A fresh database on which a test starts the servers it needs.
pub struct Database(TestDatabase);

impl Database {
    pub async fn open(database: TestDatabase) -> Self {
        Self(database)
    }

    /// A server on this database with `vars` and the test issuer.
    async fn app(&self, vars: &[(&str, &str)]) -> TestApp {
        let mut all = vec![("AUTHD_PUBLIC_URL", ISSUER)];
        all.extend_from_slice(vars);
        TestApp::start(self.0.url(), &all, &uuid::Uuid::new_v4().to_string()).await
    }
}

/// Ed25519 keys from fixed seeds, written as PEM files into a temporary directory.
struct Keys(TempDir);

impl Keys {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    /// The key of `seed`, its private PEM file written as `<name>.pem`; returns its path.
    fn private(&self, name: &str, seed: u8) -> (String, SigningKey) {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        (self.write(&format!("{name}.pem"), pem.as_bytes()), key)
    }

    /// The public key of `key` as `<name>.pub.pem`; returns its path.
    fn public(&self, name: &str, key: &SigningKey) -> String {
        let pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        self.write(&format!("{name}.pub.pem"), pem.as_bytes())
    }

    fn write(&self, name: &str, contents: &[u8]) -> String {
        let path = self.0.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

/// The RFC 7638 thumbprint of `key`, computed here independently of authd.
fn thumbprint(key: &SigningKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Registers and logs in a user; returns (user id, session token).
async fn signed_in(app: &TestApp) -> (String, String) {
    let id = app.register("ada@example.com").await;
    (id, app.login("ada@example.com", PASSWORD).await)
}

/// `POST /v1/auth/token` as the holder of `session`: the whole 200 answer.
async fn issue(app: &TestApp, session: &str) -> Value {
    let response = app.post("/v1/auth/token", Some(session), json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    body
}

/// The access token of a fresh `POST /v1/auth/token`.
async fn access_token(app: &TestApp, session: &str) -> String {
    issue(app, session).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `GET /.well-known/jwks.json`, checked for its headers.
async fn jwks(app: &TestApp) -> JwkSet {
    let response = app.get_anonymously("/.well-known/jwks.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// A validation pinned to `algorithm`, with the issuer checked, no leeway, and every
/// claim of SPEC 4.4 required.
fn validation(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = 0;
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
    validation
}

/// The claims of `token` when it verifies with the JWKS key its header names.
fn verify_eddsa(token: &str, jwks: &JwkSet) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|err| err.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or(format!("unknown kid {kid}"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|err| err.to_string())?;
    jsonwebtoken::decode::<Value>(token, &key, &validation(Algorithm::EdDSA))
        .map(|data| data.claims)
        .map_err(|err| err.to_string())
}

async fn eddsa_token_carries_the_callers_session(db: &Database) {
    let keys = Keys::new();
    let (path, key) = keys.private("current", 1);
    let app = db
        .app(&[("JWT_PRIVATE_KEY_FILE", &path), ("JWT_TTL_SECS", "120")])
        .await;
    let (user_id, session) = signed_in(&app).await;
    let sessions = app.get_json("/v1/auth/sessions", &session).await;
    let session_id = sessions["sessions"][0]["id"].as_str().unwrap().to_owned();

    let body = issue(&app, &session).await;
    assert_eq!(body["expires_in"], 120);
    let token = body["access_token"].as_str().unwrap();

    let published = jwks(&app).await;
    let document: Value = serde_json::to_value(&published).unwrap();
    let kid = thumbprint(&key);
    assert_eq!(
        document["keys"],
        json!([{"kty": "OKP", "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            "kid": kid, "alg": "EdDSA", "use": "sig"}])
    );
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()));

    let claims = verify_eddsa(token, &published).unwrap();
    assert_eq!(claims["sub"], user_id);
    assert_eq!(claims["sid"], session_id);
    assert_eq!(claims["roles"], json!(["user"]));
    assert_eq!(claims["iss"], ISSUER);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 120);
    let now = crate::server::now().timestamp();
    assert!((iat - now).abs() <= 5, "iat {iat} is not now ({now})");
}

/// Sessions are found by the hash of an opaque token, so a JWT (however valid) never
/// opens one, neither for reading nor for minting more tokens.
async fn a_jwt_is_never_a_session(db: &Database) {
    let keys = Keys::new();
    let (path, _) = keys.private("current", 1);
    let app = db.app(&[("JWT_PRIVATE_KEY_FILE", &path)]).await;
    let (_, session) = signed_in(&app).await;
    let token = access_token(&app, &session).await;

    expect_error(
        app.get("/v1/auth/me", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.post("/v1/auth/token", Some(&token), json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // The session itself still works: the 401s are about the JWT.
    assert_eq!(
        app.get("/v1/auth/me", &session).await.status(),
        StatusCode::OK
    );
}

async fn hs256_token_verifies_with_the_secret_and_has_no_jwks(db: &Database) {
    let app = db.app(&[("JWT_SECRET", SECRET)]).await;
    let (user_id, session) = signed_in(&app).await;
    let token = access_token(&app, &session).await;

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    let kid = header.kid.unwrap();
    // Computed here, not with authd's function: a labelled SHA-256 of the secret, cut to
    // 16 characters, never the secret or its plain hash.
    let labelled = Sha256::new()
        .chain_update(b"authd jwt kid v1\0")
        .chain_update(SECRET)
        .finalize();
    assert_eq!(kid, URL_SAFE_NO_PAD.encode(labelled)[..16]);
    assert_ne!(kid, URL_SAFE_NO_PAD.encode(Sha256::digest(SECRET))[..16]);
    let key = DecodingKey::from_secret(SECRET.as_bytes()).unwrap();
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation(Algorithm::HS256))
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], user_id);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );

    let wrong = DecodingKey::from_secret(b"another-secret-of-at-least-32-bytes!").unwrap();
    let err = jsonwebtoken::decode::<Value>(&token, &wrong, &validation(Algorithm::HS256));
    assert!(matches!(
        err.unwrap_err().kind(),
        ErrorKind::InvalidSignature
    ));

    expect_error(
        app.get_anonymously("/.well-known/jwks.json").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn without_a_key_token_is_501_and_jwks_404(db: &Database) {
    let app = db.app(&[]).await;
    let (_, session) = signed_in(&app).await;
    expect_error(
        app.post("/v1/auth/token", Some(&session), json!({})).await,
        StatusCode::NOT_IMPLEMENTED,
        "not_configured",
    )
    .await;
    // Without a session the caller learns nothing about the configuration.
    expect_error(
        app.post("/v1/auth/token", None, json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.get_anonymously("/.well-known/jwks.json").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn a_revoked_session_gets_no_token(db: &Database) {
    let keys = Keys::new();
    let (path, _) = keys.private("current", 1);
    let app = db.app(&[("JWT_PRIVATE_KEY_FILE", &path)]).await;
    let (_, session) = signed_in(&app).await;
    access_token(&app, &session).await;

    let logout = app.post("/v1/auth/logout", Some(&session), json!({})).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let response = app.post("/v1/auth/token", Some(&session), json!({})).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// Rotation without downtime: key A signs; then B signs and A (as a public or a private
/// PEM) is only published, so A's tokens still verify; once A is dropped from the list,
/// its tokens no longer do (their kid is unknown).
async fn rotation_publishes_old_keys_until_they_are_removed(db: &Database) {
    let keys = Keys::new();
    let (a_path, a) = keys.private("a", 1);
    let a_public = keys.public("a", &a);
    let (b_path, b) = keys.private("b", 2);

    let before = db.app(&[("JWT_PRIVATE_KEY_FILE", &a_path)]).await;
    let (_, session) = signed_in(&before).await;
    let signed_by_a = access_token(&before, &session).await;
    drop(before);

    let previous = format!("{a_public},{a_path}");
    let overlap = db
        .app(&[
            ("JWT_PRIVATE_KEY_FILE", &b_path),
            ("JWT_PREVIOUS_KEY_FILES", &previous),
        ])
        .await;
    let published = jwks(&overlap).await;
    let kids: Vec<_> = published
        .keys
        .iter()
        .map(|k| k.common.key_id.clone().unwrap())
        .collect();
    assert_eq!(kids, [thumbprint(&b), thumbprint(&a)]);
    verify_eddsa(&signed_by_a, &published).unwrap();
    let signed_by_b = access_token(&overlap, &session).await;
    assert_eq!(
        jsonwebtoken::decode_header(&signed_by_b).unwrap().kid,
        Some(thumbprint(&b))
    );
    verify_eddsa(&signed_by_b, &published).unwrap();
    drop(overlap);

    let after = db.app(&[("JWT_PRIVATE_KEY_FILE", &b_path)]).await;
    let published = jwks(&after).await;
    assert_eq!(published.keys.len(), 1);
    let err = verify_eddsa(&signed_by_a, &published).unwrap_err();
    assert!(err.starts_with("unknown kid"), "{err}");
    verify_eddsa(&signed_by_b, &published).unwrap();
}

async fn an_expired_token_is_rejected(db: &Database) {
    let keys = Keys::new();
    let (path, _) = keys.private("current", 1);
    let app = db
        .app(&[("JWT_PRIVATE_KEY_FILE", &path), ("JWT_TTL_SECS", "1")])
        .await;
    let (_, session) = signed_in(&app).await;
    let token = access_token(&app, &session).await;
    let published = jwks(&app).await;
    verify_eddsa(&token, &published).unwrap();

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let jwk = &published.keys[0];
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let err = jsonwebtoken::decode::<Value>(&token, &key, &validation(Algorithm::EdDSA));
    assert!(matches!(
        err.unwrap_err().kind(),
        ErrorKind::ExpiredSignature
    ));
}

/// What a verifier pinned to EdDSA makes of forgeries built from a real token: one with
/// `alg: none` and no signature, and one signed with HS256 using the published public
/// key as the HMAC secret (algorithm confusion). Both fail, and neither is a session.
async fn unsigned_and_alg_confused_tokens_count_for_nothing(db: &Database) {
    let keys = Keys::new();
    let (path, key) = keys.private("current", 1);
    let app = db.app(&[("JWT_PRIVATE_KEY_FILE", &path)]).await;
    let (_, session) = signed_in(&app).await;
    let token = access_token(&app, &session).await;
    let published = jwks(&app).await;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let kid = thumbprint(&key);

    let none_header = json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string();
    let unsigned = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(none_header));

    let public = key.verifying_key();
    let x = URL_SAFE_NO_PAD.encode(public.as_bytes());
    let mut forgeries = vec![unsigned];
    for secret in [public.as_bytes().as_slice(), x.as_bytes()] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        let hmac = EncodingKey::from_secret(secret).unwrap();
        forgeries.push(jsonwebtoken::encode(&header, &claims, &hmac).unwrap());
    }
    for forgery in &forgeries {
        let outcome = verify_eddsa(forgery, &published);
        assert!(outcome.is_err(), "{forgery} verified: {outcome:?}");
        assert_eq!(
            app.get("/v1/auth/me", forgery).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The genuine token passes the same check, so the refusals are about the forgeries.
    verify_eddsa(&token, &published).unwrap();
}

/// `tests/jwt_pyjwt.py`: PyJWT verifies the EdDSA token against the JWKS and the HS256
/// token with the secret, and refuses a wrong issuer, a wrong secret and `alg: none`.
/// Skipped without PyJWT, a failure under `CI=true`.
async fn pyjwt_verifies_what_authd_signs(db: &Database) {
    let installed = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !installed {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PyJWT must be installed under CI (.ci/run installs it)"
        );
        eprintln!(
            "skipped: PyJWT not installed (python3 -m pip install 'pyjwt[crypto]==2.10.1'), so the independent JWT check did not run"
        );
        return;
    }
    let keys = Keys::new();
    let (path, _) = keys.private("current", 1);
    let eddsa = db.app(&[("JWT_PRIVATE_KEY_FILE", &path)]).await;
    let (user_id, session) = signed_in(&eddsa).await;
    let token = access_token(&eddsa, &session).await;
    let jwks_text = eddsa
        .get_anonymously("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    let jwks_path = keys.write("jwks.json", jwks_text.as_bytes());

    let (code, claims) = pyjwt(&["eddsa", &token, &jwks_path, ISSUER]);
    assert_eq!(code, 0, "{claims}");
    let claims: Value = serde_json::from_str(&claims).unwrap();
    assert_eq!(claims["sub"], user_id);
    assert_eq!(claims["roles"], json!(["user"]));
    assert_eq!(
        pyjwt(&["eddsa", &token, &jwks_path, "https://evil.example"]).0,
        1
    );
    let payload = token.split('.').nth(1).unwrap();
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{payload}.");
    assert_eq!(pyjwt(&["eddsa", &unsigned, &jwks_path, ISSUER]).0, 1);
    drop(eddsa);

    let hs256 = db.app(&[("JWT_SECRET", SECRET)]).await;
    let session = hs256.login("ada@example.com", PASSWORD).await;
    let token = access_token(&hs256, &session).await;
    assert_eq!(pyjwt(&["hs256", &token, SECRET, ISSUER]).0, 0);
    let wrong = "another-secret-of-at-least-32-bytes!";
    assert_eq!(pyjwt(&["hs256", &token, wrong, ISSUER]).0, 1);
}

/// Runs `tests/jwt_pyjwt.py` with `args`: (exit code, stdout or else stderr).
fn pyjwt(args: &[&str]) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jwt_pyjwt.py");
    let output = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let text = if output.status.success() {
        output.stdout
    } else {
        output.stderr
    };
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&text).into_owned(),
    )
}

/// A downstream axum service guarded by `authd-verify` against this authd's live JWKS:
/// it admits an access token and refuses the session token, a token from another key and
/// garbage; the claims it sees are the caller's.
async fn a_downstream_service_trusts_authd_tokens_and_nothing_else(db: &Database) {
    use authd_verify::{AuthdClaims, Verifier};
    use std::sync::Arc;

    let keys = Keys::new();
    let (key_file, _) = keys.private("current", 21);
    let app = db.app(&[("JWT_PRIVATE_KEY_FILE", &key_file)]).await;
    let (id, session) = signed_in(&app).await;
    let token = access_token(&app, &session).await;

    let jwks_url = format!("{}/.well-known/jwks.json", app.base);
    let verifier = Arc::new(Verifier::jwks(&jwks_url, ISSUER).unwrap());
    let service = axum::Router::new()
        .route(
            "/whoami",
            axum::routing::get(|AuthdClaims(claims): AuthdClaims| async move {
                axum::Json(json!({"sub": claims.sub, "sid": claims.sid, "roles": claims.roles}))
            }),
        )
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/whoami", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, service).await });

    let call = |bearer: String| {
        let client = app.client.clone();
        let url = url.clone();
        async move { client.get(&url).bearer_auth(bearer).send().await.unwrap() }
    };
    let admitted = call(token).await;
    assert_eq!(admitted.status(), StatusCode::OK);
    let seen: Value = admitted.json().await.unwrap();
    assert_eq!(seen["sub"], id.as_str());
    assert_eq!(seen["roles"], json!(["user"]));

    // A session token is no JWT; a JWT signed by a key authd does not publish, and
    // garbage, are refused too.
    let (_, stranger) = keys.private("stranger", 22);
    let claims = json!({"sub": id, "sid": id, "roles": ["admin"], "iat": 0,
        "exp": 4_000_000_000_u64, "iss": ISSUER});
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(thumbprint(&stranger));
    let stranger_pem = stranger.to_pkcs8_pem(LineEnding::LF).unwrap();
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ed_pem(stranger_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    for refused in [session, forged, "not.a.jwt".to_owned()] {
        assert_eq!(call(refused).await.status(), StatusCode::UNAUTHORIZED);
    }
}
