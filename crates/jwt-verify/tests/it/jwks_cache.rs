//! The JWKS cache: rotation, the refetch rate limit, single-flight, max age, and what a
//! failing JWKS endpoint does.

use std::sync::Arc;
use std::time::Duration;

use authd_verify::{JwksOptions, Verifier, VerifyError};
use serde_json::json;

use crate::support::{ISSUER, JwksServer, TestKey, claims, dead_url};

fn options(min_refetch_ms: u64, max_age_ms: u64) -> JwksOptions {
    JwksOptions {
        min_refetch_interval: Duration::from_millis(min_refetch_ms),
        max_age: Duration::from_millis(max_age_ms),
        ..JwksOptions::default()
    }
}

#[tokio::test]
async fn keys_are_cached_between_verifications() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    let verifier = Verifier::jwks(&server.url, ISSUER).unwrap();

    for _ in 0..5 {
        verifier.verify(&key.sign(&claims())).await.unwrap();
    }

    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_and_finds_the_rotated_key_then_the_old_one_goes() {
    let old = TestKey::from_seed(1);
    let new = TestKey::from_seed(2);
    let server = JwksServer::start(&[&old]).await;
    let verifier = Verifier::jwks_with(&server.url, ISSUER, options(100, 400)).unwrap();
    verifier.verify(&old.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 1);

    // Rotation: authd signs with the new key and still publishes the old one.
    server.serve(&[&new, &old]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    verifier.verify(&new.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 2);
    verifier.verify(&old.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 2);

    // Overlap over: once the set is refreshed, the old key no longer verifies.
    server.serve(&[&new]);
    tokio::time::sleep(Duration::from_millis(450)).await;
    verifier.verify(&new.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 3);
    assert_eq!(
        verifier.verify(&old.sign(&claims())).await,
        Err(VerifyError::UnknownKey)
    );
}

#[tokio::test]
async fn a_burst_of_garbage_kids_fetches_at_most_once_per_window() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    let verifier = Verifier::jwks_with(&server.url, ISSUER, options(300, 60_000)).unwrap();
    verifier.verify(&key.sign(&claims())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;

    for i in 0..20 {
        let garbage = key.sign_as(&format!("garbage-{i}"), &claims());
        assert_eq!(
            verifier.verify(&garbage).await,
            Err(VerifyError::UnknownKey)
        );
    }
    // One refetch for the first unknown kid, none for the other nineteen.
    assert_eq!(server.fetches(), 2);

    tokio::time::sleep(Duration::from_millis(350)).await;
    for i in 0..20 {
        let garbage = key.sign_as(&format!("more-garbage-{i}"), &claims());
        assert_eq!(
            verifier.verify(&garbage).await,
            Err(VerifyError::UnknownKey)
        );
    }
    assert_eq!(server.fetches(), 3);
    // The real key kept working throughout.
    verifier.verify(&key.sign(&claims())).await.unwrap();
}

#[test]
fn the_defaults_are_thirty_seconds_and_five_minutes() {
    assert_eq!(
        JwksOptions::default().min_refetch_interval,
        Duration::from_secs(30)
    );
    assert_eq!(JwksOptions::default().max_age, Duration::from_secs(300));
}

#[tokio::test]
async fn fifty_concurrent_verifications_on_a_cold_cache_share_one_fetch() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    // No rate limit: only the single-flight can keep this to one fetch.
    let verifier = Arc::new(Verifier::jwks_with(&server.url, ISSUER, options(0, 60_000)).unwrap());
    let token = key.sign(&claims());

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (verifier, token) = (Arc::clone(&verifier), token.clone());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn the_set_is_refreshed_after_cache_control_max_age() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    server.set_cache_control("public, max-age=1");
    // The 60 s default max age would not refresh within this test; the header's 1 s does.
    let verifier = Verifier::jwks_with(&server.url, ISSUER, options(0, 60_000)).unwrap();

    verifier.verify(&key.sign(&claims())).await.unwrap();
    verifier.verify(&key.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    verifier.verify(&key.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn a_max_age_longer_than_the_configured_one_is_cut_to_it() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    // A year, as a proxy might add it: a withdrawn key must not verify that long.
    server.set_cache_control("public, max-age=31536000");
    let verifier = Verifier::jwks_with(&server.url, ISSUER, options(0, 1_000)).unwrap();

    verifier.verify(&key.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    verifier.verify(&key.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 2);

    // Nor may a max-age past what the clock can add panic.
    server.set_cache_control("public, max-age=18446744073709551615");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    verifier.verify(&key.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 3);
}

#[tokio::test]
async fn keys_of_other_types_in_the_set_are_skipped() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[]).await;
    let good = serde_json::to_value(&key.jwk).unwrap();
    server.serve_raw(json!({ "keys": [
        { "kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB" },
        { "kty": "whatever" },
        good,
    ]}));
    let verifier = Verifier::jwks(&server.url, ISSUER).unwrap();

    verifier.verify(&key.sign(&claims())).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_jwks_gives_keys_unavailable() {
    let key = TestKey::from_seed(1);
    let verifier = Verifier::jwks(&dead_url().await, ISSUER).unwrap();

    assert_eq!(
        verifier.verify(&key.sign(&claims())).await,
        Err(VerifyError::KeysUnavailable)
    );
}

#[tokio::test]
async fn a_failing_jwks_gives_keys_unavailable_until_it_recovers() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    server.set_failing(true);
    let verifier = Verifier::jwks_with(&server.url, ISSUER, options(100, 60_000)).unwrap();

    assert_eq!(
        verifier.verify(&key.sign(&claims())).await,
        Err(VerifyError::KeysUnavailable)
    );
    // Within the window the failure is remembered, not retried.
    assert_eq!(
        verifier.verify(&key.sign(&claims())).await,
        Err(VerifyError::KeysUnavailable)
    );
    assert_eq!(server.fetches(), 1);

    server.set_failing(false);
    tokio::time::sleep(Duration::from_millis(150)).await;
    verifier.verify(&key.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn a_stale_set_keeps_verifying_while_the_refresh_fails() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    let verifier = Verifier::jwks_with(&server.url, ISSUER, options(0, 100)).unwrap();
    verifier.verify(&key.sign(&claims())).await.unwrap();

    server.set_failing(true);
    tokio::time::sleep(Duration::from_millis(150)).await;
    verifier.verify(&key.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 2);
}
