//! SIGTERM lets in-flight requests finish before the process exits.

use crate::binary::Binary;
use reqwest::StatusCode;
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests() {
    let _alone = crate::MEASURING.lock().await;
    let mut server =
        Binary::start(&[("RATE_LIMIT_LOGIN_PER_MIN", "1000")], "term@example.com").await;
    let (base, register) = (server.base.clone(), server.credentials.clone());
    let client = reqwest::Client::new();

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
        .args(["-TERM", &server.process.id().to_string()])
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
    let exit = server.process.wait().unwrap();
    assert!(exit.success(), "clean exit after draining: {exit:?}");
}
