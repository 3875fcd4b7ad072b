//! What a token must be to verify: pinned algorithm, known key, signature, `iss`, `exp`,
//! authd's claims; EdDSA against a JWKS and HS256 against a secret.

use std::time::Duration;

use authd_verify::{ConfigError, Verifier, VerifyError};
use serde_json::json;
use uuid::Uuid;

use crate::support::{
    ISSUER, JwksServer, TestKey, b64url, claims, claims_expiring_in, hs256_token,
};

#[tokio::test]
async fn a_valid_eddsa_token_gives_its_claims() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    let verifier = Verifier::jwks(&server.url, ISSUER).unwrap();
    let sent = claims();

    let got = verifier.verify(&key.sign(&sent)).await.unwrap();

    assert_eq!(got.sub.to_string(), sent["sub"]);
    assert_eq!(got.sid.to_string(), sent["sid"]);
    assert_eq!(got.roles, ["user", "billing"]);
    assert_eq!(got.iss, ISSUER);
    assert_eq!(got.exp as i64, sent["exp"].as_i64().unwrap());
    assert_eq!(got.iat as i64, sent["iat"].as_i64().unwrap());
    assert!(got.has_role("billing"));
    assert!(!got.has_role("admin"));
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    let verifier = Verifier::jwks(&server.url, ISSUER).unwrap();
    let mut other = claims();
    other["iss"] = json!("https://evil.example.test");

    assert_eq!(
        verifier.verify(&key.sign(&other)).await,
        Err(VerifyError::WrongIssuer)
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_beyond_the_leeway() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    let verifier = Verifier::jwks(&server.url, ISSUER).unwrap();

    let long_expired = key.sign(&claims_expiring_in(-60));
    assert_eq!(
        verifier.verify(&long_expired).await,
        Err(VerifyError::Expired)
    );

    // Two seconds late is within the default 5 s leeway, but not within none.
    let just_expired = key.sign(&claims_expiring_in(-2));
    assert!(verifier.verify(&just_expired).await.is_ok());
    let strict = Verifier::jwks(&server.url, ISSUER)
        .unwrap()
        .with_leeway(Duration::ZERO);
    assert_eq!(
        strict.verify(&just_expired).await,
        Err(VerifyError::Expired)
    );
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused_before_any_key_is_fetched() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    let verifier = Verifier::jwks(&server.url, ISSUER).unwrap();
    let header = json!({ "alg": "none", "typ": "JWT", "kid": key.kid });
    let unsigned = format!(
        "{}.{}.",
        b64url(header.to_string().as_bytes()),
        b64url(claims().to_string().as_bytes())
    );

    assert_eq!(
        verifier.verify(&unsigned).await,
        Err(VerifyError::AlgorithmNotAllowed)
    );
    assert_eq!(server.fetches(), 0);
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused_by_a_jwks_verifier() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    let verifier = Verifier::jwks(&server.url, ISSUER).unwrap();
    // The algorithm-confusion attack: the public key's bytes as an HMAC secret.
    let forged = hs256_token(&key.x, Some(&key.kid), &claims());

    assert_eq!(
        verifier.verify(&forged).await,
        Err(VerifyError::AlgorithmNotAllowed)
    );
    assert_eq!(server.fetches(), 0);
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_known_kid_is_refused() {
    let key = TestKey::from_seed(1);
    let impostor = TestKey::from_seed(2);
    let server = JwksServer::start(&[&key]).await;
    let verifier = Verifier::jwks(&server.url, ISSUER).unwrap();

    let forged = impostor.sign_as(&key.kid, &claims());

    assert_eq!(
        verifier.verify(&forged).await,
        Err(VerifyError::BadSignature)
    );
}

#[tokio::test]
async fn a_token_without_kid_or_with_missing_claims_is_refused() {
    let key = TestKey::from_seed(1);
    let server = JwksServer::start(&[&key]).await;
    let verifier = Verifier::jwks(&server.url, ISSUER).unwrap();

    let header = json!({ "alg": "EdDSA", "typ": "JWT" });
    let no_kid = format!(
        "{}.{}.sig",
        b64url(header.to_string().as_bytes()),
        b64url(b"{}")
    );
    assert_eq!(verifier.verify(&no_kid).await, Err(VerifyError::UnknownKey));

    let mut no_sid = claims();
    no_sid.as_object_mut().unwrap().remove("sid");
    assert_eq!(
        verifier.verify(&key.sign(&no_sid)).await,
        Err(VerifyError::InvalidClaims)
    );

    let mut bad_sub = claims();
    bad_sub["sub"] = json!("not-a-uuid");
    assert_eq!(
        verifier.verify(&key.sign(&bad_sub)).await,
        Err(VerifyError::InvalidClaims)
    );

    for garbage in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.x"] {
        assert_eq!(
            verifier.verify(garbage).await,
            Err(VerifyError::Malformed),
            "{garbage}"
        );
    }
}

#[tokio::test]
async fn hs256_verifier_takes_its_secret_and_nothing_else() {
    let secret = b"a-shared-secret-of-at-least-32-bytes!";
    let verifier = Verifier::hs256(secret, ISSUER).unwrap();
    let sent = claims();

    let got = verifier
        .verify(&hs256_token(secret, Some("hs-kid"), &sent))
        .await
        .unwrap();
    assert_eq!(
        got.sub,
        sent["sub"].as_str().unwrap().parse::<Uuid>().unwrap()
    );

    let wrong_secret = hs256_token(b"another-secret-of-at-least-32-bytes!!", None, &sent);
    assert_eq!(
        verifier.verify(&wrong_secret).await,
        Err(VerifyError::BadSignature)
    );

    let eddsa = TestKey::from_seed(1).sign(&sent);
    assert_eq!(
        verifier.verify(&eddsa).await,
        Err(VerifyError::AlgorithmNotAllowed)
    );
}

#[test]
fn bad_configuration_is_refused_up_front() {
    assert!(matches!(
        Verifier::hs256(b"", ISSUER),
        Err(ConfigError::EmptySecret)
    ));
    assert!(matches!(
        Verifier::jwks("not a url", ISSUER),
        Err(ConfigError::InvalidUrl(_))
    ));
    assert!(matches!(
        Verifier::jwks("file:///etc/jwks.json", ISSUER),
        Err(ConfigError::InvalidUrl(_))
    ));
    // Whoever sits on the path of plain http could publish keys of their own.
    assert!(matches!(
        Verifier::jwks("http://auth.example.com/.well-known/jwks.json", ISSUER),
        Err(ConfigError::InvalidUrl(_))
    ));
    for allowed in [
        "https://auth.example.com/.well-known/jwks.json",
        "http://127.0.0.1:8080/.well-known/jwks.json",
        "http://[::1]:8080/.well-known/jwks.json",
        "http://localhost:8080/.well-known/jwks.json",
    ] {
        assert!(Verifier::jwks(allowed, ISSUER).is_ok(), "{allowed}");
    }
}

#[test]
fn debug_output_never_shows_the_secret() {
    let verifier = Verifier::hs256(b"super-secret-value", ISSUER).unwrap();
    let shown = format!("{verifier:?}");
    assert!(!shown.contains("super-secret"), "{shown}");
    assert!(shown.contains("HS256"), "{shown}");
}
