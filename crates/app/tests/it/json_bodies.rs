//! Property tests of the JSON bodies (issue 19): every operation that reads one gets
//! arbitrary JSON values, valid bodies with random mutations at any depth, and bytes
//! that are not JSON. Whatever arrives, the answer is never a 5xx, every error has the
//! shape of SPEC.md section 4, and what the body alone decides (413, 415, 400, 422) is
//! answered as SPEC.md says.

use crate::mfa::MFA_KEY;
use crate::server::{PASSWORD, TestApp};
use auth_testing::TestDatabase;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;

auth_testing::on_both_backends!(
    crate::json_bodies::BodyApp;
    no_body_gets_a_5xx_or_an_error_of_another_shape,
);

/// Cases per operation: enough to reach every kind of body, few enough to run in seconds.
const CASES: u32 = 64;

/// The body limit of SPEC.md section 4.
const BODY_LIMIT: usize = 64 * 1024;

/// authd at `http://localhost:<port>` with TOTP sealing, so that the passkey and TOTP
/// routes are on, and with limits no run reaches, so that every case gets past them to
/// the handler's own checks.
pub struct BodyApp {
    app: TestApp,
}

impl BodyApp {
    pub async fn open(database: TestDatabase) -> Self {
        let vars = [
            ("MFA_SECRET_KEY", MFA_KEY),
            ("RATE_LIMIT_LOGIN_PER_MIN", "1000000"),
            ("RATE_LIMIT_REGISTER_PER_MIN", "1000000"),
            ("RATE_LIMIT_RESET_PER_HOUR", "1000000"),
            ("LOCKOUT_THRESHOLD", "1000000"),
        ];
        let (app, _origin) = TestApp::open_on_localhost(database, &vars).await;
        Self { app }
    }
}

impl std::ops::Deref for BodyApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// Field names the routes know, so that generated objects often hit a real field with
/// a value of the wrong kind.
const FIELDS: [&str; 17] = [
    "email",
    "password",
    "first_name",
    "last_name",
    "cookie",
    "token",
    "new_password",
    "current_password",
    "mfa_token",
    "method",
    "code",
    "credential",
    "passkey_token",
    "name",
    "description",
    "permissions",
    "status",
];

/// Strings: arbitrary ones, control and NUL characters, emails, the test password,
/// the words the routes know, token-like ones and ones past every length limit.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        vec(any::<char>(), 0..40).prop_map(String::from_iter),
        ("[a-z]{0,3}", "[a-z]{0,3}").prop_map(|(a, b)| format!("{a}\0{b}")),
        "[a-zA-Z0-9._+-]{1,20}@[a-z0-9-]{1,10}\\.[a-z]{2,4}",
        Just(PASSWORD.to_owned()),
        "(totp|recovery_code|webauthn|active|inactive|suspended|deleted|users:read|\\*)",
        "[A-Za-z0-9_-]{43}",
        "[a-z ]{100,300}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => select(FIELDS.to_vec()).prop_map(str::to_owned), 1 => text()]
}

/// Any JSON value: every kind of scalar, numbers at the edges of every width, nested
/// arrays and objects.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::from),
            vec((key(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A change to one object of a body.
#[derive(Debug, Clone)]
enum Change {
    Remove(Index),
    Set(Index, Value),
    Add(String, Value),
}

/// A change and the object (in document order, at any depth) it applies to.
fn change() -> impl Strategy<Value = (Index, Change)> {
    // Mostly another string, the kind most fields take, so that many bodies get past
    // the shape checks to the route's own.
    let change = prop_oneof![
        1 => any::<Index>().prop_map(Change::Remove),
        1 => (any::<Index>(), json_value()).prop_map(|(i, v)| Change::Set(i, v)),
        4 => (any::<Index>(), text()).prop_map(|(i, t)| Change::Set(i, t.into())),
        1 => (key(), json_value()).prop_map(|(k, v)| Change::Add(k, v)),
    ];
    (any::<Index>(), change)
}

/// JSON pointers to every object in `value`.
fn objects(value: &Value, at: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            found.push(at.to_owned());
            for (key, field) in fields {
                let key = key.replace('~', "~0").replace('/', "~1");
                objects(field, &format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                objects(item, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

fn mutate(mut body: Value, changes: Vec<(Index, Change)>) -> Value {
    for (target, change) in changes {
        let mut pointers = Vec::new();
        objects(&body, "", &mut pointers);
        let pointer = &pointers[target.index(pointers.len())];
        let Some(Value::Object(fields)) = body.pointer_mut(pointer) else {
            unreachable!("{pointer} points at an object")
        };
        let keys: Vec<String> = fields.keys().cloned().collect();
        match change {
            Change::Remove(i) if !keys.is_empty() => {
                fields.remove(&keys[i.index(keys.len())]);
            }
            Change::Set(i, value) if !keys.is_empty() => {
                fields.insert(keys[i.index(keys.len())].clone(), value);
            }
            Change::Add(key, value) => {
                fields.insert(key, value);
            }
            Change::Remove(_) | Change::Set(..) => {}
        }
    }
    body
}

/// Bytes that are (mostly) not JSON: random ones, `seed` cut short or with a byte
/// changed, nesting past serde's depth limit, an unpaired surrogate.
fn not_json(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let cut = seed.clone();
    prop_oneof![
        vec(any::<u8>(), 0..200),
        any::<Index>().prop_map(move |i| cut[..i.index(cut.len())].to_vec()),
        (any::<Index>(), any::<u8>()).prop_map(move |(i, byte)| {
            let mut bytes = seed.clone();
            let i = i.index(bytes.len());
            bytes[i] = byte;
            bytes
        }),
        (100..300_usize)
            .prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
        Just(br#"{"email": "\ud800@example.com", "password": "x"}"#.to_vec()),
    ]
}

/// One request: its `Content-Type` and body.
#[derive(Clone)]
struct Request {
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Content-Type {:?}, {} bytes: {}",
            self.content_type,
            self.body.len(),
            String::from_utf8_lossy(&self.body)
        )
    }
}

impl Request {
    /// The status and code that the body alone decides, before any route logic.
    fn decided(&self) -> Option<(StatusCode, &'static str)> {
        let json_type = self
            .content_type
            .is_some_and(|t| t.starts_with("application/json"));
        if self.body.len() > BODY_LIMIT {
            Some((StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"))
        } else if !json_type {
            Some((StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"))
        } else {
            match serde_json::from_slice::<Value>(&self.body) {
                // Well-formed by JSON's grammar, only deeper than `Value` goes or with
                // an unpaired surrogate escape: a route may refuse it as malformed
                // (400) or find a field of the wrong shape (422) first.
                Err(err)
                    if [
                        "recursion limit exceeded",
                        "lone leading surrogate",
                        "unexpected end of hex escape",
                    ]
                    .iter()
                    .any(|reason| err.to_string().starts_with(reason)) =>
                {
                    None
                }
                Err(_) => Some((StatusCode::BAD_REQUEST, "bad_request")),
                Ok(Value::Object(_) | Value::Array(_)) => None,
                Ok(_) => Some((StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")),
            }
        }
    }
}

/// Requests for an operation whose valid body is `seed`.
fn request(seed: Value) -> impl Strategy<Value = Request> {
    let seed_bytes = serde_json::to_vec(&seed).unwrap();
    let huge = serde_json::to_vec(&json!({"email": "x".repeat(BODY_LIMIT)})).unwrap();
    let body = prop_oneof![
        3 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        8 => vec(change(), 0..3).prop_map(move |changes| serde_json::to_vec(&mutate(seed.clone(), changes)).unwrap()),
        2 => not_json(seed_bytes),
        1 => Just(huge),
    ];
    let content_type = prop_oneof![
        12 => Just(Some("application/json")),
        1 => Just(Some("application/json; charset=utf-8")),
        1 => Just(Some("text/plain")),
        1 => Just(None),
    ];
    (content_type, body).prop_map(|(content_type, body)| Request { content_type, body })
}

/// What the operations need: a session of an admin, and a user, a role and ceremony
/// tokens to aim at.
struct Targets {
    token: String,
    user: String,
    role: String,
    /// A pending passwordless login.
    login_passkey: String,
    /// A pending passkey registration of the admin.
    new_passkey: String,
}

async fn targets(app: &TestApp) -> Targets {
    let (_, token) = app.login_with_role("root@example.com", "admin").await;
    let user = app.register("victim@example.com").await;
    let role = json!({"name": "fuzzed", "permissions": ["users:read"]});
    let role = app
        .send(Method::POST, "/v1/admin/roles", &token, Some(role))
        .await;
    assert_eq!(role.status(), StatusCode::CREATED);
    let role: Value = role.json().await.unwrap();
    // A pending TOTP secret, so that confirming it gets as far as checking the code.
    let totp = app.post("/v1/auth/mfa/totp", Some(&token), json!({})).await;
    assert_eq!(totp.status(), StatusCode::CREATED);
    let passkey_token = |response: Value| response["passkey_token"].as_str().unwrap().to_owned();
    let login = app.post("/v1/auth/passkey/start", None, json!({})).await;
    let new = app
        .post("/v1/auth/mfa/passkeys/register", Some(&token), json!({}))
        .await;
    Targets {
        token,
        user,
        role: role["role"]["id"].as_str().unwrap().to_owned(),
        login_passkey: passkey_token(login.json().await.unwrap()),
        new_passkey: passkey_token(new.json().await.unwrap()),
    }
}

/// A valid body of each operation, keyed by `METHOD path`; one of a browser's
/// `PublicKeyCredential` where a passkey is answered.
fn seeds(targets: &Targets) -> HashMap<&'static str, Value> {
    let assertion = json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {
        "clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AAAA", "userHandle": null
    }, "extensions": {}});
    let attestation = json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {
        "clientDataJSON": "e30", "attestationObject": "oA"
    }, "extensions": {}});
    let token = "A".repeat(43);
    HashMap::from([
        (
            "POST /v1/auth/register",
            json!({"email": "new@example.com", "password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace"}),
        ),
        (
            "POST /v1/auth/login",
            json!({"email": "victim@example.com", "password": "not the password", "cookie": false}),
        ),
        (
            "POST /v1/auth/mfa/verify",
            json!({"mfa_token": token, "method": "totp", "code": "123456", "credential": assertion, "cookie": false}),
        ),
        (
            "POST /v1/auth/passkey/finish",
            json!({"passkey_token": targets.login_passkey, "credential": assertion, "cookie": false}),
        ),
        (
            "POST /v1/auth/password",
            json!({"current_password": "not the password", "new_password": "another long passphrase"}),
        ),
        (
            "POST /v1/auth/reauthenticate",
            json!({"password": "not the password"}),
        ),
        ("POST /v1/auth/mfa/totp/confirm", json!({"code": "123456"})),
        (
            "POST /v1/auth/mfa/passkeys",
            json!({"passkey_token": targets.new_passkey, "name": "Laptop", "credential": attestation}),
        ),
        ("POST /v1/auth/verify-email", json!({"token": token})),
        (
            "POST /v1/auth/password-reset/request",
            json!({"email": "victim@example.com"}),
        ),
        (
            "POST /v1/auth/password-reset",
            json!({"token": token, "new_password": PASSWORD}),
        ),
        (
            "PATCH /v1/admin/users/{id}",
            json!({"status": "active", "first_name": "Vic", "last_name": null}),
        ),
        (
            "POST /v1/admin/roles",
            json!({"name": "new-role", "description": "made by a test", "permissions": ["users:read", "audit:*"]}),
        ),
        (
            "POST /v1/admin/users",
            json!({"email": "made@example.com", "password": PASSWORD, "first_name": "Made", "last_name": null, "role": "user"}),
        ),
        (
            "DELETE /v1/auth/account",
            json!({"password": "not the password"}),
        ),
        (
            "PATCH /v1/admin/roles/{id}",
            json!({"name": "fuzzed", "description": null, "permissions": ["audit:read"]}),
        ),
    ])
}

async fn no_body_gets_a_5xx_or_an_error_of_another_shape(app: &BodyApp) {
    let targets = targets(app).await;
    let seeds = seeds(&targets);
    let operations = crate::hardening::json_operations(app).await;
    assert_eq!(
        operations.len(),
        seeds.len(),
        "one seed per operation: {operations:?}"
    );
    let runtime = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        for (method, path) in operations {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let operation = format!("{method} {path}");
            let seed = seeds
                .get(operation.as_str())
                .unwrap_or_else(|| panic!("no seed for {operation}"));
            let id = if path.starts_with("/v1/admin/roles/") {
                &targets.role
            } else {
                &targets.user
            };
            let url = app.url(&path.replace("{id}", id));
            // Failures are not saved: the cases depend on the server's state.
            let config = Config {
                cases: CASES,
                failure_persistence: None,
                ..Config::default()
            };
            let mut runner = TestRunner::new(config);
            let outcome = runner.run(&request(seed.clone()), |request| {
                runtime.block_on(answer_is_clean(
                    app,
                    &method,
                    &url,
                    &targets.token,
                    &request,
                ))
            });
            if let Err(failure) = outcome {
                panic!("{operation}: {failure}");
            }
        }
    });
}

/// Sends `request` and checks the answer.
async fn answer_is_clean(
    app: &TestApp,
    method: &Method,
    url: &str,
    token: &str,
    request: &Request,
) -> Result<(), TestCaseError> {
    let mut builder = app
        .client
        .request(method.clone(), url)
        .bearer_auth(token)
        .body(request.body.clone());
    if let Some(content_type) = request.content_type {
        builder = builder.header("content-type", content_type);
    }
    let response = builder
        .send()
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let status = response.status();
    let no_store = response
        .headers()
        .get("cache-control")
        .is_some_and(|v| v == "no-store");
    let text = response
        .text()
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(!status.is_server_error(), "{}: {}", status, text);
    let decided = request.decided();
    if let Some((expected, _)) = decided {
        prop_assert_eq!(status, expected, "{}", text);
    }
    if !status.is_client_error() {
        return Ok(());
    }
    prop_assert!(no_store, "an error without Cache-Control: no-store");
    let answer: Value = serde_json::from_str(&text)
        .map_err(|_| TestCaseError::fail(format!("not JSON: {text}")))?;
    let error = answer["error"].as_object();
    prop_assert!(
        answer.as_object().is_some_and(|o| o.len() == 1) && error.is_some(),
        "{}",
        answer
    );
    let error = error.unwrap();
    prop_assert!(
        error
            .keys()
            .all(|k| ["code", "message", "details"].contains(&k.as_str())),
        "{}",
        answer
    );
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let snake_case = !code.is_empty()
        && code
            .split('_')
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()));
    prop_assert!(snake_case, "{}", answer);
    prop_assert!(
        error.get("message").is_some_and(Value::is_string),
        "{}",
        answer
    );
    if let Some((_, expected)) = decided {
        prop_assert_eq!(code, expected);
    }
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        let details = error.get("details").and_then(Value::as_object);
        prop_assert!(
            details.is_some_and(|d| !d.is_empty() && d.values().all(Value::is_string)),
            "{}",
            answer
        );
    }
    Ok(())
}
