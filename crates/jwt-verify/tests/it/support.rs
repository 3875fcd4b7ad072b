//! Test keys, token minting and a counting JWKS server.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::CACHE_CONTROL};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use uuid::Uuid;

pub const ISSUER: &str = "https://auth.example.test";

/// PKCS#8 v1 DER prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 key from fixed bytes, with its public JWK and RFC 7638 `kid`, as authd
/// publishes it.
pub struct TestKey {
    encoding: EncodingKey,
    pub jwk: Jwk,
    pub kid: String,
    /// The raw public key, the `x` of the JWK.
    pub x: Vec<u8>,
}

impl TestKey {
    pub fn from_seed(seed: u8) -> Self {
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend([seed; 32]);
        let encoding = EncodingKey::from_ed_der(&der);
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::EdDSA).unwrap();
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).unwrap();
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let x = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(p) => b64url_decode(&p.x),
            other => panic!("not an OKP key: {other:?}"),
        };
        Self {
            encoding,
            jwk,
            kid,
            x,
        }
    }

    /// An EdDSA token with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// An EdDSA token signed by this key but naming `kid`.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// authd's claims, expiring `exp_in` seconds from now.
pub fn claims_expiring_in(exp_in: i64) -> Value {
    json!({
        "sub": Uuid::new_v4().to_string(),
        "sid": Uuid::new_v4().to_string(),
        "roles": ["user", "billing"],
        "iat": now(),
        "exp": now() + exp_in,
        "iss": ISSUER,
    })
}

pub fn claims() -> Value {
    claims_expiring_in(300)
}

pub fn hs256_token(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64url_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[derive(Clone, Default)]
struct Served {
    jwks: Arc<Mutex<Value>>,
    cache_control: Arc<Mutex<Option<String>>>,
    failing: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

/// A JWKS endpoint on 127.0.0.1:0 that counts fetches; what it serves can change
/// mid-test (rotation) and it can be made to fail.
pub struct JwksServer {
    pub url: String,
    served: Served,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let served = Served::default();
        let app = Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(served.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let server = Self { url, served, task };
        server.serve(keys);
        server
    }

    pub fn serve(&self, keys: &[&TestKey]) {
        let keys: Vec<&Jwk> = keys.iter().map(|key| &key.jwk).collect();
        *self.served.jwks.lock().unwrap() = json!({ "keys": keys });
    }

    pub fn serve_raw(&self, jwks: Value) {
        *self.served.jwks.lock().unwrap() = jwks;
    }

    pub fn set_cache_control(&self, value: &str) {
        *self.served.cache_control.lock().unwrap() = Some(value.to_owned());
    }

    pub fn set_failing(&self, failing: bool) {
        self.served.failing.store(failing, Ordering::SeqCst);
    }

    pub fn fetches(&self) -> usize {
        self.served.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn jwks(State(served): State<Served>) -> Response {
    served.fetches.fetch_add(1, Ordering::SeqCst);
    // A fetch that takes a moment, so concurrent verifications really overlap it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if served.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut headers = HeaderMap::new();
    if let Some(value) = served.cache_control.lock().unwrap().clone() {
        headers.insert(CACHE_CONTROL, HeaderValue::from_str(&value).unwrap());
    }
    let body = served.jwks.lock().unwrap().clone();
    (headers, Json(body)).into_response()
}

/// A URL on which nothing listens.
pub async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/.well-known/jwks.json")
}
