//! MFA end to end with a software TOTP authenticator: enrolment, the second step of a
//! login, replayed and wrong codes into the lockout, expired and exhausted challenges,
//! recovery codes, step-up before sensitive changes, and the operator's view and reset.
//! (Passkeys are in `passkeys.rs`.)

use crate::server::{PASSWORD, TestApp, expect_error, expect_invalid, now};
use auth_ports::{AuditQuery, UserRepository as _};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};

auth_testing::on_both_backends!(
    crate::mfa::MfaApp;
    enrolling_totp_turns_mfa_on_and_a_login_then_needs_a_code,
    a_code_works_once,
    wrong_codes_count_towards_the_lockout,
    a_challenge_dies_after_five_wrong_codes,
    an_expired_mfa_token_is_refused,
    a_recovery_code_works_once_and_a_new_set_replaces_the_old,
    sensitive_changes_need_a_recent_authentication,
    an_account_with_mfa_steps_up_with_a_second_factor_only,
    removing_the_last_factor_turns_mfa_off,
    an_operator_sees_and_resets_a_users_factors,
    the_second_step_can_open_a_cookie_session,
);

mod unconfigured {
    pub(super) use super::totp_needs_the_sealing_key;

    auth_testing::on_both_backends!(
        crate::mfa::PlainApp;
        totp_needs_the_sealing_key,
    );
}

/// 32 bytes, base64: the key that seals TOTP secrets in these tests.
pub const MFA_KEY: &str = "bWZhLXRlc3Qta2V5LW9mLTMyLWJ5dGVzLWxvbmchISE=";

configured_app! {
    /// authd with TOTP sealing configured and a lockout after three failures.
    MfaApp = [("MFA_SECRET_KEY", MFA_KEY), ("LOCKOUT_THRESHOLD", "3")];
}

configured_app! {
    /// authd without MFA_SECRET_KEY.
    PlainApp = [];
}

/// The code of the authenticator app holding `secret` at `unix` seconds.
fn code_at(secret: &str, unix: i64) -> String {
    auth_testing::totp_code(secret, u64::try_from(unix).unwrap())
}

/// The app's code for the current 30-second step, and for the next one (which the
/// server also accepts, one step of skew, and which a test can use once the current
/// step's code is spent).
pub fn codes_now(secret: &str) -> (String, String) {
    let unix = now().timestamp();
    (code_at(secret, unix), code_at(secret, unix + 30))
}

/// A user with a confirmed TOTP authenticator: their bearer token (authenticated just
/// now), the secret, and the recovery codes the confirmation answered. The confirming
/// code is the current step's, so the next step's code is the first to log in with.
async fn enrolled(app: &TestApp, email: &str) -> (String, String, Vec<String>) {
    app.register(email).await;
    let token = app.login(email, PASSWORD).await;
    let (secret, codes) = enroll_totp(app, &token).await;
    (token, secret, codes)
}

/// Sets up and confirms an authenticator app for the holder of `token` (authenticated
/// within the step-up window): the secret and the recovery codes.
pub async fn enroll_totp(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let made = app.post("/v1/auth/mfa/totp", Some(token), json!({})).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    let secret = made["secret"].as_str().unwrap().to_owned();
    let (current, _) = codes_now(&secret);
    let confirmed = app
        .post(
            "/v1/auth/mfa/totp/confirm",
            Some(token),
            json!({"code": current}),
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let confirmed: Value = confirmed.json().await.unwrap();
    let codes = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// Logs in with the password, expecting the second step, and returns its `mfa_token`.
async fn mfa_token(app: &TestApp, email: &str) -> String {
    let response = app.try_login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(body.get("session_token").is_none(), "{body}");
    body["mfa_token"].as_str().unwrap().to_owned()
}

/// `POST /v1/auth/mfa/verify` with `method` and `code`.
async fn verify(app: &TestApp, mfa_token: &str, method: &str, code: &str) -> reqwest::Response {
    let body = json!({"mfa_token": mfa_token, "method": method, "code": code});
    app.post("/v1/auth/mfa/verify", None, body).await
}

/// Runs `sql` (a statement with `$1` as its one parameter) on the app's database with
/// `value`.
async fn execute(app: &TestApp, sql: &str, value: sea_orm::Value) {
    let db = Database::connect(&app.database_url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => sql.replace("$1", "?"),
        _ => sql.to_owned(),
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [value]))
        .await
        .unwrap();
}

/// Moves every session's last authentication back past the 5-minute step-up window.
pub async fn authenticated_long_ago(app: &TestApp) {
    let then = now() - chrono::Duration::minutes(6);
    execute(
        app,
        "UPDATE sessions SET authenticated_at = $1",
        then.into(),
    )
    .await;
}

/// The actions of the audit entries about user `id`'s MFA and logins, oldest first.
async fn actions(app: &TestApp, email: &str) -> Vec<(String, bool)> {
    let user = app.store.users();
    let email = auth_ports::Email::parse(email).unwrap();
    let id = user.find_by_email(&email).await.unwrap().unwrap().id;
    let mut entries = app
        .audit_entries(AuditQuery {
            user_id: Some(id),
            limit: 100,
            ..AuditQuery::default()
        })
        .await;
    entries.reverse();
    entries
        .into_iter()
        .map(|e| e.entry)
        .filter(|e| e.action.starts_with("mfa.") || e.action.starts_with("auth."))
        .map(|e| (e.action, e.success))
        .collect()
}

async fn enrolling_totp_turns_mfa_on_and_a_login_then_needs_a_code(app: &MfaApp) {
    app.register("ada@example.com").await;
    let token = app.login("ada@example.com", PASSWORD).await;
    let made = app.post("/v1/auth/mfa/totp", Some(&token), json!({})).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    let secret = made["secret"].as_str().unwrap();
    let uri = made["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    // Pending: logins do not ask for it yet.
    let listed = app.get_json("/v1/auth/mfa", &token).await;
    assert_eq!(listed["methods"], json!([]));
    assert_eq!(listed["totp"]["confirmed"], false);
    let wrong = app
        .post(
            "/v1/auth/mfa/totp/confirm",
            Some(&token),
            json!({"code": "000000"}),
        )
        .await;
    expect_invalid(wrong, "code", "a wrong confirmation code").await;
    let (current, next) = codes_now(secret);
    let confirmed = app
        .post(
            "/v1/auth/mfa/totp/confirm",
            Some(&token),
            json!({"code": current}),
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let confirmed: Value = confirmed.json().await.unwrap();
    assert_eq!(confirmed["recovery_codes"].as_array().unwrap().len(), 10);
    let listed = app.get_json("/v1/auth/mfa", &token).await;
    assert_eq!(listed["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(listed["recovery_codes_left"], 10);
    assert!(
        !listed.to_string().contains(secret),
        "the secret is shown once"
    );

    let mfa_token = mfa_token(app, "ada@example.com").await;
    let signed_in = verify(app, &mfa_token, "totp", &next).await;

    assert_eq!(signed_in.status(), StatusCode::OK);
    let body: Value = signed_in.json().await.unwrap();
    let session = body["session_token"].as_str().unwrap();
    assert_eq!(body["user"]["email"], "ada@example.com");
    let sessions = app.get_json("/v1/auth/sessions", session).await;
    let current = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap();
    assert_eq!(current["auth_methods"], json!(["password", "totp"]));
    let trail = actions(app, "ada@example.com").await;
    let tail: Vec<_> = trail.iter().rev().take(3).rev().cloned().collect();
    assert_eq!(
        tail,
        [
            ("auth.login".to_owned(), false),
            ("mfa.verify".to_owned(), true),
            ("auth.login".to_owned(), true),
        ],
        "{trail:?}"
    );
    assert!(
        trail.contains(&("mfa.enroll".to_owned(), true)),
        "{trail:?}"
    );
}

async fn a_code_works_once(app: &MfaApp) {
    let (_, secret, _) = enrolled(app, "bob@example.com").await;
    let (_, next) = codes_now(&secret);
    let first = mfa_token(app, "bob@example.com").await;
    assert_eq!(
        verify(app, &first, "totp", &next).await.status(),
        StatusCode::OK
    );

    let second = mfa_token(app, "bob@example.com").await;
    let replayed = verify(app, &second, "totp", &next).await;

    expect_error(replayed, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    // The spent mfa_token is spent too.
    let again = verify(app, &first, "totp", &next).await;
    expect_error(again, StatusCode::BAD_REQUEST, "invalid_token").await;
}

async fn wrong_codes_count_towards_the_lockout(app: &MfaApp) {
    let (_, secret, _) = enrolled(app, "carol@example.com").await;
    let mfa_token = mfa_token(app, "carol@example.com").await;
    for _ in 0..2 {
        let wrong = verify(app, &mfa_token, "totp", "000000").await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // The third failure locks (LOCKOUT_THRESHOLD=3), still answering 401.
    let third = verify(app, &mfa_token, "totp", "000000").await;
    expect_error(third, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    let (_, next) = codes_now(&secret);
    let right_but_locked = verify(app, &mfa_token, "totp", &next).await;
    expect_error(right_but_locked, StatusCode::LOCKED, "account_locked").await;
    let password = app.try_login("carol@example.com", PASSWORD).await;
    expect_error(password, StatusCode::LOCKED, "account_locked").await;
    let trail = actions(app, "carol@example.com").await;
    assert!(
        trail.contains(&("auth.lockout".to_owned(), true)),
        "{trail:?}"
    );
    let failed = trail
        .iter()
        .filter(|(action, ok)| action == "mfa.verify" && !ok)
        .count();
    assert_eq!(failed, 4, "three wrong codes and one refused while locked");
}

async fn a_challenge_dies_after_five_wrong_codes(app: &MfaApp) {
    let (_, secret, _) = enrolled(app, "dan@example.com").await;
    let mfa_token = mfa_token(app, "dan@example.com").await;
    for _ in 0..2 {
        let wrong = verify(app, &mfa_token, "totp", "000000").await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // Unlock between rounds, so the challenge's own limit is what ends it.
    app.store
        .users()
        .unlock(
            user_id(app, "dan@example.com").await,
            auth_testing::unaudited(),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        let wrong = verify(app, &mfa_token, "totp", "000000").await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    app.store
        .users()
        .unlock(
            user_id(app, "dan@example.com").await,
            auth_testing::unaudited(),
        )
        .await
        .unwrap();

    let (_, next) = codes_now(&secret);
    let right = verify(app, &mfa_token, "totp", &next).await;

    expect_error(right, StatusCode::BAD_REQUEST, "invalid_token").await;
}

async fn user_id(app: &TestApp, email: &str) -> auth_ports::UserId {
    let email = auth_ports::Email::parse(email).unwrap();
    let users = app.store.users();
    users.find_by_email(&email).await.unwrap().unwrap().id
}

async fn an_expired_mfa_token_is_refused(app: &MfaApp) {
    let (_, secret, _) = enrolled(app, "erin@example.com").await;
    let mfa_token = mfa_token(app, "erin@example.com").await;
    let past = now() - chrono::Duration::seconds(1);
    execute(
        app,
        "UPDATE auth_challenges SET expires_at = $1",
        past.into(),
    )
    .await;
    let (_, next) = codes_now(&secret);

    let late = verify(app, &mfa_token, "totp", &next).await;

    expect_error(late, StatusCode::BAD_REQUEST, "invalid_token").await;
    let unknown = verify(app, "no-such-token", "totp", &next).await;
    expect_error(unknown, StatusCode::BAD_REQUEST, "invalid_token").await;
}

async fn a_recovery_code_works_once_and_a_new_set_replaces_the_old(app: &MfaApp) {
    let (_, _, codes) = enrolled(app, "fay@example.com").await;
    let first = mfa_token(app, "fay@example.com").await;
    // Typed with capitals and spaces, as a user might.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let signed_in = verify(app, &first, "recovery_code", &typed).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let session: Value = signed_in.json().await.unwrap();
    let session = session["session_token"].as_str().unwrap().to_owned();
    let listed = app.get_json("/v1/auth/mfa", &session).await;
    assert_eq!(listed["recovery_codes_left"], 9);

    let second = mfa_token(app, "fay@example.com").await;
    let reused = verify(app, &second, "recovery_code", &codes[0]).await;
    expect_error(reused, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    let renewed = app
        .post("/v1/auth/mfa/recovery-codes", Some(&session), json!({}))
        .await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.unwrap();
    let fresh = renewed["recovery_codes"][0].as_str().unwrap().to_owned();
    let third = mfa_token(app, "fay@example.com").await;
    let old = verify(app, &third, "recovery_code", &codes[1]).await;
    expect_error(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let new = verify(app, &third, "recovery_code", &fresh).await;
    assert_eq!(new.status(), StatusCode::OK);
    let trail = actions(app, "fay@example.com").await;
    assert!(trail.contains(&("mfa.recovery_used".to_owned(), true)));
}

async fn sensitive_changes_need_a_recent_authentication(app: &MfaApp) {
    app.register("gus@example.com").await;
    let token = app.login("gus@example.com", PASSWORD).await;
    let other = app.login("gus@example.com", PASSWORD).await;
    authenticated_long_ago(app).await;
    let other_id = app.get_json("/v1/auth/sessions", &other).await["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_password =
        json!({"current_password": PASSWORD, "new_password": "another long passphrase"});
    let refusals = [
        (
            Method::POST,
            "/v1/auth/password".to_owned(),
            Some(new_password.clone()),
        ),
        (Method::POST, "/v1/auth/logout-all".to_owned(), None),
        (
            Method::DELETE,
            format!("/v1/auth/sessions/{other_id}"),
            None,
        ),
        (Method::POST, "/v1/auth/mfa/totp".to_owned(), None),
        (
            Method::POST,
            "/v1/auth/mfa/passkeys/register".to_owned(),
            None,
        ),
    ];
    for (method, path, body) in &refusals {
        let refused = app.send(method.clone(), path, &token, body.clone()).await;
        let context = format!("{method} {path}");
        let body = expect_error(refused, StatusCode::FORBIDDEN, "reauthentication_required").await;
        assert!(body["error"]["message"].is_string(), "{context}");
    }
    // Nothing changed: both sessions live, the password is the old one.
    assert_eq!(
        app.get("/v1/auth/me", &other).await.status(),
        StatusCode::OK
    );
    // Reading and ending one's own session need no step-up.
    assert_eq!(
        app.get("/v1/auth/mfa", &token).await.status(),
        StatusCode::OK
    );

    let wrong = app
        .post(
            "/v1/auth/reauthenticate",
            Some(&token),
            json!({"password": "not the password at all"}),
        )
        .await;
    expect_error(wrong, StatusCode::FORBIDDEN, "invalid_credentials").await;
    let stepped = app
        .post(
            "/v1/auth/reauthenticate",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(stepped.status(), StatusCode::OK);
    let stepped: Value = stepped.json().await.unwrap();
    assert_eq!(stepped["auth_methods"], json!(["password"]));

    let changed = app
        .send(
            Method::POST,
            "/v1/auth/password",
            &token,
            Some(new_password),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let trail = actions(app, "gus@example.com").await;
    assert!(trail.contains(&("auth.reauthenticate".to_owned(), false)));
    assert!(trail.contains(&("auth.reauthenticate".to_owned(), true)));
}

async fn an_account_with_mfa_steps_up_with_a_second_factor_only(app: &MfaApp) {
    let (token, secret, codes) = enrolled(app, "hal@example.com").await;
    authenticated_long_ago(app).await;
    let by_password = app
        .post(
            "/v1/auth/reauthenticate",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await;
    expect_invalid(by_password, "method", "a password step-up with MFA on").await;
    let (_, next) = codes_now(&secret);
    let by_code = app
        .post(
            "/v1/auth/reauthenticate",
            Some(&token),
            json!({"method": "totp", "code": next}),
        )
        .await;
    assert_eq!(by_code.status(), StatusCode::OK);
    let renewed = app
        .post("/v1/auth/mfa/recovery-codes", Some(&token), json!({}))
        .await;
    assert_eq!(renewed.status(), StatusCode::OK);
    // A recovery code steps up too (from the set just made; the old set is gone).
    authenticated_long_ago(app).await;
    let old = app
        .post(
            "/v1/auth/reauthenticate",
            Some(&token),
            json!({"method": "recovery_code", "code": codes[0]}),
        )
        .await;
    expect_error(old, StatusCode::FORBIDDEN, "invalid_credentials").await;
}

async fn removing_the_last_factor_turns_mfa_off(app: &MfaApp) {
    let (token, _, _) = enrolled(app, "ivy@example.com").await;
    authenticated_long_ago(app).await;
    let stale = app
        .send(Method::DELETE, "/v1/auth/mfa/totp", &token, None)
        .await;
    expect_error(stale, StatusCode::FORBIDDEN, "reauthentication_required").await;
    execute(
        app,
        "UPDATE sessions SET authenticated_at = $1",
        now().into(),
    )
    .await;

    let removed = app
        .send(Method::DELETE, "/v1/auth/mfa/totp", &token, None)
        .await;

    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let listed = app.get_json("/v1/auth/mfa", &token).await;
    assert_eq!(listed["methods"], json!([]));
    assert_eq!(listed["recovery_codes_left"], 0);
    assert!(listed["totp"].is_null());
    let login = app.try_login("ivy@example.com", PASSWORD).await;
    let login: Value = login.json().await.unwrap();
    assert!(login["session_token"].is_string(), "{login}");
    let again = app
        .send(Method::DELETE, "/v1/auth/mfa/totp", &token, None)
        .await;
    expect_error(again, StatusCode::NOT_FOUND, "not_found").await;
    let trail = actions(app, "ivy@example.com").await;
    assert!(trail.contains(&("mfa.disable".to_owned(), true)));
}

async fn an_operator_sees_and_resets_a_users_factors(app: &MfaApp) {
    let (_, secret, _) = enrolled(app, "jo@example.com").await;
    let id = user_id(app, "jo@example.com").await;
    let (_, admin) = app.login_with_role("admin@example.com", "admin").await;
    let (_, moderator) = app.login_with_role("mod@example.com", "moderator").await;
    let path = format!("/v1/admin/users/{id}/mfa");

    let seen = app.get_json(&path, &admin).await;
    assert_eq!(seen["methods"], json!(["totp", "recovery_code"]));
    assert!(!seen.to_string().contains(&secret));
    let unknown = format!("/v1/admin/users/{}/mfa", uuid::Uuid::new_v4());
    expect_error(
        app.get(&unknown, &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // The moderator reads users but may not change them.
    assert_eq!(app.get(&path, &moderator).await.status(), StatusCode::OK);
    let by_moderator = app.send(Method::DELETE, &path, &moderator, None).await;
    expect_error(by_moderator, StatusCode::FORBIDDEN, "forbidden").await;

    let reset = app.send(Method::DELETE, &path, &admin, None).await;

    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_json(&path, &admin).await["methods"], json!([]));
    let login = app.try_login("jo@example.com", PASSWORD).await;
    let login: Value = login.json().await.unwrap();
    assert!(login["session_token"].is_string(), "{login}");
    let entries = app
        .audit_entries(AuditQuery {
            action: Some("mfa.reset".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].entry.resource_id.as_deref(),
        Some(id.to_string().as_str())
    );
    assert_eq!(entries[0].entry.details["removed"], true);
}

async fn the_second_step_can_open_a_cookie_session(app: &MfaApp) {
    let (_, secret, _) = enrolled(app, "kim@example.com").await;
    let mfa_token = mfa_token(app, "kim@example.com").await;
    let (_, next) = codes_now(&secret);
    let body = json!({"mfa_token": mfa_token, "method": "totp", "code": next, "cookie": true});

    let response = app
        .client
        .post(app.url("/v1/auth/mfa/verify"))
        // A page of authd's own origin, as the browser says without an `Origin`.
        .header("sec-fetch-site", "same-origin")
        .json(&body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let cookies: Vec<_> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("authd_session=") && c.contains("HttpOnly"))
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Cookie");
    assert!(body.get("session_token").is_none());
}

async fn totp_needs_the_sealing_key(app: &PlainApp) {
    app.register("lee@example.com").await;
    let token = app.login("lee@example.com", PASSWORD).await;

    let refused = app.post("/v1/auth/mfa/totp", Some(&token), json!({})).await;

    expect_error(refused, StatusCode::NOT_IMPLEMENTED, "not_configured").await;
}
