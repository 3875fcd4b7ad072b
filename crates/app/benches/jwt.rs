//! Access tokens for other services (SPEC 4.4): signing one (EdDSA and HS256), as
//! `POST /v1/auth/token` does, and verifying one as a downstream service would, with
//! jsonwebtoken pinned to the algorithm: `cargo bench -p authd --bench jwt`.

// criterion's macros generate public functions without docs; set-up fails loudly.
#![allow(missing_docs, clippy::unwrap_used)]

use auth_ports::{AccessClaims, AccessTokenSigner, SessionId, UserId};
use authd::adapters::JwtSigner;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::hint::black_box;

const SECRET: &[u8] = b"bench-secret-0123456789abcdef-0123456789";
const ISSUER: &str = "https://auth.example.com";

/// Claims of a typical caller, valid for a long while so verification never fails.
fn claims() -> AccessClaims {
    AccessClaims {
        sub: UserId::new(),
        sid: SessionId::new(),
        roles: vec!["user".into(), "auditor".into()],
        iat: 1_800_000_000,
        exp: 4_000_000_000,
        iss: ISSUER.into(),
    }
}

fn validation(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[ISSUER]);
    validation
}

fn jwt(c: &mut Criterion) {
    let claims = claims();
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let signers = [
        ("EdDSA", JwtSigner::ed25519(&key).unwrap()),
        ("HS256", JwtSigner::hs256(SECRET).unwrap()),
    ];
    for (name, signer) in &signers {
        c.bench_function(&format!("sign an access token ({name})"), |b| {
            b.iter(|| signer.sign(black_box(&claims)).unwrap());
        });
    }

    let eddsa = signers[0].1.sign(&claims).unwrap();
    let public = DecodingKey::from_ed_der(key.verifying_key().as_bytes());
    let eddsa_validation = validation(Algorithm::EdDSA);
    c.bench_function("verify an access token (EdDSA)", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(
                black_box(eddsa.expose()),
                &public,
                &eddsa_validation,
            )
            .unwrap()
        });
    });
    let hs256 = signers[1].1.sign(&claims).unwrap();
    let secret = DecodingKey::from_secret(SECRET).unwrap();
    let hs256_validation = validation(Algorithm::HS256);
    c.bench_function("verify an access token (HS256)", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(
                black_box(hs256.expose()),
                &secret,
                &hs256_validation,
            )
            .unwrap()
        });
    });
}

criterion_group!(benches, jwt);
criterion_main!(benches);
