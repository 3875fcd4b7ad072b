//! Passkeys end to end with a software WebAuthn authenticator (`auth_testing::
//! SoftAuthenticator`, answering as a browser at authd's origin would): registration,
//! the second step of a login, passwordless login, step-up, listing and removing, and the
//! answers that must fail — replayed, from another origin, for another session.

use crate::mfa::MFA_KEY;
use crate::server::{PASSWORD, TestApp, expect_error, now};
use auth_testing::{SoftAuthenticator, TestDatabase};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};

auth_testing::on_both_backends!(
    crate::passkeys::PasskeyApp;
    a_registered_passkey_is_the_second_factor_of_a_login,
    an_assertion_works_once,
    a_passkey_logs_in_without_a_password,
    an_assertion_made_for_another_origin_is_refused,
    a_registration_is_finished_by_the_session_that_began_it_only,
    passkeys_are_listed_and_removed,
    a_passkey_steps_a_session_up,
);

mod unconfigured {
    pub(super) use super::passkeys_are_off_without_a_domain;

    auth_testing::on_both_backends!(
        crate::mfa::PlainApp;
        passkeys_are_off_without_a_domain,
    );
}

/// authd at `http://localhost:<port>` (a domain, so a WebAuthn relying party
/// `localhost`), with TOTP sealing configured.
pub struct PasskeyApp {
    app: TestApp,
    /// `http://localhost:<port>`: the origin the browser is at.
    origin: String,
}

impl PasskeyApp {
    pub async fn open(database: TestDatabase) -> Self {
        let vars = [("MFA_SECRET_KEY", MFA_KEY)];
        let (app, origin) = TestApp::open_on_localhost(database, &vars).await;
        Self { app, origin }
    }

    /// A browser with a software authenticator, at authd's origin.
    fn browser(&self) -> SoftAuthenticator {
        SoftAuthenticator::new(&self.origin)
    }
}

impl std::ops::Deref for PasskeyApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// The JSON body of `response`, after checking its status.
async fn body(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

/// Registers a passkey named `name` in `browser` for the session `token`; the answer
/// (`{passkey, recovery_codes}`).
async fn register_passkey(
    app: &PasskeyApp,
    token: &str,
    browser: &mut SoftAuthenticator,
    name: &str,
) -> Value {
    let begun = app
        .post("/v1/auth/mfa/passkeys/register", Some(token), json!({}))
        .await;
    let begun = body(begun, StatusCode::OK).await;
    let credential = browser.register(&begun["webauthn"]).unwrap();
    let added = app
        .post(
            "/v1/auth/mfa/passkeys",
            Some(token),
            json!({"passkey_token": begun["passkey_token"], "name": name, "credential": credential}),
        )
        .await;
    body(added, StatusCode::CREATED).await
}

/// A user of `email` with one passkey in the returned browser; their (fresh) token.
async fn with_passkey(app: &PasskeyApp, email: &str) -> (String, SoftAuthenticator) {
    app.register(email).await;
    let token = app.login(email, PASSWORD).await;
    let mut browser = app.browser();
    register_passkey(app, &token, &mut browser, "Laptop").await;
    (token, browser)
}

/// The login's challenge for `email`: `{mfa_token, methods, webauthn, …}`.
async fn challenge(app: &PasskeyApp, email: &str) -> Value {
    let login = body(app.try_login(email, PASSWORD).await, StatusCode::OK).await;
    assert_eq!(login["mfa_required"], true, "{login}");
    login
}

/// `POST /v1/auth/mfa/verify` with a passkey's `credential`.
async fn verify(app: &PasskeyApp, mfa_token: &Value, credential: &Value) -> reqwest::Response {
    let body = json!({"mfa_token": mfa_token, "method": "webauthn", "credential": credential});
    app.post("/v1/auth/mfa/verify", None, body).await
}

/// The current session's entry in `GET /v1/auth/sessions`.
async fn current_session(app: &PasskeyApp, token: &str) -> Value {
    let sessions = app.get_json("/v1/auth/sessions", token).await;
    sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone()
}

/// Moves every session's last authentication back past the step-up window.
async fn authenticated_long_ago(app: &PasskeyApp) {
    let db = Database::connect(&app.database_url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => "UPDATE sessions SET authenticated_at = ?",
        _ => "UPDATE sessions SET authenticated_at = $1",
    };
    let then = now() - chrono::Duration::minutes(6);
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [then.into()]))
        .await
        .unwrap();
}

async fn a_registered_passkey_is_the_second_factor_of_a_login(app: &PasskeyApp) {
    app.register("ada@example.com").await;
    let token = app.login("ada@example.com", PASSWORD).await;
    let mut browser = app.browser();
    let added = register_passkey(app, &token, &mut browser, "  Laptop  ").await;
    assert_eq!(added["passkey"]["name"], "Laptop");
    assert_eq!(added["recovery_codes"].as_array().unwrap().len(), 10);
    let listed = app.get_json("/v1/auth/mfa", &token).await;
    assert_eq!(listed["methods"], json!(["webauthn", "recovery_code"]));
    assert!(listed["passkeys"][0]["last_used_at"].is_null());

    let login = challenge(app, "ada@example.com").await;
    assert_eq!(login["methods"], json!(["webauthn", "recovery_code"]));
    let credential = browser.sign(&login["webauthn"]).unwrap();
    let signed_in = body(
        verify(app, &login["mfa_token"], &credential).await,
        StatusCode::OK,
    )
    .await;

    let session = signed_in["session_token"].as_str().unwrap();
    let current = current_session(app, session).await;
    assert_eq!(current["auth_methods"], json!(["password", "webauthn"]));
    let listed = app.get_json("/v1/auth/mfa", session).await;
    assert!(
        listed["passkeys"][0]["last_used_at"].is_string(),
        "{listed}"
    );
    let enrolled = app
        .audit_entries(auth_ports::AuditQuery {
            action: Some("mfa.enroll".into()),
            limit: 10,
            ..Default::default()
        })
        .await;
    assert_eq!(enrolled.len(), 1);
    assert_eq!(enrolled[0].entry.details["method"], "webauthn");
    assert!(enrolled[0].entry.details["passkey_id"].is_string());
}

async fn an_assertion_works_once(app: &PasskeyApp) {
    let (_, mut browser) = with_passkey(app, "bob@example.com").await;
    let first = challenge(app, "bob@example.com").await;
    let credential = browser.sign(&first["webauthn"]).unwrap();
    assert_eq!(
        verify(app, &first["mfa_token"], &credential).await.status(),
        StatusCode::OK
    );

    // The same answer again: its challenge is used up.
    let again = verify(app, &first["mfa_token"], &credential).await;
    expect_error(again, StatusCode::BAD_REQUEST, "invalid_token").await;
    // Replayed to a new login's challenge: it signed another challenge.
    let second = challenge(app, "bob@example.com").await;
    let replayed = verify(app, &second["mfa_token"], &credential).await;
    expect_error(replayed, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let failed = app
        .audit_entries(auth_ports::AuditQuery {
            action: Some("mfa.verify".into()),
            success: Some(false),
            limit: 10,
            ..Default::default()
        })
        .await;
    assert_eq!(failed.len(), 1);
}

async fn a_passkey_logs_in_without_a_password(app: &PasskeyApp) {
    let (_, mut browser) = with_passkey(app, "carol@example.com").await;
    let begun = body(
        app.post("/v1/auth/passkey/start", None, json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        begun["webauthn"]["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "a discoverable login names no credential: {begun}"
    );
    let credential = browser.sign(&begun["webauthn"]).unwrap();

    let finished = app
        .post(
            "/v1/auth/passkey/finish",
            None,
            json!({"passkey_token": begun["passkey_token"], "credential": credential}),
        )
        .await;

    let signed_in = body(finished, StatusCode::OK).await;
    assert_eq!(signed_in["user"]["email"], "carol@example.com");
    let session = signed_in["session_token"].as_str().unwrap();
    let current = current_session(app, session).await;
    assert_eq!(current["auth_methods"], json!(["webauthn"]));
    let again = app
        .post(
            "/v1/auth/passkey/finish",
            None,
            json!({"passkey_token": begun["passkey_token"], "credential": credential}),
        )
        .await;
    expect_error(again, StatusCode::BAD_REQUEST, "invalid_token").await;
}

async fn an_assertion_made_for_another_origin_is_refused(app: &PasskeyApp) {
    let (_, mut browser) = with_passkey(app, "dan@example.com").await;
    let login = challenge(app, "dan@example.com").await;
    // A look-alike page on another port relays the challenge to the user's browser.
    browser.set_origin("http://localhost:1");
    let phished = browser.sign(&login["webauthn"]).unwrap();

    let refused = verify(app, &login["mfa_token"], &phished).await;

    expect_error(refused, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

async fn a_registration_is_finished_by_the_session_that_began_it_only(app: &PasskeyApp) {
    app.register("erin@example.com").await;
    let first = app.login("erin@example.com", PASSWORD).await;
    let second = app.login("erin@example.com", PASSWORD).await;
    let begun = body(
        app.post("/v1/auth/mfa/passkeys/register", Some(&first), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let credential = app.browser().register(&begun["webauthn"]).unwrap();

    let elsewhere = app
        .post(
            "/v1/auth/mfa/passkeys",
            Some(&second),
            json!({"passkey_token": begun["passkey_token"], "name": "Phone", "credential": credential}),
        )
        .await;

    expect_error(elsewhere, StatusCode::BAD_REQUEST, "invalid_token").await;
    let listed = app.get_json("/v1/auth/mfa", &first).await;
    assert_eq!(listed["passkeys"], json!([]));
    let tampered = app
        .post(
            "/v1/auth/mfa/passkeys",
            Some(&first),
            json!({"passkey_token": begun["passkey_token"], "name": "Phone", "credential": {"id": "x"}}),
        )
        .await;
    expect_error(tampered, StatusCode::BAD_REQUEST, "passkey_rejected").await;
}

async fn passkeys_are_listed_and_removed(app: &PasskeyApp) {
    let (token, _) = with_passkey(app, "fay@example.com").await;
    let mut phone = app.browser();
    let added = register_passkey(app, &token, &mut phone, "Phone").await;
    assert!(
        added["recovery_codes"].is_null(),
        "codes are made once: {added}"
    );
    let listed = app.get_json("/v1/auth/mfa", &token).await;
    let names: Vec<_> = listed["passkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Laptop", "Phone"]);
    let laptop = listed["passkeys"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/auth/mfa/passkeys/{laptop}");
    let (other, _) = with_passkey(app, "gus@example.com").await;
    let foreign = app.send(Method::DELETE, &path, &other, None).await;
    expect_error(foreign, StatusCode::NOT_FOUND, "not_found").await;
    authenticated_long_ago(app).await;
    let stale = app.send(Method::DELETE, &path, &token, None).await;
    expect_error(stale, StatusCode::FORBIDDEN, "reauthentication_required").await;
    let mut login = challenge(app, "fay@example.com").await;
    let credential = phone.sign(&login["webauthn"]).unwrap();
    let fresh = body(
        verify(app, &login["mfa_token"], &credential).await,
        StatusCode::OK,
    )
    .await;
    let fresh = fresh["session_token"].as_str().unwrap().to_owned();

    let removed = app.send(Method::DELETE, &path, &fresh, None).await;

    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let listed = app.get_json("/v1/auth/mfa", &fresh).await;
    assert_eq!(listed["passkeys"].as_array().unwrap().len(), 1);
    assert_eq!(listed["recovery_codes_left"], 10);
    // The phone still answers a login; the laptop's passkey is no longer offered.
    login = challenge(app, "fay@example.com").await;
    let offered = login["webauthn"]["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(offered, 1);
}

async fn a_passkey_steps_a_session_up(app: &PasskeyApp) {
    let (token, mut browser) = with_passkey(app, "hal@example.com").await;
    authenticated_long_ago(app).await;
    let begun = body(
        app.post("/v1/auth/reauthenticate/passkey", Some(&token), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let credential = browser.sign(&begun["webauthn"]).unwrap();
    let (other, _) = with_passkey(app, "ivy@example.com").await;
    let foreign = app
        .post(
            "/v1/auth/reauthenticate",
            Some(&other),
            json!({"method": "webauthn", "passkey_token": begun["passkey_token"], "credential": credential}),
        )
        .await;
    expect_error(foreign, StatusCode::BAD_REQUEST, "invalid_token").await;

    let stepped = app
        .post(
            "/v1/auth/reauthenticate",
            Some(&token),
            json!({"method": "webauthn", "passkey_token": begun["passkey_token"], "credential": credential}),
        )
        .await;

    let stepped = body(stepped, StatusCode::OK).await;
    assert_eq!(stepped["auth_methods"], json!(["webauthn"]));
    let renewed = app
        .post("/v1/auth/mfa/recovery-codes", Some(&token), json!({}))
        .await;
    assert_eq!(renewed.status(), StatusCode::OK);
}

async fn passkeys_are_off_without_a_domain(app: &crate::mfa::PlainApp) {
    app.register("jo@example.com").await;
    let token = app.login("jo@example.com", PASSWORD).await;
    let start = app.post("/v1/auth/passkey/start", None, json!({})).await;
    expect_error(start, StatusCode::NOT_IMPLEMENTED, "not_configured").await;
    let register = app
        .post("/v1/auth/mfa/passkeys/register", Some(&token), json!({}))
        .await;
    expect_error(register, StatusCode::NOT_IMPLEMENTED, "not_configured").await;
}
