//! What an attacker may not learn from answers: whether an email has an account. Login
//! (unknown email vs wrong password) and the password-reset request (unknown vs known
//! email) give the same status and body in the same time.

use crate::server::{Inbox, TestApp};
use auth_testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// One answer: how long it took, its status and its body.
type Answer = (Duration, StatusCode, String);

async fn post(app: &TestApp, path: &str, body: Value) -> Answer {
    let started = Instant::now();
    let response = app.post(path, None, body).await;
    let elapsed = started.elapsed();
    (elapsed, response.status(), response.text().await.unwrap())
}

fn median(answers: &[Answer]) -> Duration {
    let mut times: Vec<Duration> = answers.iter().map(|a| a.0).collect();
    times.sort();
    times[times.len() / 2]
}

/// Sends `body_for(unknown)` and `body_for(known)` to `path` 30 times each, interleaved
/// so drift in machine load hits both alike, and checks that every answer has `status`
/// and the same body, and that the medians are within 25% of each other.
async fn same_answer_same_time(
    app: &TestApp,
    path: &str,
    status: StatusCode,
    body_for: impl Fn(&str) -> Value,
) {
    let (mut unknown, mut known) = (Vec::new(), Vec::new());
    // Work a request leaves for after its answer must not land on the next one's clock.
    let settle = || tokio::time::sleep(Duration::from_millis(20));
    for _ in 0..30 {
        unknown.push(post(app, path, body_for("unknown@example.com")).await);
        settle().await;
        known.push(post(app, path, body_for("known@example.com")).await);
        settle().await;
    }
    let all = || unknown.iter().chain(&known);
    assert!(all().all(|(_, s, _)| *s == status), "{path}: statuses");
    assert!(
        all().all(|(_, _, body)| *body == unknown[0].2),
        "{path}: identical bodies"
    );
    let (u, k) = (median(&unknown), median(&known));
    let ratio = u.as_secs_f64().max(k.as_secs_f64()) / u.as_secs_f64().min(k.as_secs_f64());
    eprintln!("{path}: median unknown email {u:?}, known email {k:?} (ratio {ratio:.3})");
    assert!(ratio < 1.25, "{path}: unknown {u:?} vs known {k:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_email_and_wrong_password_take_the_same_time() {
    let _alone = crate::MEASURING.lock().await;
    let db = TestDatabase::sqlite();
    // Production hashing cost; no lockout or limit in the way of 60 attempts.
    let vars = [
        ("ARGON2_MEMORY_KIB", "19456"),
        ("ARGON2_ITERATIONS", "2"),
        ("LOCKOUT_THRESHOLD", "1000"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
    ];
    let app = TestApp::start(db.url(), &vars, "timing").await;
    app.register("known@example.com").await;
    let body = |email: &str| json!({"email": email, "password": "not the password"});
    same_answer_same_time(&app, "/v1/auth/login", StatusCode::UNAUTHORIZED, body).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_requests_for_unknown_and_known_emails_take_the_same_time() {
    let _alone = crate::MEASURING.lock().await;
    let db = TestDatabase::sqlite();
    let inbox = Inbox::new();
    let transport = inbox.transport();
    let vars = [
        ("RATE_LIMIT_RESET_PER_HOUR", "1000"),
        ("MAIL_TRANSPORT", transport.as_str()),
    ];
    let app = TestApp::start(db.url(), &vars, "reset-timing").await;
    app.register("known@example.com").await;
    let body = |email: &str| json!({"email": email});
    let path = "/v1/auth/password-reset/request";
    same_answer_same_time(&app, path, StatusCode::ACCEPTED, body).await;
}
