//! 200 concurrent logins against the real binary with production hashing cost: every
//! request gets an answer (a result, or a fast 429/503), never a hang, and the server's
//! peak memory stays bounded because at most one hash per CPU runs at once.

use crate::server::PASSWORD;
use auth_testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Peak resident memory the server may reach under the flood. Each argon2id hash holds
/// 19 MiB; with one hash per CPU the peak stays far below this.
const MAX_PEAK_RSS_MIB: u64 = 150;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A kernel-reported memory figure of `pid` (`VmRSS`, `VmHWM`) in MiB.
fn memory_mib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_gets_answers_within_bounded_memory() {
    let _alone = crate::MEASURING.lock().await;
    let db = TestDatabase::sqlite();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_authd"))
            .arg("serve")
            .env_clear()
            .envs([
                ("DATABASE_URL", db.url()),
                ("AUTHD_BIND", &format!("127.0.0.1:{port}")),
                ("RATE_LIMIT_LOGIN_PER_MIN", "100000"),
                ("LOCKOUT_THRESHOLD", "100000"),
                ("RUST_LOG", "warn"),
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = server.0.id();
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
    let register = json!({"email": "flood@example.com", "password": PASSWORD});
    let created = client
        .post(format!("{base}/v1/auth/register"))
        .json(&register)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let idle_rss = memory_mib(pid, "VmRSS:");

    let started = Instant::now();
    let requests = (0..200).map(|i| {
        let client = client.clone();
        let url = format!("{base}/v1/auth/login");
        // Half right, half wrong: both cost one hash.
        let password = if i % 2 == 0 {
            PASSWORD
        } else {
            "not the right one"
        };
        tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"email": "flood@example.com", "password": password}))
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .expect("an answer, not a hang");
            response.status()
        })
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let elapsed = started.elapsed();
    let peak = memory_mib(pid, "VmHWM:");

    let count = |s: StatusCode| statuses.iter().filter(|x| **x == s).count();
    let (ok, wrong, busy, limited) = (
        count(StatusCode::OK),
        count(StatusCode::UNAUTHORIZED),
        count(StatusCode::SERVICE_UNAVAILABLE),
        count(StatusCode::TOO_MANY_REQUESTS),
    );
    eprintln!(
        "login flood: 200 requests in {elapsed:?}: {ok} ok, {wrong} 401, {busy} 503, {limited} 429; \
         server RSS idle {idle_rss} MiB, peak {peak} MiB"
    );
    assert_eq!(
        ok + wrong + busy + limited,
        200,
        "every answer is a result or a 429/503: {statuses:?}"
    );
    assert!(ok > 0 && wrong > 0);
    assert!(peak < MAX_PEAK_RSS_MIB, "peak RSS {peak} MiB");
}
