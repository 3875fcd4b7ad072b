//! End-to-end tests of the `authd` binary, each on SQLite and on PostgreSQL.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod cli;
mod health;
mod server;
