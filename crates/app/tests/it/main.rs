//! End-to-end tests of the `authd` binary, each on SQLite and on PostgreSQL.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod admin;
mod audit_events;
mod auth;
mod cli;
mod hardening;
mod health;
mod mail;
mod openapi;
mod operations;
mod recovery;
mod roles;
mod server;
mod slow_clients;
mod sources;

/// `TEST_REDIS_URL`, or `None` after saying the Redis test is skipped (a failure under
/// `CI=true`).
fn redis_url() -> Option<String> {
    if let Ok(url) = std::env::var("TEST_REDIS_URL") {
        return Some(url);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "TEST_REDIS_URL must be set under CI"
    );
    eprintln!("skipped: TEST_REDIS_URL is not set, so the Redis part of this test did not run");
    None
}
