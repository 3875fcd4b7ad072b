//! Limits and locks per client source (issue 14): clients are told apart by the address a
//! trusted proxy forwards, so one test can play the attacker and the owner.

use crate::server::{Inbox, PASSWORD, TestApp, expect_error, token_in};
use auth_ports::AuditQuery;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

/// Behind a trusted proxy on 127.0.0.1, mailing into a directory, with two recovery
/// requests per hour, 30 logins a minute, and the account-wide lock after 10 failures.
pub struct Sources {
    app: TestApp,
    inbox: Inbox,
}

impl Sources {
    pub async fn open(database: auth_testing::TestDatabase) -> Self {
        let vars = [
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("RATE_LIMIT_RESET_PER_HOUR", "2"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "30"),
            ("LOCKOUT_GLOBAL_THRESHOLD", "10"),
            ("AUTHD_PUBLIC_URL", "https://auth.example.com"),
        ];
        let (app, inbox) = TestApp::open_mailing(database, &vars).await;
        Self { app, inbox }
    }

    /// POSTs `body` to `path` as the client at `ip`, with `token` as bearer if given.
    async fn post_from(&self, ip: &str, path: &str, token: Option<&str>, body: Value) -> Response {
        let mut request = self
            .app
            .client
            .post(self.app.url(path))
            .header("x-forwarded-for", ip)
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    async fn login_from(&self, ip: &str, email: &str, password: &str) -> Response {
        let body = json!({"email": email, "password": password});
        self.post_from(ip, "/v1/auth/login", None, body).await
    }

    async fn request_reset_from(&self, ip: &str, email: &str) -> Response {
        let body = json!({"email": email});
        self.post_from(ip, "/v1/auth/password-reset/request", None, body)
            .await
    }
}

configured_app! {
    /// Two logins a minute per address, behind a trusted proxy.
    Ipv6Limits = [
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "2"),
    ];
}

auth_testing::on_both_backends!(
    crate::sources::Sources;
    one_sources_reset_budget_does_not_stop_another,
    a_mailbox_gets_at_most_four_budgets_from_many_sources,
    a_password_change_and_a_reset_mail_a_notice,
    a_strangers_failures_lock_out_only_the_strangers_source,
    the_global_cap_locks_every_source,
    wrong_current_passwords_count_towards_the_lockout,
);

mod ipv6 {
    use super::ipv6_logins_are_limited_per_56_and_48_across_64s;
    auth_testing::on_both_backends!(crate::sources::Ipv6Limits; ipv6_logins_are_limited_per_56_and_48_across_64s);
}

async fn one_sources_reset_budget_does_not_stop_another(f: &Sources) {
    f.app.register("ada@example.com").await;
    for _ in 0..2 {
        let accepted = f.request_reset_from("203.0.113.1", "ada@example.com").await;
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    }
    let spent = f.request_reset_from("203.0.113.1", "ada@example.com").await;
    expect_error(spent, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // The owner, elsewhere, still gets a link.
    let owner = f
        .request_reset_from("198.51.100.7", "ada@example.com")
        .await;
    assert_eq!(owner.status(), StatusCode::ACCEPTED);
    // Verification mail, two links to the stranger's requests, one to the owner's.
    f.inbox.expect_mails(4).await;
}

/// Each source spends its own budget, but one mailbox gets at most four budgets'
/// worth (limit 2 here, so 8) from all sources together: no mail flood from many
/// addresses.
async fn a_mailbox_gets_at_most_four_budgets_from_many_sources(f: &Sources) {
    f.app.register("cyd@example.com").await;
    for source in 1..=4 {
        for _ in 0..2 {
            let ip = format!("203.0.113.{source}");
            let accepted = f.request_reset_from(&ip, "cyd@example.com").await;
            assert_eq!(accepted.status(), StatusCode::ACCEPTED, "from {ip}");
        }
    }
    let fifth = f.request_reset_from("203.0.113.5", "cyd@example.com").await;
    expect_error(fifth, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // The verification mail and eight links.
    f.inbox.expect_mails(9).await;
}

async fn a_password_change_and_a_reset_mail_a_notice(f: &Sources) {
    f.app.register("bea@example.com").await;
    let session = f.app.login("bea@example.com", PASSWORD).await;
    let new = "a brand new passphrase";
    let body = json!({"current_password": PASSWORD, "new_password": new});
    let changed = f
        .post_from("203.0.113.5", "/v1/auth/password", Some(&session), body)
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let notice = f.inbox.mail(2).await;
    assert_eq!(notice["to"], "bea@example.com");
    assert_eq!(notice["subject"], "Your password was changed");
    let text = notice["text"].as_str().unwrap();
    assert!(text.contains("from 203.0.113.5"), "{text}");
    assert!(!text.contains("token="), "{text}");

    let accepted = f.request_reset_from("203.0.113.5", "bea@example.com").await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let link = f.inbox.mail(3).await;
    let token = token_in(&link, "https://auth.example.com/reset-password?token=");
    let body = json!({"token": token, "new_password": "another new passphrase"});
    let reset = f
        .post_from("198.51.100.7", "/v1/auth/password-reset", None, body)
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let notice = f.inbox.mail(4).await;
    assert_eq!(notice["subject"], "Your password was reset");
    let text = notice["text"].as_str().unwrap();
    assert!(text.contains("from 198.51.100.7"), "{text}");
    assert!(!text.contains(&token), "no secret in the notice");
    f.inbox.expect_mails(4).await;
}

/// With two logins a minute per address, a /56 may make 2 × 4 and a /48 2 × 16, however
/// many /64s the attempts come from.
async fn ipv6_logins_are_limited_per_56_and_48_across_64s(app: &TestApp) {
    // A new unknown email each time, so only the address limits are in play.
    let attempts = std::sync::atomic::AtomicUsize::new(0);
    let login_from = |ip: String| {
        let n = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        app.client
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": format!("nobody{n}@example.com"), "password": PASSWORD}))
            .send()
    };
    // Eight /64s of one /56, one attempt each: all let through to the password.
    for net in 0..8 {
        let status = login_from(format!("2001:db8:1:{net:x}::1"))
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "/64 number {net}");
    }
    let ninth = login_from("2001:db8:1:8::1".to_owned()).await.unwrap();
    expect_error(ninth, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // The /48 allows 32 in all: 8 made above, 24 more from other /56s of it.
    for net in 1..=24 {
        let ip = format!("2001:db8:1:{:x}::1", net * 0x100);
        let status = login_from(ip).await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "/56 number {net}");
    }
    let over = login_from("2001:db8:1:ff00::1".to_owned()).await.unwrap();
    expect_error(over, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another /48 is not affected.
    let other = login_from("2001:db8:2::1".to_owned()).await.unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
}

const STRANGER: &str = "203.0.113.66";
const OWNER: &str = "198.51.100.7";

async fn a_strangers_failures_lock_out_only_the_strangers_source(f: &Sources) {
    f.app.register("cat@example.com").await;
    for _ in 0..5 {
        let wrong = f
            .login_from(STRANGER, "cat@example.com", "wrong password!")
            .await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let locked = f.login_from(STRANGER, "cat@example.com", PASSWORD).await;
    expect_error(locked, StatusCode::LOCKED, "account_locked").await;
    let owner = f.login_from(OWNER, "cat@example.com", PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::OK, "the owner still logs in");
    let still = f.login_from(STRANGER, "cat@example.com", PASSWORD).await;
    expect_error(still, StatusCode::LOCKED, "account_locked").await;

    let lockouts = f
        .app
        .audit_entries(AuditQuery {
            action: Some("auth.lockout".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await;
    assert_eq!(lockouts.len(), 1);
    assert_eq!(lockouts[0].entry.details["scope"], "source");
    assert_eq!(lockouts[0].entry.ip_address, STRANGER.parse().ok());
}

async fn the_global_cap_locks_every_source(f: &Sources) {
    f.app.register("dan@example.com").await;
    // Ten failures in all (the global threshold here), two from each of five sources.
    for i in 1..=5 {
        let ip = format!("203.0.113.{i}");
        for _ in 0..2 {
            let wrong = f
                .login_from(&ip, "dan@example.com", "wrong password!")
                .await;
            expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
    }
    let owner = f.login_from(OWNER, "dan@example.com", PASSWORD).await;
    expect_error(owner, StatusCode::LOCKED, "account_locked").await;
}

async fn wrong_current_passwords_count_towards_the_lockout(f: &Sources) {
    f.app.register("eve@example.com").await;
    let body = json!({"email": "eve@example.com", "password": PASSWORD});
    let login = f.post_from(STRANGER, "/v1/auth/login", None, body).await;
    let session: Value = login.json().await.unwrap();
    let session = session["session_token"].as_str().unwrap().to_owned();
    let change = |current: &'static str| {
        let body = json!({"current_password": current, "new_password": "a brand new passphrase"});
        f.post_from(STRANGER, "/v1/auth/password", Some(&session), body)
    };
    for _ in 0..5 {
        let wrong = change("wrong password!").await;
        expect_error(wrong, StatusCode::FORBIDDEN, "invalid_credentials").await;
    }
    expect_error(change(PASSWORD).await, StatusCode::LOCKED, "account_locked").await;
    let login = f.login_from(STRANGER, "eve@example.com", PASSWORD).await;
    expect_error(login, StatusCode::LOCKED, "account_locked").await;
    let owner = f.login_from(OWNER, "eve@example.com", PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::OK);
}
