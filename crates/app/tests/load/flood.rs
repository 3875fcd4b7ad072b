//! 200 concurrent logins against the real binary with production hashing cost: every
//! request gets an answer (a result, or a fast 429/503), never a hang, and the server's
//! peak memory stays bounded because at most one hash per CPU runs at once.

use crate::binary::Binary;
use crate::server::PASSWORD;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// Memory one argon2id hash holds at the SPEC parameters (19456 KiB).
const HASH_MIB: u64 = 19;

/// Room above idle plus the hashing slots, for connections, buffers and the allocator.
const SLACK_MIB: u64 = 40;

/// The longest any answer may take: the 5 s wait for a hashing slot plus the hash.
const MAX_LATENCY: Duration = Duration::from_secs(15);

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
    let server = Binary::start(
        &[
            ("RATE_LIMIT_LOGIN_PER_MIN", "100000"),
            ("LOCKOUT_THRESHOLD", "100000"),
        ],
        "flood@example.com",
    )
    .await;
    let (pid, base) = (server.process.id(), server.base.clone());
    let client = reqwest::Client::new();
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
            let sent = Instant::now();
            let response = client
                .post(url)
                .json(&json!({"email": "flood@example.com", "password": password}))
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .expect("an answer, not a hang");
            (response.status(), sent.elapsed())
        })
    });
    let answers: Vec<(StatusCode, Duration)> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let statuses: Vec<StatusCode> = answers.iter().map(|(status, _)| *status).collect();
    let slowest = answers
        .iter()
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
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
        "login flood: 200 requests in {elapsed:?} (slowest answer {slowest:?}): {ok} ok, {wrong} 401, \
         {busy} 503, {limited} 429; server RSS idle {idle_rss} MiB, peak {peak} MiB"
    );
    assert_eq!(
        ok + wrong + busy + limited,
        200,
        "every answer is a result or a 429/503: {statuses:?}"
    );
    assert!(ok > 0 && wrong > 0);
    assert!(slowest < MAX_LATENCY, "an answer took {slowest:?}");
    // One hashing slot per CPU, each with its reused working memory.
    let slots = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as u64;
    let bound = idle_rss + slots * HASH_MIB + SLACK_MIB;
    assert!(peak < bound, "peak RSS {peak} MiB, bound {bound} MiB");
}
