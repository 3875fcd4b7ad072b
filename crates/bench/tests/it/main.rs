//! End-to-end runs of the `authd-bench` binary.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod soak;
