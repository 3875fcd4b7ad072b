//! Contract tests of the storage adapter, each run against SQLite and PostgreSQL.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod audit;
mod challenges;
mod lockout;
mod logins;
mod mail_outbox;
mod mfa;
mod mfa_logins;
mod migrations;
mod oauth;
mod oauth_flows;
mod oauth_logins;
mod oauth_unlinks;
mod one_time_tokens;
mod pools;
mod roles;
mod sessions;
mod transfer;
mod upgrades;
mod users;
