//! SIGTERM lets in-flight requests finish before the process exits.

use crate::server::PASSWORD;
use auth_testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests() {
    let _alone = crate::MEASURING.lock().await;
    let db = TestDatabase::sqlite();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_authd"))
        .arg("serve")
        .env_clear()
        .envs([
            ("DATABASE_URL", db.url()),
            ("AUTHD_BIND", &format!("127.0.0.1:{port}")),
            ("RATE_LIMIT_LOGIN_PER_MIN", "1000"),
            ("RUST_LOG", "warn"),
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .map(|r| r.status())
        .ok()
        != Some(StatusCode::OK)
    {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let register = json!({"email": "term@example.com", "password": PASSWORD});
    assert_eq!(
        client
            .post(format!("{base}/v1/auth/register"))
            .json(&register)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );

    // Twenty logins (each a full argon2 hash, two at a time) are in flight when SIGTERM lands.
    let logins: Vec<_> = (0..20)
        .map(|_| {
            let request = client
                .post(format!("{base}/v1/auth/login"))
                .json(&register)
                .send();
            tokio::spawn(request)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    for login in logins {
        let response = login
            .await
            .unwrap()
            .expect("an answer, not a dropped connection");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let exit = server.wait().unwrap();
    assert!(exit.success(), "clean exit after draining: {exit:?}");
}
