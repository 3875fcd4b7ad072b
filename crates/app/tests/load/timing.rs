//! Unknown email and wrong password: same answer, same time.

use crate::server::TestApp;
use auth_testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_email_and_wrong_password_take_the_same_time() {
    let _alone = crate::MEASURING.lock().await;
    let db = TestDatabase::sqlite();
    // Production hashing cost; no lockout or limit in the way of 40 attempts.
    let vars = [
        ("ARGON2_MEMORY_KIB", "19456"),
        ("ARGON2_ITERATIONS", "2"),
        ("LOCKOUT_THRESHOLD", "1000"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
    ];
    let app = TestApp::start(db.url(), &vars, "timing").await;
    app.register("known@example.com").await;
    let attempt = |email: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = app
                .post(
                    "/v1/auth/login",
                    None,
                    json!({"email": email, "password": "not the password"}),
                )
                .await;
            let elapsed = started.elapsed();
            (elapsed, response.status(), response.text().await.unwrap())
        }
    };
    // Interleaved, so drift in machine load hits both alike; 30 of each.
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for _ in 0..30 {
        let (t, status, body) = attempt("unknown@example.com").await;
        unknown.push((t, status, body));
        let (t, status, body) = attempt("known@example.com").await;
        wrong.push((t, status, body));
    }
    assert!(
        unknown
            .iter()
            .chain(&wrong)
            .all(|(_, s, _)| *s == StatusCode::UNAUTHORIZED)
    );
    assert!(
        unknown
            .iter()
            .chain(&wrong)
            .all(|(_, _, body)| *body == unknown[0].2),
        "identical bodies"
    );
    let median = |runs: &[(Duration, StatusCode, String)]| {
        let mut times: Vec<Duration> = runs.iter().map(|r| r.0).collect();
        times.sort();
        times[times.len() / 2]
    };
    let (u, w) = (median(&unknown), median(&wrong));
    let ratio = u.as_secs_f64().max(w.as_secs_f64()) / u.as_secs_f64().min(w.as_secs_f64());
    eprintln!("median login time: unknown email {u:?}, wrong password {w:?} (ratio {ratio:.3})");
    assert!(ratio < 1.25, "unknown {u:?} vs wrong {w:?}");
}
