//! End-to-end tests of the `authd` binary, each on SQLite and on PostgreSQL.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// A fixture for `on_both_backends!`: a [`server::TestApp`] started with `vars` on top of
/// the test configuration. It derefs to the app, so the test takes `&TestApp`.
macro_rules! configured_app {
    ($(#[$doc:meta])* $name:ident = $vars:expr;) => {
        $(#[$doc])*
        pub struct $name(crate::server::TestApp);

        impl $name {
            pub async fn open(database: auth_testing::TestDatabase) -> Self {
                Self(crate::server::TestApp::open_with(database, &$vars).await)
            }
        }

        impl std::ops::Deref for $name {
            type Target = crate::server::TestApp;

            fn deref(&self) -> &crate::server::TestApp {
                &self.0
            }
        }
    };
}

mod accounts;
mod admin;
mod audit_events;
mod auth;
mod browser;
mod cli;
mod cookies;
mod faults;
mod hardening;
mod health;
mod json_bodies;
mod mail;
mod mfa;
mod oauth;
mod oauth_mfa;
mod oidc_provider;
mod openapi;
mod operations;
mod own_account;
mod pages;
mod passkeys;
mod recovery;
mod roles;
mod server;
mod slow_clients;
mod sources;
mod tokens;
mod transfer;

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
