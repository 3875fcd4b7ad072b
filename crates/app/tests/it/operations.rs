//! What an operator relies on: metrics, database outages, several instances on one
//! database and one Redis, timing that does not reveal accounts, and bounded memory
//! under a login flood.

use crate::server::{PASSWORD, TestApp, expect_error};
use auth_testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

auth_testing::on_both_backends!(crate::server::TestApp; metrics_count_logins_and_time_requests);

/// Logins, sessions, a lockout and the password-hashing queue as counted, and the pools
/// as they stand; no rate-limiter metrics without `REDIS_URL`.
async fn metrics_count_logins_and_time_requests(app: &TestApp) {
    app.register("m@example.com").await;
    let token = app.login("m@example.com", PASSWORD).await;
    let wrong = app.try_login("m@example.com", "not it at all").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let logout = app.post("/v1/auth/logout", Some(&token), json!({})).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    // The fifth wrong password from this client locks it out (LOCKOUT_THRESHOLD's
    // default), answered 401 still; the next attempt finds the lock.
    app.register("l@example.com").await;
    for _ in 0..5 {
        let wrong = app.try_login("l@example.com", "not it at all").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = app.try_login("l@example.com", PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::LOCKED);

    let text = metrics(app).await;
    for line in [
        r#"authd_logins_total{outcome="success"} 1"#,
        r#"authd_logins_total{outcome="failure"} 7"#,
        "authd_sessions_created_total 1",
        "authd_sessions_revoked_total 1",
        r#"authd_lockouts_total{scope="source"} 1"#,
        r#"authd_lockouts_total{scope="account"} 0"#,
        "authd_password_hash_queue_depth 0",
        r#"authd_password_hash_refused_total{reason="queue_full"} 0"#,
        r#"authd_password_hash_refused_total{reason="queue_timeout"} 0"#,
        r#"authd_db_pool_max_connections{pool="main"} 20"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    // Two registrations, then every login but the locked one: nine hashes taken.
    assert_eq!(
        value(&text, "authd_password_hash_queue_wait_seconds_count"),
        9
    );
    // The logins' account lookups keep a connection, which the pool counts as in use.
    let open = value(&text, r#"authd_db_pool_open_connections{pool="main"}"#);
    let in_use = value(&text, r#"authd_db_pool_in_use_connections{pool="main"}"#);
    let kept = value(&text, r#"authd_db_pool_kept_connections{pool="main"}"#);
    assert!(kept >= 1 && in_use >= kept && open <= 20, "{text}");
    // PostgreSQL's batch pool has gauges of its own; SQLite has none.
    let postgres = app.database_url.starts_with("postgres");
    assert_eq!(text.contains(r#"pool="batch""#), postgres, "{text}");
    assert!(!text.contains("authd_rate_limit"), "{text}");
    assert!(text.contains(r#"route="/v1/auth/login""#), "{text}");
    assert!(
        text.contains("authd_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

/// With a Redis that does not answer, the limiter runs on its fallback and says so.
#[tokio::test]
async fn metrics_show_the_rate_limiter_on_its_fallback() {
    let overrides = [("REDIS_URL", "redis://127.0.0.1:1")];
    let app = TestApp::open_with(TestDatabase::sqlite(), &overrides).await;
    let text = metrics(&app).await;
    assert_eq!(
        value(&text, "authd_rate_limit_fallback_active"),
        1,
        "{text}"
    );
    assert_eq!(
        value(&text, "authd_rate_limit_fallbacks_total"),
        1,
        "{text}"
    );
}

/// The text of `GET /metrics`.
async fn metrics(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The value of the sample `name` (with its labels) in `text`.
fn value(text: &str, name: &str) -> u64 {
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"));
    line.parse().unwrap()
}

/// A TCP relay to a local server that can be cut and restored, to play an outage.
struct Relay {
    port: u16,
    task: Option<JoinHandle<()>>,
}

impl Relay {
    /// Relays `127.0.0.1:port` (0: any free port) to `target`.
    async fn start(port: u16, target: &'static str) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                links.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self {
            port,
            task: Some(task),
        }
    }

    /// Drops the listener and every relayed connection.
    fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[tokio::test]
async fn a_database_outage_answers_503_quickly_and_recovers() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let mut relay = Relay::start(0, "127.0.0.1:5432").await;
    let port = relay.port;
    let url = db
        .url()
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{port}"), 1);
    assert_ne!(
        url,
        db.url(),
        "TEST_DATABASE_URL must point at 127.0.0.1:5432 for this test"
    );
    let app = TestApp::start(&url, &[("DB_CONNECT_TIMEOUT_SECS", "2")], "outage").await;
    app.register("o@example.com").await;
    let token = app.login("o@example.com", PASSWORD).await;

    relay.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for path in ["/v1/auth/me", "/health/ready"] {
        let started = Instant::now();
        let response = app.get(path, &token).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path} answered in {:?}",
            started.elapsed()
        );
        expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    }
    let login = app.try_login("o@example.com", PASSWORD).await;
    expect_error(login, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;

    let _relay = Relay::start(port, "127.0.0.1:5432").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if app.get("/v1/auth/me", &token).await.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn two_instances_share_sessions_locks_and_revocations() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let redis = crate::redis_url();
    let prefix = uuid::Uuid::new_v4().to_string();
    let mut vars = vec![("LOCKOUT_THRESHOLD", "3")];
    if let Some(redis) = redis.as_deref() {
        vars.push(("REDIS_URL", redis));
    }
    let a = TestApp::start(db.url(), &vars, &prefix).await;
    let b = TestApp::start(db.url(), &vars, &prefix).await;
    a.register("two@example.com").await;
    let on_a = a.login("two@example.com", PASSWORD).await;
    let on_b = b.login("two@example.com", PASSWORD).await;
    assert_eq!(
        b.get("/v1/auth/me", &on_a).await.status(),
        StatusCode::OK,
        "a session from A works on B"
    );

    // Logout through A is in force on B at the next request.
    assert_eq!(
        a.post("/v1/auth/logout", Some(&on_a), json!({}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        b.get("/v1/auth/me", &on_a).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A password change through B revokes the other sessions, on A too.
    let other = a.login("two@example.com", PASSWORD).await;
    let new_password = "another fine passphrase";
    let change = json!({"current_password": PASSWORD, "new_password": new_password});
    assert_eq!(
        b.post("/v1/auth/password", Some(&on_b), change)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        a.get("/v1/auth/me", &other).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A lock set through A holds on B.
    for _ in 0..3 {
        let wrong = a.try_login("two@example.com", "wrong guess!!").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = b.try_login("two@example.com", new_password).await;
    expect_error(locked, StatusCode::LOCKED, "account_locked").await;
}

#[tokio::test]
async fn with_redis_the_login_limit_is_global_and_an_unreachable_redis_does_not_stop_logins() {
    let Some(redis) = crate::redis_url() else {
        return;
    };
    let db = TestDatabase::sqlite();
    let prefix = uuid::Uuid::new_v4().to_string();
    let vars = [
        ("REDIS_URL", redis.as_str()),
        ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
    ];
    let a = TestApp::start(db.url(), &vars, &prefix).await;
    let b = TestApp::start(db.url(), &vars, &prefix).await;
    a.register("rl@example.com").await;
    a.login("rl@example.com", PASSWORD).await;
    b.login("rl@example.com", PASSWORD).await;
    a.login("rl@example.com", PASSWORD).await;
    let fourth = b.try_login("rl@example.com", PASSWORD).await;
    expect_error(fourth, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // Redis unreachable: logins still work, limited in-process.
    let dead = [
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
    ];
    let c = TestApp::start(db.url(), &dead, &prefix).await;
    let started = Instant::now();
    c.login("rl@example.com", PASSWORD).await;
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_keep_working_while_redis_is_down_and_it_is_used_again_when_back() {
    let Some(redis_url) = crate::redis_url() else {
        return;
    };
    assert!(
        redis_url.contains("127.0.0.1:6379"),
        "TEST_REDIS_URL must be the local Redis"
    );
    let mut relay = Relay::start(0, "127.0.0.1:6379").await;
    let port = relay.port;
    let db = TestDatabase::sqlite();
    let prefix = format!("{}:", uuid::Uuid::new_v4());
    let through_relay = format!("redis://127.0.0.1:{port}");
    let vars = [
        ("REDIS_URL", through_relay.as_str()),
        ("RATE_LIMIT_LOGIN_PER_MIN", "100"),
    ];
    let app = TestApp::start(db.url(), &vars, &prefix).await;
    app.register("down@example.com").await;

    // What the shared limiter has counted, read straight from Redis.
    let redis = redis::Client::open(redis_url.as_str()).unwrap();
    let mut redis = redis.get_multiplexed_async_connection().await.unwrap();
    let pattern = format!("{prefix}*login:account:down@example.com");
    let counted = |redis: &mut redis::aio::MultiplexedConnection| {
        let mut redis = redis.clone();
        let pattern = pattern.clone();
        async move {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(&mut redis)
                .await
                .unwrap();
            let mut total = 0;
            for key in keys {
                let n: i64 = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut redis)
                    .await
                    .unwrap();
                total += n;
            }
            total
        }
    };
    app.login("down@example.com", PASSWORD).await;
    assert_eq!(
        counted(&mut redis).await,
        1,
        "counted in Redis while it is up"
    );

    relay.cut();
    for _ in 0..3 {
        let started = Instant::now();
        app.login("down@example.com", PASSWORD).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "no waiting on a dead Redis"
        );
    }
    assert_eq!(
        counted(&mut redis).await,
        1,
        "nothing reached Redis while it was away"
    );

    let _relay = Relay::start(port, "127.0.0.1:6379").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while counted(&mut redis).await < 2 {
        assert!(
            Instant::now() < deadline,
            "the limiter did not return to Redis"
        );
        app.login("down@example.com", PASSWORD).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
