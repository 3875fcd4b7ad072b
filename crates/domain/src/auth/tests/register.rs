//! Registration and provisioning against mocked ports.

use super::*;

#[tokio::test]
async fn register_creates_an_active_user_with_the_default_role() {
    let mut m = Mocks::default().allow_all().audit(1, |e| {
        assert_eq!(e.action, "user.register");
        assert!(e.success);
        assert_eq!(e.ip_address, Some("192.0.2.9".parse().unwrap()));
    });
    m.hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(PasswordHash::new("h".into())));
    let trail = m.trail.clone();
    m.users
        .expect_create()
        .times(1)
        .withf(|new, _| {
            new.email.as_str() == "ada@example.com"
                && new.role.as_deref() == Some(DEFAULT_ROLE)
                && new.last_name.is_none()
                && !new.email_verified
                && new.verification.as_ref().is_some_and(|v| {
                    v.token_hash == TokenHash([3; 32])
                        && v.expires_at == t0() + chrono::Duration::hours(24)
                        && v.mail.to.as_str() == "ada@example.com"
                        && v.mail.subject == "Confirm your email address"
                        && v.mail
                            .text
                            .contains("https://auth.example.com/verify-email?token=verify-me")
                })
        })
        .returning(move |_, audit| trail.write(audit, user()));
    m.tokens
        .expect_generate()
        .times(1)
        .returning(|| (BearerToken::new("verify-me".into()), TokenHash([3; 32])));
    let created = m
        .service(POLICY)
        .register(registration("a fine long passphrase"), &client())
        .await;
    assert!(created.is_ok());
}

#[tokio::test]
async fn register_with_a_weak_password_writes_nothing() {
    let mut m = Mocks::default().allow_all();
    m.hasher.expect_hash().never();
    m.users.expect_create().never();
    m.audit.expect_append().never();
    let err = m
        .service(POLICY)
        .register(registration("password1234"), &client())
        .await
        .unwrap_err();
    let RegisterError::Invalid(fields) = err else {
        panic!("{err:?}")
    };
    assert!(fields.fields().contains_key("password"));
}

#[tokio::test]
async fn register_with_a_taken_email_is_email_taken() {
    let mut m = Mocks::default().allow_all().hashes_to("h");
    m.users
        .expect_create()
        .returning(|_, _| Err(StoreError::Conflict(auth_ports::Constraint::UserEmail)));
    m.tokens
        .expect_generate()
        .returning(|| (BearerToken::new("t".into()), TokenHash([3; 32])));
    m.audit.expect_append().never();
    let err = m
        .service(POLICY)
        .register(registration("a fine long passphrase"), &client())
        .await;
    assert!(matches!(err, Err(RegisterError::EmailTaken)));
}

#[tokio::test]
async fn register_is_rate_limited_before_any_work() {
    let mut m = Mocks::default().limits("register:ip:192.0.2.9", 42);
    m.hasher.expect_hash().never();
    m.users.expect_create().never();
    let err = m
        .service(POLICY)
        .register(registration("a fine long passphrase"), &client())
        .await;
    assert!(
        matches!(err, Err(RegisterError::RateLimited { retry_after }) if retry_after.as_secs() == 42)
    );
}

#[tokio::test]
async fn provision_creates_a_verified_user_with_the_given_role_without_rate_limits() {
    let mut m = Mocks::default().audit(1, |e| {
        assert_eq!(e.action, "user.register");
        assert_eq!(e.details["via"], "cli");
        assert_eq!(e.ip_address, None);
    });
    m.limiter.expect_check().never();
    let mut m = m.hashes_to("h");
    let trail = m.trail.clone();
    m.users
        .expect_create()
        .times(1)
        .withf(|new, _| {
            new.email_verified && new.role.as_deref() == Some("admin") && new.verification.is_none()
        })
        .returning(move |_, audit| trail.write(audit, user()));
    m.service(POLICY)
        .provision(registration("a fine long passphrase"), "admin")
        .await
        .unwrap();
}

#[tokio::test]
async fn provision_with_an_unknown_role_says_so() {
    let mut m = Mocks::default().hashes_to("h");
    m.users
        .expect_create()
        .returning(|_, _| Err(StoreError::NotFound));
    m.audit.expect_append().never();
    let err = m
        .service(POLICY)
        .provision(registration("a fine long passphrase"), "emperor")
        .await;
    assert!(matches!(err, Err(RegisterError::UnknownRole(role)) if role == "emperor"));
}

#[tokio::test]
async fn names_with_invisible_characters_are_rejected_before_hashing() {
    let mut m = Mocks::default().allow_all();
    m.hasher.expect_hash().never();
    m.users.expect_create().never();
    let mut reg = registration("a fine long passphrase");
    reg.first_name = Some("a\u{0}b".into());
    let err = m
        .service(POLICY)
        .register(reg, &client())
        .await
        .unwrap_err();
    let RegisterError::Invalid(fields) = err else {
        panic!("{err:?}")
    };
    assert!(fields.fields().contains_key("first_name"));
}
