//! `authd migrate …` and configuration errors, through the real binary.

use auth_testing::TestDatabase;
use std::process::{Command, Output};

/// Runs `authd` with only the given environment, in an empty directory (so no `.env`
/// is picked up).
fn authd(env: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `(applied, pending)` counts from `authd migrate status`.
fn status(url: &str) -> (usize, usize) {
    let output = authd(&[("DATABASE_URL", url)], &["migrate", "status"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let count = |state| text.lines().filter(|l| l.starts_with(state)).count();
    (count("applied "), count("pending "))
}

fn migrate(url: &str, args: &[&str]) -> String {
    let mut full = vec!["migrate"];
    full.extend_from_slice(args);
    let output = authd(&[("DATABASE_URL", url)], &full);
    assert!(output.status.success(), "authd {full:?} failed: {output:?}");
    stdout(&output)
}

fn migrate_commands_walk_the_schema(url: &str) {
    assert_eq!(
        status(url),
        (0, 8),
        "an empty database has everything pending"
    );
    assert_eq!(migrate(url, &["up"]).trim(), "applied 8 migration(s)");
    assert_eq!(status(url), (8, 0));
    assert_eq!(migrate(url, &["up"]).trim(), "nothing to do (8 applied)");
    assert_eq!(
        migrate(url, &["down"]).trim(),
        "rolled back 1 migration(s)",
        "one step by default"
    );
    assert_eq!(status(url), (7, 1));
    assert_eq!(
        migrate(url, &["down", "-n", "3"]).trim(),
        "rolled back 3 migration(s)"
    );
    assert_eq!(status(url), (4, 4));
    assert_eq!(
        migrate(url, &["down", "-n", "100"]).trim(),
        "rolled back 4 migration(s)"
    );
    assert_eq!(status(url), (0, 8));
    assert_eq!(migrate(url, &["fresh"]).trim(), "applied 8 migration(s)");
    assert_eq!(status(url), (8, 0));
}

#[test]
fn migrate_commands_on_sqlite() {
    let db = TestDatabase::sqlite();
    migrate_commands_walk_the_schema(db.url());
}

#[tokio::test]
async fn migrate_commands_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    migrate_commands_walk_the_schema(db.url());
}

#[test]
fn bad_configuration_is_reported_by_name_and_exits_1() {
    let output = authd(
        &[
            ("SESSION_TTL_SECS", "abc"),
            ("LOCKOUT_THRESHOLD", "0"),
            ("DB_MAX_CONNECTIONS", "-1"),
        ],
        &["migrate", "status"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for name in [
        "SESSION_TTL_SECS",
        "LOCKOUT_THRESHOLD",
        "DB_MAX_CONNECTIONS",
    ] {
        assert!(stderr.contains(name), "{name} not named in: {stderr}");
    }
}

#[test]
fn down_rejects_zero_steps() {
    let db = TestDatabase::sqlite();
    let output = authd(
        &[("DATABASE_URL", db.url())],
        &["migrate", "down", "-n", "0"],
    );
    assert_eq!(output.status.code(), Some(2), "clap usage error");
    assert!(String::from_utf8_lossy(&output.stderr).contains("steps"));
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let output = authd(
        &[
            (
                "DATABASE_URL",
                "postgres://nobody:secret-pw@127.0.0.1:1/none",
            ),
            ("DB_CONNECT_TIMEOUT_SECS", "2"),
        ],
        &["migrate", "status"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(
        !stderr.contains("secret-pw"),
        "the password leaked: {stderr}"
    );
}
