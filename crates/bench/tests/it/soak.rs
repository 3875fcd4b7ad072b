//! The CI soak (issue 19): `authd-bench --soak 2m` on SQLite and on PostgreSQL, the two at
//! once so that CI spends about two and a half minutes on them. The bench runs the debug
//! `authd` next to it, which `cargo test --workspace` has just built (`cargo test -p
//! authd-bench` alone builds it only when it is missing).

use serde_json::Value;
use std::process::Command;

/// Runs `authd-bench --soak 2m --db <db>` and checks its exit status and report.
fn soak(db: &str, database_url: Option<&str>) {
    let out = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd-bench"));
    command
        .args(["--soak", "2m", "--db", db, "--out"])
        .arg(out.path());
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr_tail: Vec<&str> = stderr.lines().rev().take(40).collect();
    assert!(
        output.status.success(),
        "authd-bench --soak 2m --db {db} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        stderr_tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    );
    let json = std::fs::read_to_string(out.path().join(format!("soak-{db}.json"))).unwrap();
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["verdict"]["pass"], true);
    assert_eq!(report["verdict"]["server_errors"], 0);
    // A sample every 4 s, each with answers, and every kind of request answered over the
    // run (a 4-s sample may hold no registration, the rarest kind, on a busy machine).
    let samples = report["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 30);
    let mut answered = std::collections::BTreeMap::<String, f64>::new();
    for sample in samples {
        assert!(sample["per_s"].as_f64().unwrap() > 0.0, "{sample}");
        for kind in sample["kinds"].as_array().unwrap() {
            let name = kind["kind"].as_str().unwrap().to_owned();
            *answered.entry(name).or_default() += kind["per_s"].as_f64().unwrap();
        }
    }
    assert_eq!(answered.len(), 5, "{answered:?}");
    assert!(answered.values().all(|per_s| *per_s > 0.0), "{answered:?}");
}

#[test]
fn two_minutes_on_sqlite() {
    soak("sqlite", None);
}

#[test]
fn two_minutes_on_postgres() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "TEST_DATABASE_URL must be set under CI: PostgreSQL tests may not be skipped"
        );
        eprintln!("skipped: TEST_DATABASE_URL is not set, so the PostgreSQL soak did not run");
        return;
    };
    soak("postgres", Some(&url));
}
