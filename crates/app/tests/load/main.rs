//! The running binary under load: login timing, memory under a login flood, and a
//! graceful shutdown with requests in flight.
//! A test binary of their own, so no other test competes for the CPUs while they
//! measure, and one at a time for the same reason.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod binary;
mod flood;
// The end-to-end harness, shared with tests/it; this binary uses only part of it.
#[allow(dead_code)]
#[path = "../it/server.rs"]
mod server;
mod shutdown;
mod timing;

/// Held by each measuring test for its whole run.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
