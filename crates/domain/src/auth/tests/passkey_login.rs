//! Passwordless login with a passkey against mocked ports.

use super::mfa_support::*;
use super::*;
use auth_ports::{AuthMethod, Challenge, ChallengeKind, SecondFactorError};

/// Someone answers the passkey login's challenge with [`assertion_response`].
async fn finishes(m: Mocks) -> Result<LoginSuccess, MfaError> {
    m.service(POLICY)
        .finish_passkey_login(&challenge_token(), assertion_response(), &client())
        .await
}

/// The passwordless challenge: a discoverable ceremony, bound to nobody.
fn passkey_login() -> Challenge {
    let mut found = challenge(ChallengeKind::PasskeyLogin);
    found.stored.webauthn_state = Some("st".into());
    found
}

/// Mocks for finishing a passkey login whose assertion claims to be `u`'s (who has
/// `pk`).
fn claimed_by(u: &User, pk: &auth_ports::Passkey, found: &Challenge) -> Mocks {
    let mut m = Mocks::default()
        .allow_all()
        .finds_challenge(found)
        .finds_by_id(u);
    m.factors = passkey_only(pk.clone(), 0);
    let id = u.id;
    m.passkeys
        .expect_claimed_user()
        .times(1)
        .withf(|response| *response == assertion_response())
        .returning(move |_| Ok(id));
    m
}

#[tokio::test]
async fn beginning_a_passkey_login_stores_a_discoverable_challenge() {
    let mut m = Mocks::default().allow_all().issues_tok();
    m.passkeys
        .expect_start_discoverable()
        .times(1)
        .returning(|| Ok(ceremony()));
    m.challenges
        .expect_create()
        .times(1)
        .withf(|c| {
            c.kind == ChallengeKind::PasskeyLogin
                && c.token_hash == TokenHash([1; 32])
                && c.user_id.is_none()
                && c.session_id.is_none()
                && c.password_hash.is_none()
                && c.login_source.is_none()
                && c.webauthn_state.as_deref() == Some("st")
                && c.expires_at == t0() + chrono::Duration::minutes(5)
        })
        .returning(|stored| {
            Ok(Challenge {
                id: auth_ports::ChallengeId::new(),
                stored,
                failures: 0,
            })
        });
    let issued = m
        .service(POLICY)
        .begin_passkey_login(&client())
        .await
        .unwrap();
    assert_eq!(issued.token.expose(), "tok");
    assert_eq!(issued.methods, [AuthMethod::Webauthn]);
    assert_eq!(issued.webauthn, Some(ceremony().options));
}

#[tokio::test]
async fn beginning_a_passkey_login_is_rate_limited_per_address() {
    let mut m = Mocks::default().limits("passkey:ip:192.0.2.9", 5);
    m.passkeys.expect_start_discoverable().never();
    m.challenges.expect_create().never();
    let err = m.service(POLICY).begin_passkey_login(&client()).await;
    assert!(matches!(err, Err(MfaError::RateLimited { .. })), "{err:?}");
}

/// An assertion naming no known user, or none at all, fails the challenge; there is no
/// account to audit it against or to lock.
#[tokio::test]
async fn an_assertion_of_an_unknown_user_is_invalid_credentials() {
    for claimed in [Some(UserId::new()), None] {
        let found = passkey_login();
        let mut m = Mocks::default()
            .allow_all()
            .finds_challenge(&found)
            .fails_challenge(&found);
        m.passkeys
            .expect_claimed_user()
            .times(1)
            .returning(move |_| {
                claimed.ok_or_else(|| SecondFactorError::Rejected("no user handle".into()))
            });
        m.users.expect_find_by_id().returning(|_| Ok(None));
        m.passkeys.expect_finish_authentication().never();
        m.users.expect_record_failed_login().never();
        m.sessions.expect_open_with_challenge().never();
        let err = finishes(m).await;
        assert!(matches!(err, Err(MfaError::InvalidCredentials)), "{err:?}");
    }
}

/// A rejected assertion fails the challenge and is audited, but is not counted toward
/// the password lockout.
#[tokio::test]
async fn a_rejected_assertion_is_invalid_credentials() {
    let u = user();
    let pk = passkey_of(u.id);
    let found = passkey_login();
    let mut m = claimed_by(&u, &pk, &found)
        .fails_challenge(&found)
        .audit(1, |e| {
            assert_eq!(e.action, "mfa.verify");
            assert!(!e.success);
            assert_eq!(e.details["purpose"], "passkey_login");
            assert_eq!(e.details["reason"], "invalid_credentials");
        });
    m.passkeys
        .expect_finish_authentication()
        .times(1)
        .returning(|_, _, _| Err(SecondFactorError::Rejected("bad signature".into())));
    m.mfa.expect_record_passkey_use().never();
    m.users.expect_record_failed_login().never();
    m.sessions.expect_open_with_challenge().never();
    let err = finishes(m).await;
    assert!(matches!(err, Err(MfaError::InvalidCredentials)), "{err:?}");
}

/// A user with no passkey left cannot be proven by one, whatever the assertion says.
#[tokio::test]
async fn a_user_without_passkeys_is_invalid_credentials() {
    let u = user();
    let found = passkey_login();
    let mut m = claimed_by(&u, &passkey_of(u.id), &found)
        .fails_challenge(&found)
        .audit(1, |e| assert!(!e.success));
    m.factors = MfaFactors::default();
    m.passkeys.expect_finish_authentication().never();
    m.sessions.expect_open_with_challenge().never();
    let err = finishes(m).await;
    assert!(matches!(err, Err(MfaError::InvalidCredentials)), "{err:?}");
}

#[tokio::test]
async fn a_suspended_user_is_refused_after_the_passkey_checks_out() {
    let mut u = user();
    u.status = UserStatus::Suspended;
    let pk = passkey_of(u.id);
    let found = passkey_login();
    let mut m = claimed_by(&u, &pk, &found)
        .asserts(vec![pk.clone()], vec![5])
        .records_passkey_use(pk.id)
        .audit(1, |e| {
            assert_eq!(e.action, "auth.login");
            assert_eq!(e.details["reason"], "account_disabled");
        });
    m.sessions.expect_open_with_challenge().never();
    let err = finishes(m).await;
    assert!(matches!(err, Err(MfaError::AccountDisabled)), "{err:?}");
}

#[tokio::test]
async fn an_unverified_email_is_refused_when_the_policy_asks_for_one() {
    let mut u = user();
    u.email_verified = false;
    let pk = passkey_of(u.id);
    let found = passkey_login();
    let mut m = claimed_by(&u, &pk, &found)
        .asserts(vec![pk.clone()], vec![5])
        .records_passkey_use(pk.id)
        .audit(1, |e| assert_eq!(e.details["reason"], "email_not_verified"));
    m.sessions.expect_open_with_challenge().never();
    let policy = AuthPolicy {
        require_verified_email: true,
        ..POLICY
    };
    let err = m
        .service(policy)
        .finish_passkey_login(&challenge_token(), assertion_response(), &client())
        .await;
    assert!(matches!(err, Err(MfaError::EmailNotVerified)), "{err:?}");
}

#[tokio::test]
async fn a_right_passkey_opens_a_session_of_method_webauthn_without_a_password() {
    let u = user();
    let pk = passkey_of(u.id);
    let found = passkey_login();
    let (cid, uid) = (found.id, u.id);
    let m = claimed_by(&u, &pk, &found)
        .issues_tok()
        .asserts(vec![pk.clone()], vec![5])
        .records_passkey_use(pk.id)
        .opens_with_challenge(&u, move |(id, new, first)| {
            *id == cid && opens_for(new, uid, &[AuthMethod::Webauthn]) && first.is_none()
        })
        .audit(2, |e| assert!(e.success));
    let trail = m.trail.clone();
    let ok = finishes(m).await.unwrap();
    assert_eq!(ok.token.expose(), "tok");
    assert_eq!(
        audited(&trail),
        pairs(&[("mfa.verify", true), ("auth.login", true)])
    );
    let entries = trail.entries();
    assert_eq!(entries[0].details["purpose"], "passkey_login");
    assert_eq!(entries[1].user_id, Some(uid));
    assert_eq!(entries[1].details["methods"], names(&["webauthn"]));
}

#[tokio::test]
async fn finishing_with_an_unknown_token_is_invalid_token() {
    let mut m = Mocks::default()
        .allow_all()
        .finds_no_challenge()
        .counts_nothing();
    m.passkeys.expect_claimed_user().never();
    let err = finishes(m).await;
    assert!(matches!(err, Err(MfaError::InvalidToken)), "{err:?}");
}

/// A passkey alone turns MFA on: the password login asks for it.
#[tokio::test]
async fn a_password_login_of_an_account_with_only_a_passkey_asks_for_it() {
    let u = user();
    let pk = passkey_of(u.id);
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert_eq!(e.details["reason"], "mfa_required"))
        .finds(u)
        .verifies(MATCHES)
        .issues_tok();
    m.factors = passkey_only(pk, 2);
    m.passkeys
        .expect_start_authentication()
        .times(1)
        .returning(|_| Ok(ceremony()));
    m.challenges
        .expect_create()
        .times(1)
        .withf(|c| c.kind == ChallengeKind::MfaLogin && c.webauthn_state.as_deref() == Some("st"))
        .returning(|stored| {
            Ok(Challenge {
                id: auth_ports::ChallengeId::new(),
                stored,
                failures: 0,
            })
        });
    m.sessions.expect_open_at_login().never();
    let outcome = m
        .service(POLICY)
        .login("ada@example.com", &password("the right one!"), &client())
        .await;
    let Ok(LoginOutcome::MfaRequired(issued)) = outcome else {
        panic!("no challenge: {outcome:?}");
    };
    assert_eq!(
        issued.methods,
        [AuthMethod::Webauthn, AuthMethod::RecoveryCode]
    );
}
