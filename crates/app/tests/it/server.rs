//! A real authd server per test, on an ephemeral port, over its own fresh database, with
//! the configuration of SPEC.md section 3 plus per-test overrides.

use auth_ports::{AuditEntry, AuditQuery, AuditRepository as _, RoleRepository, UserId};
use auth_sea_orm::Store;
use auth_testing::{TestDatabase, unaudited};
use authd::config::Config;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Display;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Test defaults: cheap hashing and generous rate limits, so tests are fast and only the
/// rate-limit tests hit the limits.
const DEFAULTS: [(&str, &str); 5] = [
    ("ARGON2_MEMORY_KIB", "1024"),
    ("ARGON2_ITERATIONS", "1"),
    ("ARGON2_ALLOW_WEAK", "true"),
    ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
    ("RATE_LIMIT_REGISTER_PER_MIN", "1000"),
];

/// A strong password the policy accepts.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client without cookies or redirects.
    pub client: reqwest::Client,
    /// The server's database, for checking what a request wrote.
    pub store: Store,
    /// Its URL, for what a test must read or change behind the API's back.
    pub database_url: String,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
    _database: Option<TestDatabase>,
}

impl TestApp {
    /// A server with the test defaults.
    pub async fn open(database: TestDatabase) -> Self {
        Self::open_with(database, &[]).await
    }

    /// A server with the test defaults and `overrides`.
    pub async fn open_with(database: TestDatabase, overrides: &[(&str, &str)]) -> Self {
        let url = database.url().to_owned();
        let mut app = Self::start(&url, overrides, &uuid::Uuid::new_v4().to_string()).await;
        app._database = Some(database);
        app
    }

    /// A server with the test defaults and `overrides` that mails into a fresh inbox.
    pub async fn open_mailing(database: TestDatabase, overrides: &[(&str, &str)]) -> (Self, Inbox) {
        let inbox = Inbox::new();
        let transport = inbox.transport();
        let mut vars = vec![("MAIL_TRANSPORT", transport.as_str())];
        vars.extend_from_slice(overrides);
        (Self::open_with(database, &vars).await, inbox)
    }

    /// A server at `http://localhost:<port>` (its `AUTHD_PUBLIC_URL`: a domain, as
    /// passkeys need) with the test defaults and `overrides`, and that origin.
    pub async fn open_on_localhost(
        database: TestDatabase,
        overrides: &[(&str, &str)],
    ) -> (Self, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        let mut vars = vec![("AUTHD_PUBLIC_URL", origin.as_str())];
        vars.extend_from_slice(overrides);
        let prefix = uuid::Uuid::new_v4().to_string();
        let mut app = Self::serve(listener, database.url(), &vars, &prefix).await;
        app._database = Some(database);
        (app, origin)
    }

    /// A server on an existing database (a second instance), sharing `prefix` for
    /// Redis rate-limit keys.
    pub async fn start(url: &str, overrides: &[(&str, &str)], prefix: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, url, overrides, prefix).await
    }

    /// A server on `listener` (bound first when its address must be known to the
    /// configuration, e.g. as `AUTHD_PUBLIC_URL`).
    pub async fn serve(
        listener: tokio::net::TcpListener,
        url: &str,
        overrides: &[(&str, &str)],
        prefix: &str,
    ) -> Self {
        let mut vars: HashMap<String, String> = DEFAULTS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        vars.insert("DATABASE_URL".into(), url.to_owned());
        vars.extend(
            overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let config = Config::from_vars(|name| vars.get(name).cloned()).unwrap();
        let store = authd::connect(&config).await.unwrap();
        store.migrate_up().await.unwrap();
        let state = authd::build_state(&config, store.clone(), prefix)
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let http = config.http.clone();
        let server = tokio::spawn(async move {
            authd::http::serve(listener, state, &http, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let client = reqwest::Client::builder()
            .user_agent("authd-tests")
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base,
            client,
            store,
            database_url: url.to_owned(),
            stop: Mutex::new(Some(stop)),
            server: Mutex::new(Some(server)),
            _database: None,
        }
    }

    /// Asks the server to shut down and returns its task, which ends once the in-flight
    /// requests are answered.
    pub fn shut_down(&self) -> tokio::task::JoinHandle<()> {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
        self.server.lock().unwrap().take().unwrap()
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs `body` as JSON, with `token` as bearer if given.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// GETs `path` with `token` as bearer.
    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// GETs `path` with `token` as bearer and reads the JSON body, whatever the status.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        self.get(path, token).await.json().await.unwrap()
    }

    /// The audit entries `query` selects, straight from the store.
    pub async fn audit_entries(&self, query: AuditQuery) -> Vec<AuditEntry> {
        self.store.audit().query(query).await.unwrap()
    }

    /// GETs `path` without a token.
    pub async fn get_anonymously(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// `POST /v1/auth/login` with these credentials.
    pub async fn try_login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// `POST /v1/auth/register` with these credentials.
    pub async fn try_register(&self, email: &str, password: &str) -> Response {
        self.post(
            "/v1/auth/register",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers `email` with [`PASSWORD`] and returns the user id.
    pub async fn register(&self, email: &str) -> String {
        let response = self.try_register(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["user"]["id"].as_str().unwrap().to_owned()
    }

    /// Logs in and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let response = self.try_login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        let body: Value = response.json().await.unwrap();
        body["session_token"].as_str().unwrap().to_owned()
    }

    /// Registers `email`, gives it `role` (straight in the store) and logs it in.
    pub async fn login_with_role(&self, email: &str, role: &str) -> (UserId, String) {
        let id = UserId(self.register(email).await.parse().unwrap());
        let roles = self.store.roles();
        let role = roles.find_by_name(role).await.unwrap().unwrap();
        roles
            .assign(id, role.id, None, now(), unaudited())
            .await
            .unwrap();
        (id, self.login(email, PASSWORD).await)
    }

    /// Sends `method path` with `token` as bearer and `body` as JSON, if any.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.get_mut().unwrap().take() {
            let _ = stop.send(());
        }
    }
}

/// Asserts the status and the SPEC error code of a response, and returns its body.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string());
    body
}

/// Asserts a 422 `validation_failed` that names `field` in its details; `context` says
/// which request it was. Returns the body.
pub async fn expect_invalid(response: Response, field: &str, context: impl Display) -> Value {
    let body = expect_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(
        body["error"]["details"][field].is_string(),
        "{context}: {body}"
    );
    body
}

/// The tests' own clock, for writing to the store directly.
#[allow(clippy::disallowed_methods)]
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// The directory of the `file:` mail transport, read back by tests.
pub struct Inbox(TempDir);

impl Inbox {
    pub fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    /// The `MAIL_TRANSPORT` value that delivers here.
    pub fn transport(&self) -> String {
        format!("file:{}", self.0.path().display())
    }

    /// The delivered messages, oldest first.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.0.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
    }

    /// Waits up to 10 s for the `n`-th message (1-based) and returns it.
    pub async fn mail(&self, n: usize) -> Value {
        for _ in 0..200 {
            if let Some(path) = self.files().get(n - 1) {
                return serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mail {n} never arrived; inbox: {:?}", self.files());
    }

    /// Asserts that `n` messages arrived: waits up to 10 s for the `n`-th (a reset's
    /// mail is written after the answer, then the worker gathers and sends it, which a
    /// busy machine slows down), then a moment more for any that should not come.
    pub async fn expect_mails(&self, n: usize) {
        for _ in 0..200 {
            if self.files().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(self.files().len(), n, "{:?}", self.files());
    }
}

/// The token after `prefix` in a mail's text, also present in its HTML.
pub fn token_in(mail: &Value, prefix: &str) -> String {
    let text = mail["text"].as_str().unwrap();
    let start = text.find(prefix).unwrap_or_else(|| panic!("{text}")) + prefix.len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "256 bits in base64url");
    assert!(mail["html"].as_str().unwrap().contains(&token));
    token
}
