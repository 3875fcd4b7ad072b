//! Integration tests of authd-verify: real Ed25519 keys, a JWKS served over HTTP on
//! 127.0.0.1:0 that counts its fetches, and the axum extractor end to end.

// Test helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod docs;
#[cfg(feature = "axum")]
mod extractor;
mod jwks_cache;
mod support;
mod verify;
