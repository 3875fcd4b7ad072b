//! Every audit event of SPEC.md section 5 that authd writes so far, each triggered over
//! HTTP from its own client address (via `X-Forwarded-For` from a trusted proxy), and
//! found exactly once with the right actor, action, success flag and address.

use crate::server::{Inbox, PASSWORD, TestApp, token_in};
use auth_ports::{AuditQuery, AuditRepository, NewAuditEntry, UserId};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::net::IpAddr;

auth_testing::on_both_backends!(
    crate::audit_events::ProxiedApp;
    every_event_is_written_once_with_actor_outcome_and_address,
);

/// A server that trusts the loopback proxy, so each request can name its client, and
/// mails into an inbox.
pub struct ProxiedApp(TestApp, Inbox);

impl ProxiedApp {
    pub async fn open(database: auth_testing::TestDatabase) -> Self {
        let (app, inbox) =
            TestApp::open_mailing(database, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
        Self(app, inbox)
    }
}

/// Requests from the client at `198.51.100.<n>`.
struct Caller<'a> {
    app: &'a TestApp,
    ip: IpAddr,
}

impl<'a> Caller<'a> {
    fn new(app: &'a TestApp, n: u8) -> Self {
        Self {
            app,
            ip: IpAddr::from([198, 51, 100, n]),
        }
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self
            .app
            .client
            .request(method, self.app.url(path))
            .header("x-forwarded-for", self.ip.to_string());
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Value) -> Value {
        let response = self.request(method, path, token).json(&body).send().await;
        let response = response.unwrap();
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        assert!(
            status.is_success() || status.is_client_error(),
            "{status}: {body}"
        );
        body
    }

    async fn login(&self, email: &str, password: &str) -> Value {
        let body = json!({"email": email, "password": password});
        self.send(Method::POST, "/v1/auth/login", None, body).await
    }

    /// This client's trail, oldest first.
    async fn entries(&self) -> Vec<NewAuditEntry> {
        let query = AuditQuery {
            ip_address: Some(self.ip),
            limit: 100,
            ..AuditQuery::default()
        };
        let entries = self.app.store.audit().query(query).await.unwrap();
        entries.into_iter().rev().map(|e| e.entry).collect()
    }

    /// Checks that this client's trail is exactly `expected`: (action, actor, success),
    /// each entry with the client's user agent.
    async fn expect(&self, expected: &[(&str, Option<UserId>, bool)]) -> Vec<NewAuditEntry> {
        let entries = self.entries().await;
        let found: Vec<_> = entries
            .iter()
            .map(|e| (e.action.as_str(), e.user_id, e.success))
            .collect();
        assert_eq!(found, expected, "from {}", self.ip);
        for entry in &entries {
            assert_eq!(entry.user_agent.as_deref(), Some("authd-tests"));
        }
        entries
    }
}

fn id(body: &Value) -> UserId {
    UserId(body["user"]["id"].as_str().unwrap().parse().unwrap())
}

async fn every_event_is_written_once_with_actor_outcome_and_address(fixture: &ProxiedApp) {
    let app = &fixture.0;
    let register = |n, email: &str| {
        let body = json!({"email": email, "password": PASSWORD});
        async move {
            Caller::new(app, n)
                .send(Method::POST, "/v1/auth/register", None, body)
                .await
        }
    };
    let ada = id(&register(1, "ada@example.com").await);
    Caller::new(app, 1)
        .expect(&[("user.register", Some(ada), true)])
        .await;

    let from = Caller::new(app, 2);
    let token = from.login("ada@example.com", PASSWORD).await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    from.expect(&[("auth.login", Some(ada), true)]).await;

    let from = Caller::new(app, 3);
    from.login("nobody@example.com", PASSWORD).await;
    let unknown = from.expect(&[("auth.login", None, false)]).await;
    assert_eq!(unknown[0].details["reason"], "unknown_email");

    let from = Caller::new(app, 4);
    from.login("ada@example.com", "wrong password!!").await;
    let wrong = from.expect(&[("auth.login", Some(ada), false)]).await;
    assert_eq!(wrong[0].details["reason"], "invalid_credentials");

    let other = Caller::new(app, 5).login("ada@example.com", PASSWORD).await;
    let other = other["session_token"].as_str().unwrap();
    let sessions: Value = app.get_json("/v1/auth/sessions", other).await;
    let other = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let from = Caller::new(app, 6);
    let path = format!("/v1/auth/sessions/{other}");
    from.send(Method::DELETE, &path, Some(&token), Value::Null)
        .await;
    let revoke = from.expect(&[("session.revoke", Some(ada), true)]).await;
    assert_eq!(revoke[0].resource_id.as_deref(), Some(other.as_str()));

    let from = Caller::new(app, 7);
    let change = |current: &str| json!({"current_password": current, "new_password": "a brand new passphrase"});
    from.send(
        Method::POST,
        "/v1/auth/password",
        Some(&token),
        change("not it at all"),
    )
    .await;
    from.send(
        Method::POST,
        "/v1/auth/password",
        Some(&token),
        change(PASSWORD),
    )
    .await;
    from.expect(&[
        ("password.change", Some(ada), false),
        ("password.change", Some(ada), true),
    ])
    .await;

    // Account recovery by mail.
    // Ada's registration sent the first mail; the reset of an unknown email sends none.
    let mail = fixture.1.mail(1).await;
    assert_eq!(mail["to"], "ada@example.com");
    let verification = token_in(&mail, "/verify-email?token=");
    let from = Caller::new(app, 30);
    let body = json!({"token": verification});
    from.send(Method::POST, "/v1/auth/verify-email", None, body)
        .await;
    from.expect(&[("email.verify", Some(ada), true)]).await;
    let from = Caller::new(app, 31);
    for email in ["ada@example.com", "nobody@example.com"] {
        let body = json!({"email": email});
        from.send(Method::POST, "/v1/auth/password-reset/request", None, body)
            .await;
    }
    // Mail 2 told Ada of her password change; mail 3 is the reset link. The two may be
    // delivered in one batch: wait for the third before reading the second.
    let mail = fixture.1.mail(3).await;
    assert_eq!(
        fixture.1.mail(2).await["subject"],
        "Your password was changed"
    );
    assert_eq!(mail["to"], "ada@example.com");
    let reset = token_in(&mail, "/reset-password?token=");
    // Both run after their answers; wait for the second entry too.
    let mut requests = Vec::new();
    for _ in 0..100 {
        requests = from.entries().await;
        if requests.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    requests.sort_by_key(|e| e.user_id.is_none());
    let found: Vec<_> = requests
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.user_id,
                e.success,
                e.details["sent"].clone(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("password.reset.request", Some(ada), true, json!(true)),
            ("password.reset.request", None, true, json!(false)),
        ]
    );
    let from = Caller::new(app, 32);
    let body = json!({"token": reset, "new_password": "yet another passphrase"});
    from.send(Method::POST, "/v1/auth/password-reset", None, body)
        .await;
    from.expect(&[("password.reset", Some(ada), true)]).await;
    let token = Caller::new(app, 33)
        .login("ada@example.com", "yet another passphrase")
        .await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let from = Caller::new(app, 8);
    from.send(
        Method::POST,
        "/v1/auth/logout-all",
        Some(&token),
        Value::Null,
    )
    .await;
    let all = from.expect(&[("auth.logout", Some(ada), true)]).await;
    assert_eq!(all[0].details["all"], true);
    let token = Caller::new(app, 9)
        .login("ada@example.com", "yet another passphrase")
        .await;
    let from = Caller::new(app, 10);
    let token = token["session_token"].as_str().unwrap();
    from.send(Method::POST, "/v1/auth/logout", Some(token), Value::Null)
        .await;
    let one = from.expect(&[("auth.logout", Some(ada), true)]).await;
    assert!(one[0].details.get("all").is_none());

    // Lockout: the fifth failure from one address locks that address out.
    let bob = id(&register(11, "bob@example.com").await);
    let from = Caller::new(app, 16);
    for _ in 0..5 {
        from.login("bob@example.com", "wrong password!!").await;
    }
    let failed = ("auth.login", Some(bob), false);
    let lockout = ("auth.lockout", Some(bob), true);
    from.expect(&[failed, failed, failed, failed, failed, lockout])
        .await;
    from.login("bob@example.com", PASSWORD).await;
    let locked = from
        .expect(&[failed, failed, failed, failed, failed, lockout, failed])
        .await;
    assert_eq!(locked[6].details["reason"], "account_locked");

    // The operator's events, with the operator as actor and the subject as resource.
    let (boss, admin) = app.login_with_role("boss@example.com", "admin").await;
    let admin = admin.as_str();
    let from = Caller::new(app, 20);
    let role = from
        .send(
            Method::POST,
            "/v1/admin/roles",
            Some(admin),
            json!({"name": "support", "permissions": ["users:read"]}),
        )
        .await;
    let role = role["role"]["id"].as_str().unwrap().to_owned();
    let role_path = format!("/v1/admin/roles/{role}");
    from.send(
        Method::PATCH,
        &role_path,
        Some(admin),
        json!({"description": "Help desk"}),
    )
    .await;
    let assignment = format!("/v1/admin/users/{ada}/roles/{role}");
    from.send(Method::PUT, &assignment, Some(admin), Value::Null)
        .await;
    from.send(Method::DELETE, &assignment, Some(admin), Value::Null)
        .await;
    from.send(Method::DELETE, &role_path, Some(admin), Value::Null)
        .await;
    from.expect(&[
        ("role.create", Some(boss), true),
        ("role.update", Some(boss), true),
        ("role.assign", Some(boss), true),
        ("role.unassign", Some(boss), true),
        ("role.delete", Some(boss), true),
    ])
    .await;

    let from = Caller::new(app, 21);
    let user_path = format!("/v1/admin/users/{bob}");
    from.send(
        Method::PATCH,
        &user_path,
        Some(admin),
        json!({"first_name": "Bob"}),
    )
    .await;
    from.send(
        Method::POST,
        &format!("{user_path}/unlock"),
        Some(admin),
        Value::Null,
    )
    .await;
    from.send(
        Method::PATCH,
        &user_path,
        Some(admin),
        json!({"status": "suspended"}),
    )
    .await;
    from.send(Method::DELETE, &user_path, Some(admin), Value::Null)
        .await;
    let entries = from
        .expect(&[
            ("user.update", Some(boss), true),
            ("user.unlock", Some(boss), true),
            ("user.suspend", Some(boss), true),
            ("user.delete", Some(boss), true),
        ])
        .await;
    for entry in &entries {
        assert_eq!(entry.resource_type.as_deref(), Some("user"));
        assert_eq!(entry.resource_id, Some(bob.to_string()));
    }

    let from = Caller::new(app, 22);
    let disabled = from.login("bob@example.com", PASSWORD).await;
    assert_eq!(disabled["error"]["code"], "account_disabled");
    let refused = from.expect(&[("auth.login", Some(bob), false)]).await;
    assert_eq!(refused[0].details["reason"], "account_disabled");

    // No entry anywhere holds a secret.
    let everything = app
        .audit_entries(AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await;
    let text = serde_json::to_string(
        &everything
            .iter()
            .map(|e| &e.entry.details)
            .collect::<Vec<_>>(),
    );
    let text = text.unwrap();
    for secret in [
        PASSWORD,
        "wrong password!!",
        "a brand new passphrase",
        "yet another passphrase",
        token,
        &verification,
        &reset,
    ] {
        assert!(!text.contains(secret), "an entry holds {secret:?}");
    }
    assert_eq!(StatusCode::OK, app.get("/v1/auth/me", admin).await.status());
}
