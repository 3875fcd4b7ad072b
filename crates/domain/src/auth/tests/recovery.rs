//! Email verification and password reset against mocked ports.

use super::*;
use auth_ports::{Redemption, TokenPurpose};

/// A token generator that hands out `secret` with hash `[9; 32]`, and hashes any
/// presented token to `[9; 32]` as well.
fn tokens(m: &mut Mocks, secret: &'static str) {
    m.tokens
        .expect_generate()
        .returning(move || (BearerToken::new(secret.into()), TokenHash([9; 32])));
    m.tokens.expect_hash().returning(|_| TokenHash([9; 32]));
}

fn known(m: &mut Mocks, user: &User) {
    let found = user.clone();
    m.users
        .expect_find_by_email()
        .returning(move |_| Ok(Some(found.clone())));
}

/// A reset request for `email` that passes the rate limits, run to its end as the HTTP
/// handler runs it after the 202.
async fn request_reset(m: Mocks, email: &str) {
    m.service(POLICY)
        .request_password_reset(email, &client())
        .await
        .unwrap()
        .run()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_reset_for_an_unknown_email_writes_one_anonymous_entry_and_sends_nothing() {
    let mut m = Mocks::default().allow_all().audit(1, |e| {
        assert_eq!(e.action, "password.reset.request");
        assert_eq!(e.user_id, None);
        assert_eq!(e.details["sent"], false);
    });
    m.users.expect_find_by_email().returning(|_| Ok(None));
    m.one_time_tokens.expect_issue().never();
    request_reset(m, "nobody@example.com").await;
}

#[tokio::test]
async fn a_reset_for_a_disabled_account_is_treated_like_an_unknown_email() {
    let mut u = user();
    u.status = UserStatus::Suspended;
    let id = u.id;
    let mut m = Mocks::default().allow_all().audit(1, move |e| {
        assert_eq!(e.details["sent"], false);
        assert_eq!(e.user_id, Some(id), "the known account is the actor");
    });
    known(&mut m, &u);
    m.one_time_tokens.expect_issue().never();
    request_reset(m, "ada@example.com").await;
}

#[tokio::test]
async fn a_reset_for_an_active_account_stores_a_token_and_mails_the_link() {
    let u = user();
    let id = u.id;
    let mut m = Mocks::default().allow_all().audit(1, move |e| {
        assert_eq!(e.action, "password.reset.request");
        assert_eq!(e.user_id, Some(id));
        assert_eq!(e.details["sent"], true);
    });
    known(&mut m, &u);
    tokens(&mut m, "reset-secret");
    let trail = m.trail.clone();
    m.one_time_tokens
        .expect_issue()
        .times(1)
        .withf(move |new, mail, _| {
            new.user_id == id
                && new.purpose == TokenPurpose::PasswordReset
                && new.token_hash == TokenHash([9; 32])
                && new.expires_at == t0() + chrono::Duration::minutes(30)
                && mail.to.as_str() == "ada@example.com"
                && mail
                    .text
                    .contains("https://auth.example.com/reset-password?token=reset-secret")
        })
        .returning(move |_, _, audit| trail.write(audit, ()));
    request_reset(m, " ADA@example.com").await;
}

/// Ada's reset request with the limiter allowing the keys `allowed` accepts and
/// refusing `limited` (a budget of `max`): refused before any lookup.
async fn reset_request_is_limited_at(allowed: fn(&str) -> bool, limited: &'static str, max: u32) {
    let mut m = Mocks::default();
    m.limiter
        .expect_check()
        .withf(move |key, _| allowed(key))
        .returning(|_, _| RateDecision::Allowed);
    m.limiter
        .expect_check()
        .withf(move |key, limit| key == limited && limit.max == max)
        .times(1)
        .returning(|_, _| RateDecision::Limited {
            retry_after: Duration::from_secs(60),
        });
    m.users.expect_find_by_email().never();
    let err = m
        .service(POLICY)
        .request_password_reset("ada@example.com", &client())
        .await;
    assert!(
        matches!(err, Err(RecoveryRequestError::RateLimited { .. })),
        "{limited}"
    );
}

#[tokio::test]
async fn reset_requests_are_limited_per_address_email_and_mailbox_before_any_lookup() {
    reset_request_is_limited_at(
        |key| key == "recovery:ip:192.0.2.9",
        "recovery:email:ada@example.com:ip:192.0.2.9",
        5,
    )
    .await;
    // Four budgets' worth for one mailbox from all sources together.
    reset_request_is_limited_at(
        |key| key.contains(":ip:"),
        "recovery:mailbox:ada@example.com",
        20,
    )
    .await;
}

#[tokio::test]
async fn a_malformed_or_unknown_token_is_invalid() {
    let mut m = Mocks::default();
    tokens(&mut m, "unused");
    m.one_time_tokens
        .expect_find_live()
        .times(1)
        .returning(|_, _, _| Ok(None));
    m.hasher.expect_hash().never();
    let service = m.service(POLICY);
    let new = password("a new long passphrase");
    for token in ["", "not a token!", &"a".repeat(129), "unknown-token"] {
        let err = service.reset_password(token, &new, &client()).await;
        assert!(matches!(err, Err(TokenError::InvalidToken)), "{token:?}");
    }
}

#[tokio::test]
async fn a_weak_new_password_keeps_the_token() {
    let u = user();
    let id = u.id;
    let mut m = Mocks::default();
    tokens(&mut m, "unused");
    m.one_time_tokens
        .expect_find_live()
        .withf(|_, purpose, _| *purpose == TokenPurpose::PasswordReset)
        .returning(move |_, _, _| Ok(Some(id)));
    m.users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(u.clone())));
    m.one_time_tokens.expect_redeem().never();
    let err = m
        .service(POLICY)
        .reset_password("reset-secret", &password("password1234"), &client())
        .await;
    assert!(matches!(err, Err(TokenError::Invalid(_))), "{err:?}");
}

#[tokio::test]
async fn a_reset_redeems_the_token_with_the_new_hash_is_audited_and_mailed() {
    let u = user();
    let id = u.id;
    let mut m = Mocks::default().audit(1, move |e| {
        assert_eq!(e.action, "password.reset");
        assert_eq!(e.user_id, Some(id));
        assert_eq!(e.ip_address, Some("192.0.2.9".parse().unwrap()));
    });
    tokens(&mut m, "unused");
    m.one_time_tokens
        .expect_find_live()
        .returning(move |_, _, _| Ok(Some(id)));
    m.users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(u.clone())));
    let mut m = m.hashes_to("new");
    let trail = m.trail.clone();
    m.one_time_tokens
        .expect_redeem()
        .times(1)
        .withf(|hash, redemption, _, _| {
            *hash == TokenHash([9; 32])
                && matches!(redemption, Redemption::ResetPassword { hash, notice }
                    if *hash == PasswordHash::new("new".into())
                        && notice.to.as_str() == "ada@example.com"
                        && notice.subject == "Your password was reset"
                        && !notice.text.contains("reset-secret"))
        })
        .returning(move |_, _, _, audit| trail.write(audit, id));
    m.service(POLICY)
        .reset_password(
            "reset-secret",
            &password("a new long passphrase"),
            &client(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_token_used_concurrently_is_invalid_for_the_loser() {
    let mut m = Mocks::default();
    tokens(&mut m, "unused");
    m.one_time_tokens
        .expect_find_live()
        .returning(|_, _, _| Ok(Some(UserId::new())));
    m.one_time_tokens
        .expect_redeem()
        .returning(|_, _, _, _| Err(StoreError::NotFound));
    let err = m
        .service(POLICY)
        .verify_email("verify-secret", &client())
        .await;
    assert!(matches!(err, Err(TokenError::InvalidToken)));
}

#[tokio::test]
async fn verifying_an_email_is_audited_as_its_owner() {
    let id = UserId::new();
    let mut m = Mocks::default().audit(1, move |e| {
        assert_eq!(e.action, "email.verify");
        assert_eq!(e.user_id, Some(id));
    });
    tokens(&mut m, "unused");
    m.one_time_tokens
        .expect_find_live()
        .withf(|_, purpose, _| *purpose == TokenPurpose::EmailVerification)
        .returning(move |_, _, _| Ok(Some(id)));
    let trail = m.trail.clone();
    m.one_time_tokens
        .expect_redeem()
        .withf(|_, redemption, _, _| *redemption == Redemption::VerifyEmail)
        .returning(move |_, _, _, audit| trail.write(audit, id));
    m.service(POLICY)
        .verify_email("verify-secret", &client())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_new_verification_link_goes_only_to_unverified_addresses() {
    let mut verified = user();
    verified.email_verified = true;
    let mut m = Mocks::default().allow_all();
    m.one_time_tokens.expect_issue().never();
    m.service(POLICY)
        .request_verification(&verified, &client())
        .await
        .unwrap();

    let mut unverified = user();
    unverified.email_verified = false;
    let mut m = Mocks::default().allow_all();
    tokens(&mut m, "verify-secret");
    m.one_time_tokens
        .expect_issue()
        .times(1)
        .withf(|new, mail, _| {
            new.purpose == TokenPurpose::EmailVerification
                && new.expires_at == t0() + chrono::Duration::hours(24)
                && mail.text.contains("/verify-email?token=verify-secret")
        })
        .returning(|_, _, _| Ok(()));
    m.service(POLICY)
        .request_verification(&unverified, &client())
        .await
        .unwrap();
}
