//! Sign-in with an OpenID provider and linked accounts (SPEC.md section 4.3), against a
//! real provider: the certified `oidc-provider` package (`oidc_provider.rs`), driven
//! through its login and consent pages like a browser. Each test gets its own provider
//! and its own authd, whose public URL is its own address so the provider's redirects
//! reach it.

use crate::oidc_provider::{Consent, OidcProvider, browser, sign_in};
use crate::server::{PASSWORD, TestApp, expect_error, now};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use auth_ports::{AuditQuery, Email, UserId, UserRepository as _};
use auth_testing::{TestDatabase, unaudited};
use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::Value;
use std::collections::HashMap;
use url::Url;

auth_testing::on_both_backends!(
    crate::oauth::OAuthApp;
    a_first_sign_in_creates_a_user_with_the_user_role_and_links_it,
    signing_in_again_is_the_same_user,
    a_provider_verified_email_links_the_existing_account,
    an_unverified_provider_email_of_an_existing_account_is_email_taken,
    a_verified_email_of_an_unverified_account_is_email_taken,
    a_forged_replayed_or_foreign_state_is_invalid_state,
    id_tokens_that_do_not_verify_are_refused,
    a_provider_error_redirect_is_oauth_failed,
    a_refused_code_exchange_is_oauth_failed,
    keys_rotated_at_the_provider_are_fetched_again,
    a_signed_in_user_links_and_unlinks_a_provider,
    the_last_way_to_log_in_cannot_be_unlinked,
    a_suspended_user_cannot_sign_in_with_a_provider,
    an_unknown_provider_is_not_found,
    provider_tokens_are_not_kept_without_a_key,
    a_flow_begun_on_one_instance_finishes_on_another,
    a_link_begun_by_someone_else_does_not_complete_silently,
    a_link_begun_in_a_session_revoked_since_links_nothing,
);

/// The tests with `OAUTH_TOKEN_KEY` set.
mod sealed {
    pub(super) use super::provider_tokens_are_kept_sealed_with_the_key;

    auth_testing::on_both_backends!(
        crate::oauth::SealingApp;
        provider_tokens_are_kept_sealed_with_the_key,
    );
}

/// The tests of browser logins that return to an app's page.
mod to_the_app {
    pub(super) use super::{
        a_browser_link_returns_to_the_app,
        a_browser_sign_in_returns_to_the_app_signed_in_by_cookie,
        a_failed_browser_sign_in_returns_to_the_app_with_its_error,
        only_trusted_pages_are_returned_to,
    };

    auth_testing::on_both_backends!(
        crate::oauth::AppOAuthApp;
        a_browser_sign_in_returns_to_the_app_signed_in_by_cookie,
        a_failed_browser_sign_in_returns_to_the_app_with_its_error,
        only_trusted_pages_are_returned_to,
        a_browser_link_returns_to_the_app,
    );
}

/// The app of [`AppOAuthApp`].
const APP_PAGE: &str = "https://app.example.com/welcome?tab=1";

/// Every client the test provider registers: the well-behaved `idp` and one per defect.
const CLIENTS: [&str; 8] = [
    "idp",
    "wrongaud",
    "wrongiss",
    "expired",
    "badsig",
    "wrongnonce",
    "algnone",
    "hs256",
];

/// The clients whose ID tokens authd must refuse (see provider.mjs), and the check that
/// refuses each, as the audit entry's `cause` names it.
const REFUSED: [(&str, &str); 7] = [
    ("wrongaud", "Invalid audiences"),
    ("wrongiss", "Invalid issuer"),
    ("expired", "Expired"),
    ("badsig", "Crypto error: bad signature"),
    ("wrongnonce", "Invalid nonce"),
    ("algnone", "No signature found"),
    ("hs256", "Disallowed signature algorithm: algorithm `HS256`"),
];

/// `OAUTH_TOKEN_KEY` of [`SealingApp`].
const TOKEN_KEY: [u8; 32] = [42; 32];

/// authd configured with every client of its own test provider; `provider` is `None`
/// when the provider is not installed (the tests then say they are skipped).
pub struct OAuthApp {
    app: TestApp,
    pub provider: Option<OidcProvider>,
    database: TestDatabase,
    /// The configuration `app` was started with, for a second instance.
    vars: Vec<(String, String)>,
}

impl std::ops::Deref for OAuthApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl OAuthApp {
    pub async fn open(database: TestDatabase) -> Self {
        Self::open_with(database, &[]).await
    }

    pub async fn open_with(database: TestDatabase, extra: &[(&str, &str)]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let provider = OidcProvider::start(&base).await;
        let mut vars: Vec<(String, String)> = vec![("AUTHD_PUBLIC_URL".into(), base)];
        if let Some(provider) = &provider {
            vars.push(("OAUTH_PROVIDERS".into(), CLIENTS.join(",")));
            for client in CLIENTS {
                let prefix = format!("OAUTH_{}_", client.to_uppercase());
                vars.push((format!("{prefix}ISSUER"), provider.issuer.clone()));
                vars.push((format!("{prefix}CLIENT_ID"), client.to_owned()));
                let secret = OidcProvider::client_secret(client);
                vars.push((format!("{prefix}CLIENT_SECRET"), secret));
            }
        }
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let prefix = uuid::Uuid::new_v4().to_string();
        let app = TestApp::serve(listener, database.url(), &borrowed(&vars), &prefix).await;
        Self {
            app,
            provider,
            database,
            vars,
        }
    }

    /// Another instance on the same database with the same configuration, as behind a
    /// load balancer (its public URL is the first one's).
    async fn second_instance(&self) -> TestApp {
        let prefix = uuid::Uuid::new_v4().to_string();
        TestApp::start(self.database.url(), &borrowed(&self.vars), &prefix).await
    }

    /// Opens `/v1/oauth/{provider}/authorize` in `browser`: the provider's URL it
    /// redirects to (the flow cookie is now in the browser).
    async fn authorize(&self, browser: &reqwest::Client, provider: &str) -> String {
        let response = browser
            .get(self.url(&format!("/v1/oauth/{provider}/authorize")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        assert!(
            response.headers()[SET_COOKIE]
                .to_str()
                .unwrap()
                .contains("HttpOnly"),
            "the flow cookie is HttpOnly"
        );
        response.headers()[LOCATION].to_str().unwrap().to_owned()
    }

    /// The callback URL the provider sends `login` back to after a login flow at
    /// `provider`, in `browser`.
    async fn callback_url(
        &self,
        browser: &reqwest::Client,
        provider: &str,
        login: &str,
        consent: Consent,
    ) -> String {
        let authorization_url = self.authorize(browser, provider).await;
        sign_in(browser, &authorization_url, login, consent).await
    }

    /// A whole login flow at `provider` as `login`, in a fresh browser: authd's answer to
    /// the callback.
    pub async fn sign_in_with(&self, provider: &str, login: &str) -> reqwest::Response {
        self.sign_in_in_browser(&browser(), provider, login).await
    }

    async fn sign_in_in_browser(
        &self,
        browser: &reqwest::Client,
        provider: &str,
        login: &str,
    ) -> reqwest::Response {
        let callback = self
            .callback_url(browser, provider, login, Consent::Allow)
            .await;
        browser.get(callback).send().await.unwrap()
    }

    /// `POST /v1/auth/oauth/idp/link` as the holder of `token`: the authorization URL.
    async fn begin_link(&self, token: &str) -> String {
        let response = self
            .post("/v1/auth/oauth/idp/link", Some(token), Value::Null)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["authorization_url"].as_str().unwrap().to_owned()
    }

    /// Signs `login` in at `idp`: the answer's body, after checking it is 200.
    pub async fn signed_in(&self, login: &str) -> Value {
        let response = self.sign_in_with("idp", login).await;
        assert_eq!(response.status(), StatusCode::OK, "sign-in of {login}");
        response.json().await.unwrap()
    }

    /// The user with `email`, if any.
    async fn user_of(&self, email: &str) -> Option<UserId> {
        let email = Email::parse(email).unwrap();
        let user = self.store.users().find_by_email(&email).await.unwrap();
        user.map(|user| user.id)
    }

    async fn actions_on(&self, user: UserId) -> Vec<String> {
        let mut actions: Vec<String> = self
            .audit_entries(AuditQuery {
                resource_id: Some(user.to_string()),
                limit: 200,
                ..AuditQuery::default()
            })
            .await
            .into_iter()
            .map(|entry| entry.entry.action)
            .collect();
        actions.sort();
        actions
    }
}

/// [`OAuthApp`] with `OAUTH_TOKEN_KEY` set.
pub struct SealingApp(OAuthApp);

impl SealingApp {
    pub async fn open(database: TestDatabase) -> Self {
        let key = base64::engine::general_purpose::STANDARD.encode(TOKEN_KEY);
        Self(OAuthApp::open_with(database, &[("OAUTH_TOKEN_KEY", &key)]).await)
    }
}

impl std::ops::Deref for SealingApp {
    type Target = OAuthApp;

    fn deref(&self) -> &OAuthApp {
        &self.0
    }
}

/// [`OAuthApp`] with `https://app.example.com` in `CORS_ALLOWED_ORIGINS`.
pub struct AppOAuthApp(OAuthApp);

impl AppOAuthApp {
    pub async fn open(database: TestDatabase) -> Self {
        let app = OAuthApp::open_with(
            database,
            &[("CORS_ALLOWED_ORIGINS", "https://app.example.com")],
        );
        Self(app.await)
    }

    /// Begins a login in `browser` that returns to `return_to`: authd's answer.
    async fn authorize_returning(
        &self,
        browser: &reqwest::Client,
        return_to: &str,
    ) -> reqwest::Response {
        browser
            .get(self.url("/v1/oauth/idp/authorize"))
            .query(&[("return_to", return_to)])
            .send()
            .await
            .unwrap()
    }

    /// A login that returns to [`APP_PAGE`], answered at the provider by `login` with
    /// `consent`, in `browser`: the callback URL it comes back with.
    async fn callback_returning(
        &self,
        browser: &reqwest::Client,
        login: &str,
        consent: Consent,
    ) -> String {
        let begun = self.authorize_returning(browser, APP_PAGE).await;
        assert_eq!(begun.status(), StatusCode::FOUND);
        let authorization_url = begun.headers()[LOCATION].to_str().unwrap().to_owned();
        sign_in(browser, &authorization_url, login, consent).await
    }
}

impl std::ops::Deref for AppOAuthApp {
    type Target = OAuthApp;

    fn deref(&self) -> &OAuthApp {
        &self.0
    }
}

fn borrowed(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The query of `url` as a map.
fn query(url: &str) -> HashMap<String, String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// `url` with the query parameter `name` set to `value`.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut url = Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == name {
                (k, value.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.into()
}

async fn a_first_sign_in_creates_a_user_with_the_user_role_and_links_it(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let body = app.signed_in("ada@example.com").await;

    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(
        body["user"]["email_verified"], true,
        "the provider verified it"
    );
    assert_eq!(body["user"]["first_name"], "Ada");
    let token = body["session_token"].as_str().unwrap();
    let me = app.get_json("/v1/auth/me", token).await;
    assert_eq!(me["roles"], serde_json::json!(["user"]));
    let accounts = app.get_json("/v1/auth/oauth", token).await;
    assert_eq!(accounts["accounts"][0]["provider"], "idp");
    assert_eq!(accounts["accounts"][0]["provider_email"], "ada@example.com");
    assert_eq!(accounts["accounts"].as_array().unwrap().len(), 1);
    // No password: a password login is refused like a wrong password.
    let refused = app.try_login("ada@example.com", PASSWORD).await;
    expect_error(refused, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let user = app.user_of("ada@example.com").await.unwrap();
    let actions = app.actions_on(user).await;
    for action in ["user.register", "oauth.link", "auth.login"] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action}: {actions:?}"
        );
    }
}

async fn signing_in_again_is_the_same_user(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let first = app.signed_in("grace@example.com").await;
    let second = app.signed_in("grace@example.com").await;

    assert_eq!(first["user"]["id"], second["user"]["id"]);
    assert_ne!(first["session_token"], second["session_token"]);
    let user = app.user_of("grace@example.com").await.unwrap();
    let actions = app.actions_on(user).await;
    let registered = actions.iter().filter(|a| *a == "user.register").count();
    assert_eq!(registered, 1, "{actions:?}");
}

async fn a_provider_verified_email_links_the_existing_account(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let id = app.register("linus@example.com").await;
    let user = UserId(id.parse().unwrap());
    app.store
        .users()
        .mark_email_verified(user, now(), unaudited())
        .await
        .unwrap();

    let body = app.signed_in("linus@example.com").await;

    assert_eq!(body["user"]["id"], id.as_str());
    let token = body["session_token"].as_str().unwrap();
    let accounts = app.get_json("/v1/auth/oauth", token).await;
    assert_eq!(accounts["accounts"][0]["provider"], "idp");
    // The password still works.
    app.login("linus@example.com", PASSWORD).await;
}

/// Pre-registration: whoever registered the address at authd never proved the mailbox,
/// so the provider's word is not enough to hand the account to its sign-in.
async fn a_verified_email_of_an_unverified_account_is_email_taken(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let email = "kim@example.com";
    app.register(email).await;

    let response = app.sign_in_with("idp", email).await;

    expect_error(response, StatusCode::CONFLICT, "email_taken").await;
    let token = app.login(email, PASSWORD).await;
    let accounts = app.get_json("/v1/auth/oauth", &token).await;
    assert_eq!(
        accounts["accounts"],
        serde_json::json!([]),
        "nothing linked"
    );
    let me = app.get_json("/v1/auth/me", &token).await;
    assert_eq!(me["user"]["email_verified"], false, "not marked verified");
}

async fn an_unverified_provider_email_of_an_existing_account_is_email_taken(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    // The test provider vouches for no email whose login starts with `unverified`.
    let email = "unverified.mallory@example.com";
    let owner = app.register(email).await;

    let response = app.sign_in_with("idp", email).await;

    expect_error(response, StatusCode::CONFLICT, "email_taken").await;
    let token = app.login(email, PASSWORD).await;
    let accounts = app.get_json("/v1/auth/oauth", &token).await;
    assert_eq!(
        accounts["accounts"],
        serde_json::json!([]),
        "nothing linked"
    );
    assert_eq!(
        app.user_of(email).await.unwrap().to_string(),
        owner,
        "no second user"
    );
}

async fn a_forged_replayed_or_foreign_state_is_invalid_state(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    // Forged: a state authd never issued, in a browser with a real flow cookie.
    let browser = browser();
    let callback = app
        .callback_url(&browser, "idp", "eve@example.com", Consent::Allow)
        .await;
    let forged = with_param(&callback, "state", "forged-state");
    let response = browser.get(forged).send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_state").await;

    // Replayed: the real callback works once, then never again.
    let browser = browser_with_flow(app, "eve@example.com").await;
    let response = browser.0.get(&browser.1).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let replayed = browser.0.get(&browser.1).send().await.unwrap();
    expect_error(replayed, StatusCode::BAD_REQUEST, "invalid_state").await;

    // Foreign: the victim's browser never began this login (no flow cookie), so an
    // attacker cannot make it finish the attacker's sign-in.
    let (_, attackers_callback) = browser_with_flow(app, "eve@example.com").await;
    let victim = crate::oidc_provider::browser();
    let response = victim.get(&attackers_callback).send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_state").await;

    // A callback for another provider than the flow's.
    let (browser, callback) = browser_with_flow(app, "eve@example.com").await;
    let elsewhere = callback.replace("/v1/oauth/idp/", "/v1/oauth/expired/");
    let response = browser.get(elsewhere).send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_state").await;
}

/// A browser that went through a login flow at `idp`, and the callback URL it is sent to.
async fn browser_with_flow(app: &OAuthApp, login: &str) -> (reqwest::Client, String) {
    let browser = browser();
    let callback = app
        .callback_url(&browser, "idp", login, Consent::Allow)
        .await;
    (browser, callback)
}

async fn id_tokens_that_do_not_verify_are_refused(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    // Each fault client's ID token has one defect, injected into the real provider's
    // token response; `hs256` is the provider's own HS256 signing (provider.mjs).
    for (client, _) in REFUSED {
        let email = format!("{client}@example.com");
        let response = app.sign_in_with(client, &email).await;
        expect_error(response, StatusCode::BAD_REQUEST, "oauth_failed").await;
        assert_eq!(app.user_of(&email).await, None, "{client}: no user made");
    }
    let failures = app
        .audit_entries(AuditQuery {
            action: Some("auth.login".into()),
            success: Some(false),
            limit: 200,
            ..AuditQuery::default()
        })
        .await;
    assert_eq!(failures.len(), REFUSED.len());
    for (client, check) in REFUSED {
        let failure = failures
            .iter()
            .find(|failure| failure.entry.details["provider"] == client)
            .unwrap_or_else(|| panic!("{client}: no failed login audited"));
        assert_eq!(failure.entry.details["reason"], "oauth_failed");
        let cause = failure.entry.details["cause"].as_str().unwrap();
        assert!(cause.contains(check), "{client} refused for {cause:?}");
    }
}

async fn a_provider_error_redirect_is_oauth_failed(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let browser = browser();
    let callback = app
        .callback_url(&browser, "idp", "bob@example.com", Consent::Deny)
        .await;
    assert_eq!(query(&callback)["error"], "access_denied");

    let response = browser.get(callback).send().await.unwrap();

    expect_error(response, StatusCode::BAD_REQUEST, "oauth_failed").await;
    assert_eq!(app.user_of("bob@example.com").await, None);
}

async fn a_refused_code_exchange_is_oauth_failed(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let (browser, callback) = browser_with_flow(app, "carol@example.com").await;
    // A code the provider never issued: its token endpoint refuses it (invalid_grant).
    let tampered = with_param(&callback, "code", "not-a-code-the-provider-issued");

    let response = browser.get(tampered).send().await.unwrap();

    expect_error(response, StatusCode::BAD_REQUEST, "oauth_failed").await;
    assert_eq!(app.user_of("carol@example.com").await, None);
}

async fn keys_rotated_at_the_provider_are_fetched_again(app: &OAuthApp) {
    let Some(provider) = &app.provider else {
        return;
    };
    app.signed_in("dora@example.com").await;
    assert_eq!(
        provider.jwks_fetches().await,
        1,
        "fetched once, with discovery"
    );
    app.signed_in("dora@example.com").await;
    assert_eq!(provider.jwks_fetches().await, 1, "the cached keys served");

    provider.rotate_keys().await;
    let body = app.signed_in("dora@example.com").await;

    assert_eq!(body["user"]["email"], "dora@example.com");
    assert_eq!(
        provider.jwks_fetches().await,
        2,
        "an unknown kid fetched the keys again, once"
    );
}

async fn a_signed_in_user_links_and_unlinks_a_provider(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let id = app.register("erin@example.com").await;
    let token = app.login("erin@example.com", PASSWORD).await;
    let authorization_url = &app.begin_link(&token).await;
    assert_eq!(
        query(authorization_url)["prompt"],
        "login",
        "a link never completes silently"
    );

    // The provider account may carry another email: it is linked to the caller.
    let browser = browser();
    let callback = sign_in(
        &browser,
        authorization_url,
        "erin.work@example.com",
        Consent::Allow,
    )
    .await;
    let response = browser.get(callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let linked: Value = response.json().await.unwrap();
    assert_eq!(linked["accounts"][0]["provider"], "idp");
    assert_eq!(
        linked["accounts"][0]["provider_email"],
        "erin.work@example.com"
    );
    let signed_in = app.signed_in("erin.work@example.com").await;
    assert_eq!(
        signed_in["user"]["id"],
        id.as_str(),
        "signs in as the linker"
    );

    let response = app
        .send(reqwest::Method::DELETE, "/v1/auth/oauth/idp", &token, None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let accounts = app.get_json("/v1/auth/oauth", &token).await;
    assert_eq!(accounts["accounts"], serde_json::json!([]));
    let again = app
        .send(reqwest::Method::DELETE, "/v1/auth/oauth/idp", &token, None)
        .await;
    expect_error(again, StatusCode::NOT_FOUND, "not_found").await;
    let actions = app.actions_on(UserId(id.parse().unwrap())).await;
    for action in ["oauth.link", "oauth.unlink"] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action}: {actions:?}"
        );
    }
}

/// The link-flow CSRF: an attacker begins a link to their own account and sends the
/// provider URL, stripped of `prompt` and `max_age`, to a victim who is signed in at the
/// provider. The provider answers silently; authd refuses, because the ID token proves no
/// sign-in made after the link began.
async fn a_link_begun_by_someone_else_does_not_complete_silently(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    // The victim is signed in at the provider (here through a client whose ID tokens
    // authd refuses, so no authd account knows the provider account yet).
    let victim = browser();
    let response = app
        .sign_in_in_browser(&victim, "expired", "victim@example.com")
        .await;
    expect_error(response, StatusCode::BAD_REQUEST, "oauth_failed").await;
    app.register("attacker@example.com").await;
    let attacker = app.login("attacker@example.com", PASSWORD).await;
    let mut url = Url::parse(&app.begin_link(&attacker).await).unwrap();
    assert_eq!(query(url.as_str())["max_age"], "0");
    let stripped: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "prompt" && k != "max_age")
        .collect();
    url.query_pairs_mut().clear().extend_pairs(stripped);

    // The provider's session answers without a login page.
    let callback = sign_in(&victim, url.as_str(), "victim@example.com", Consent::Allow).await;
    let response = victim.get(callback).send().await.unwrap();

    expect_error(response, StatusCode::BAD_REQUEST, "oauth_failed").await;
    let accounts = app.get_json("/v1/auth/oauth", &attacker).await;
    assert_eq!(
        accounts["accounts"],
        serde_json::json!([]),
        "nothing linked"
    );
    // The same link, unaltered, makes the provider ask, and then it links.
    let url = &app.begin_link(&attacker).await;
    let own = browser();
    let callback = sign_in(&own, url, "attacker.idp@example.com", Consent::Allow).await;
    assert_eq!(
        own.get(callback).send().await.unwrap().status(),
        StatusCode::OK
    );
}

/// A thief of a session begins a link to the provider account they hold; the owner logs
/// out everywhere before the thief finishes at the provider: the flow went with the
/// session, and nothing is linked.
async fn a_link_begun_in_a_session_revoked_since_links_nothing(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let id = app.register("grace@example.com").await;
    let stolen = app.login("grace@example.com", PASSWORD).await;
    let authorization_url = app.begin_link(&stolen).await;
    let response = app
        .post("/v1/auth/logout-all", Some(&stolen), serde_json::json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let thief = browser();
    let callback = sign_in(
        &thief,
        &authorization_url,
        "thief@example.com",
        Consent::Allow,
    )
    .await;
    let response = thief.get(callback).send().await.unwrap();

    expect_error(response, StatusCode::BAD_REQUEST, "invalid_state").await;
    let token = app.login("grace@example.com", PASSWORD).await;
    let accounts = app.get_json("/v1/auth/oauth", &token).await;
    assert_eq!(
        accounts["accounts"],
        serde_json::json!([]),
        "nothing linked"
    );
    let refused = app
        .audit_entries(AuditQuery {
            action: Some("oauth.link".into()),
            resource_id: Some(id.clone()),
            limit: 200,
            ..AuditQuery::default()
        })
        .await;
    assert_eq!(refused.len(), 1, "one entry, the refusal");
    assert!(!refused[0].entry.success);
    assert_eq!(refused[0].entry.details["reason"], "invalid_state");
}

async fn the_last_way_to_log_in_cannot_be_unlinked(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let body = app.signed_in("frank@example.com").await;
    let token = body["session_token"].as_str().unwrap();

    let response = app
        .send(reqwest::Method::DELETE, "/v1/auth/oauth/idp", token, None)
        .await;

    expect_error(response, StatusCode::CONFLICT, "last_login_method").await;
    let accounts = app.get_json("/v1/auth/oauth", token).await;
    assert_eq!(accounts["accounts"][0]["provider"], "idp", "still linked");
}

async fn a_suspended_user_cannot_sign_in_with_a_provider(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let body = app.signed_in("gina@example.com").await;
    let id = body["user"]["id"].as_str().unwrap().to_owned();
    let (_, admin) = app.login_with_role("admin@example.com", "admin").await;
    let suspended = app
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/admin/users/{id}"),
            &admin,
            Some(serde_json::json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(suspended.status(), StatusCode::OK);

    let response = app.sign_in_with("idp", "gina@example.com").await;

    expect_error(response, StatusCode::FORBIDDEN, "account_disabled").await;
}

async fn an_unknown_provider_is_not_found(app: &OAuthApp) {
    let authorize = app.get_anonymously("/v1/oauth/nowhere/authorize").await;
    expect_error(authorize, StatusCode::NOT_FOUND, "not_found").await;
    let callback = app
        .get_anonymously("/v1/oauth/nowhere/callback?code=x&state=y")
        .await;
    expect_error(callback, StatusCode::NOT_FOUND, "not_found").await;
}

async fn a_flow_begun_on_one_instance_finishes_on_another(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let other = app.second_instance().await;
    let (browser, callback) = browser_with_flow(app, "judy@example.com").await;
    // The load balancer sends the callback to the other instance.
    let elsewhere = callback.replace(&app.base, &other.base);
    assert_ne!(elsewhere, callback);

    let response = browser.get(elsewhere).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "judy@example.com");
    // And the flow is spent on both.
    let replayed = browser.get(&callback).send().await.unwrap();
    expect_error(replayed, StatusCode::BAD_REQUEST, "invalid_state").await;
}

/// The stored ciphertexts of the one linked account: (access, refresh).
async fn stored_tokens(app: &OAuthApp) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let db = Database::connect(app.database.url()).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT access_token, refresh_token FROM oauth_accounts",
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get("", "access_token").unwrap(),
        row.try_get("", "refresh_token").unwrap(),
    )
}

async fn provider_tokens_are_not_kept_without_a_key(app: &OAuthApp) {
    if app.provider.is_none() {
        return;
    }
    app.signed_in("hank@example.com").await;

    assert_eq!(stored_tokens(app).await, (None, None));
}

async fn provider_tokens_are_kept_sealed_with_the_key(app: &SealingApp) {
    let Some(provider) = &app.provider else {
        return;
    };
    app.signed_in("iris@example.com").await;

    let (access, _) = stored_tokens(app).await;
    let sealed = access.expect("the access token is kept");
    let (nonce, ciphertext) = sealed.split_at(12);
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(TOKEN_KEY));
    let aad = b"authd-oauth-token-v1|access|idp|iris@example.com";
    let nonce = Nonce::from(<[u8; 12]>::try_from(nonce).unwrap());
    let plain = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .expect("sealed with OAUTH_TOKEN_KEY for this account");
    let access_token = String::from_utf8(plain).unwrap();
    // It is the provider's real token: its userinfo endpoint answers for it.
    let userinfo = provider.userinfo(&access_token).await;
    assert_eq!(userinfo["sub"], "iris@example.com");
}

async fn a_browser_sign_in_returns_to_the_app_signed_in_by_cookie(app: &AppOAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let browser = browser();
    let callback = app
        .callback_returning(&browser, "ada@example.com", Consent::Allow)
        .await;

    let response = browser.get(callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], APP_PAGE);
    let cookies: Vec<&str> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("authd_session=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("authd_csrf=")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("authd_oauth=;")),
        "flow cookie spent"
    );
    // The browser is signed in by its cookie now.
    let me = browser.get(app.url("/v1/auth/me")).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"]["email"], "ada@example.com");
}

async fn a_failed_browser_sign_in_returns_to_the_app_with_its_error(app: &AppOAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let browser = browser();
    let callback = app
        .callback_returning(&browser, "bob@example.com", Consent::Deny)
        .await;

    let response = browser.get(callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(location, format!("{APP_PAGE}&error=oauth_failed"));
    assert!(
        response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("authd_session=")),
        "no session"
    );
    assert_eq!(app.user_of("bob@example.com").await, None);
}

async fn only_trusted_pages_are_returned_to(app: &AppOAuthApp) {
    if app.provider.is_none() {
        return;
    }
    let browser = browser();
    for foreign in [
        "https://evil.example.com/",
        "//evil.example.com/",
        "/relative",
        "javascript:alert(1)",
        "https://app.example.com.evil.example/",
    ] {
        let response = app.authorize_returning(&browser, foreign).await;
        assert!(response.headers().get(SET_COOKIE).is_none(), "{foreign}");
        crate::server::expect_invalid(response, "return_to", foreign).await;
    }
    // authd's own pages are trusted too.
    let own = app.url("/verify-email");
    let response = app.authorize_returning(&browser, &own).await;
    assert_eq!(response.status(), StatusCode::FOUND);
}

async fn a_browser_link_returns_to_the_app(app: &AppOAuthApp) {
    if app.provider.is_none() {
        return;
    }
    app.register("erin@example.com").await;
    // The app's page: signed in by cookie, the browser keeps the cookies.
    let browser = browser();
    let login = browser
        .post(app.url("/v1/auth/login"))
        .json(
            &serde_json::json!({"email": "erin@example.com", "password": PASSWORD, "cookie": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let csrf = login.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = browser
        .post(app.url("/v1/auth/oauth/idp/link"))
        .query(&[("return_to", "https://evil.example.com/")])
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    crate::server::expect_invalid(foreign, "return_to", "foreign return_to").await;
    let begun = browser
        .post(app.url("/v1/auth/oauth/idp/link"))
        .query(&[("return_to", APP_PAGE)])
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(begun.status(), StatusCode::OK);
    assert!(
        begun.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("authd_oauth=")
    );
    let authorization_url = begun.json::<Value>().await.unwrap()["authorization_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let callback = sign_in(
        &browser,
        &authorization_url,
        "erin.work@example.com",
        Consent::Allow,
    )
    .await;

    let response = browser.get(callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], APP_PAGE);
    let accounts: Value = browser
        .get(app.url("/v1/auth/oauth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        accounts["accounts"][0]["provider_email"],
        "erin.work@example.com"
    );
}
