//! Step-up re-authentication, and the changes that need a recently authenticated
//! session, against mocked ports.

use super::mfa_support::*;
use super::*;
use auth_ports::{AuthMethod, Challenge, ChallengeKind, SecondFactorError};

/// `p` steps up with `answer` from the test client.
async fn steps_up(
    m: Mocks,
    p: &Principal,
    answer: StepUpAnswer,
) -> Result<Reauthenticated, MfaError> {
    m.service(POLICY).reauthenticate(p, answer, &client()).await
}

/// A step-up of `p` with `methods` is recorded on its session at `t0` (`true`: the
/// session is live), with its audit entry when it is.
fn records_step_up(mut m: Mocks, p: &Principal, methods: Vec<AuthMethod>, live: bool) -> Mocks {
    let trail = m.trail.clone();
    m.sessions
        .expect_reauthenticate()
        .times(1)
        .with(eq(p.session.id), eq(t0()), eq(methods), always())
        .returning(move |_, _, _, audit| {
            if live {
                trail.write(audit, ())?;
            }
            Ok(live)
        });
    m
}

/// The caller's session, authenticated a step-up window and one second ago.
fn stale(mut p: Principal) -> Principal {
    let window = chrono::Duration::from_std(STEP_UP_WINDOW).unwrap();
    p.session.authenticated_at = t0() - window - chrono::Duration::seconds(1);
    p
}

/// A passkey step-up challenge for the session `session`.
fn step_up_for(p: &Principal, session: SessionId) -> Challenge {
    let mut found = challenge(ChallengeKind::StepUp);
    found.stored.user_id = Some(p.user.id);
    found.stored.session_id = Some(session);
    found.stored.webauthn_state = Some("st".into());
    found
}

fn webauthn_answer() -> StepUpAnswer {
    StepUpAnswer::Webauthn {
        token: challenge_token(),
        response: assertion_response(),
    }
}

#[tokio::test]
async fn an_account_without_mfa_steps_up_with_its_password() {
    let p = principal();
    let sid = p.session.id;
    let m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .verifies(MATCHES)
        .audit(1, move |e| {
            assert_eq!(e.action, "auth.reauthenticate");
            assert!(e.success);
            assert_eq!(e.details["method"], "password");
            assert_eq!(e.details["session_id"], sid.to_string().as_str());
        });
    let m = records_step_up(m, &p, vec![AuthMethod::Password], true);
    let done = steps_up(m, &p, StepUpAnswer::Password(password("the right one!")))
        .await
        .unwrap();
    assert_eq!(
        done,
        Reauthenticated {
            authenticated_at: t0(),
            methods: vec![AuthMethod::Password]
        }
    );
}

#[tokio::test]
async fn an_account_with_mfa_cannot_step_up_with_its_password() {
    let p = principal();
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .counts_nothing();
    m.factors = totp_on(2);
    m.hasher.expect_verify().never();
    m.sessions.expect_reauthenticate().never();
    let err = steps_up(m, &p, StepUpAnswer::Password(password("the right one!"))).await;
    assert!(
        matches!(&err, Err(MfaError::Invalid(fields)) if fields.fields().contains_key("method")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wrong_password_is_counted_toward_the_lockout() {
    let p = principal();
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .verifies(Verification::Mismatch)
        .records_failure(p.user.id, COUNTED_ONCE)
        .audit(1, |e| {
            assert_eq!(e.action, "auth.reauthenticate");
            assert_eq!(e.details["reason"], "invalid_credentials");
        });
    m.sessions.expect_reauthenticate().never();
    let err = steps_up(m, &p, StepUpAnswer::Password(password("wrong!"))).await;
    assert!(matches!(err, Err(MfaError::InvalidCredentials)), "{err:?}");
}

#[tokio::test]
async fn a_wrong_totp_code_is_counted_and_answers_locked_once_locked() {
    let p = principal();
    let until = t0() + chrono::Duration::minutes(15);
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .totp_code(p.user.id, "000000", None)
        .records_failure(p.user.id, FailedLogin::AlreadyLocked { until })
        .audit(1, |e| {
            assert_eq!(e.action, "mfa.verify");
            assert_eq!(e.details["purpose"], "step_up");
            assert_eq!(e.details["reason"], "account_locked");
        });
    m.factors = totp_on(2);
    m.mfa.expect_use_totp_step().never();
    m.sessions.expect_reauthenticate().never();
    let err = steps_up(m, &p, StepUpAnswer::Totp("000000".into())).await;
    assert!(
        matches!(err, Err(MfaError::AccountLocked { until: u }) if u == until),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_right_totp_code_steps_the_session_up() {
    let p = principal();
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .totp_code(p.user.id, "123456", Some(7))
        .uses_step(p.user.id, 7, true)
        .audit(1, |e| {
            assert_eq!(e.action, "mfa.verify");
            assert!(e.success);
            assert_eq!(e.details["method"], "totp");
            assert_eq!(e.details["purpose"], "step_up");
        });
    m.factors = totp_on(2);
    let m = records_step_up(m, &p, vec![AuthMethod::Totp], true);
    let done = steps_up(m, &p, StepUpAnswer::Totp("123456".into()))
        .await
        .unwrap();
    assert_eq!(done.methods, [AuthMethod::Totp]);
}

#[tokio::test]
async fn a_locked_account_is_refused_before_the_answer_is_checked() {
    let p = principal();
    let until = t0() + chrono::Duration::minutes(10);
    let mut m = Mocks::default()
        .allow_all()
        .counts_nothing()
        .audit(1, |e| assert_eq!(e.details["reason"], "account_locked"));
    m.factors = totp_on(2);
    m.users.expect_find_for_login().returning(move |_, _| {
        let mut found = found_by_login(user());
        found.source_locked_until = Some(until);
        Ok(Some(found))
    });
    m.totp.expect_check().never();
    m.sessions.expect_reauthenticate().never();
    let err = steps_up(m, &p, StepUpAnswer::Totp("123456".into())).await;
    assert!(
        matches!(err, Err(MfaError::AccountLocked { until: u }) if u == until),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_passkey_answer_to_another_sessions_challenge_is_an_invalid_token() {
    let p = principal();
    let found = step_up_for(&p, SessionId::new());
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .finds_challenge(&found)
        .counts_nothing();
    m.factors = passkey_only(passkey_of(p.user.id), 0);
    m.passkeys.expect_finish_authentication().never();
    m.challenges.expect_consume().never();
    m.sessions.expect_reauthenticate().never();
    let err = steps_up(m, &p, webauthn_answer()).await;
    assert!(matches!(err, Err(MfaError::InvalidToken)), "{err:?}");
}

#[tokio::test]
async fn a_right_passkey_answer_uses_the_challenge_up_and_steps_up() {
    let p = principal();
    let pk = passkey_of(p.user.id);
    let found = step_up_for(&p, p.session.id);
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .finds_challenge(&found)
        .asserts(vec![pk.clone()], vec![5])
        .records_passkey_use(pk.id)
        .audit(1, |e| {
            assert_eq!(e.action, "mfa.verify");
            assert_eq!(e.details["method"], "webauthn");
        });
    m.factors = passkey_only(pk, 0);
    m.challenges
        .expect_consume()
        .times(1)
        .with(eq(found.id))
        .returning(|_| Ok(true));
    let m = records_step_up(m, &p, vec![AuthMethod::Webauthn], true);
    let done = steps_up(m, &p, webauthn_answer()).await.unwrap();
    assert_eq!(done.methods, [AuthMethod::Webauthn]);
}

/// Two right answers to one challenge: the one that finds it used up steps nothing up.
#[tokio::test]
async fn a_passkey_challenge_used_up_meanwhile_steps_nothing_up() {
    let p = principal();
    let pk = passkey_of(p.user.id);
    let found = step_up_for(&p, p.session.id);
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .finds_challenge(&found)
        .asserts(vec![pk.clone()], vec![5])
        .records_passkey_use(pk.id);
    m.factors = passkey_only(pk, 0);
    m.challenges
        .expect_consume()
        .times(1)
        .returning(|_| Ok(false));
    m.sessions.expect_reauthenticate().never();
    let err = steps_up(m, &p, webauthn_answer()).await;
    assert!(matches!(err, Err(MfaError::InvalidToken)), "{err:?}");
}

#[tokio::test]
async fn a_rejected_passkey_answer_fails_the_challenge_and_is_counted() {
    let p = principal();
    let found = step_up_for(&p, p.session.id);
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .finds_challenge(&found)
        .fails_challenge(&found)
        .records_failure(p.user.id, COUNTED_ONCE)
        .audit(1, |e| assert!(!e.success));
    m.factors = passkey_only(passkey_of(p.user.id), 0);
    m.passkeys
        .expect_finish_authentication()
        .times(1)
        .returning(|_, _, _| Err(SecondFactorError::Rejected("bad".into())));
    m.challenges.expect_consume().never();
    m.sessions.expect_reauthenticate().never();
    let err = steps_up(m, &p, webauthn_answer()).await;
    assert!(matches!(err, Err(MfaError::InvalidCredentials)), "{err:?}");
}

#[tokio::test]
async fn a_session_that_ended_meanwhile_is_not_stepped_up() {
    let p = principal();
    let m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .verifies(MATCHES);
    let m = records_step_up(m, &p, vec![AuthMethod::Password], false);
    let err = steps_up(m, &p, StepUpAnswer::Password(password("the right one!"))).await;
    assert!(matches!(err, Err(MfaError::SessionEnded)), "{err:?}");
}

#[tokio::test]
async fn step_up_is_rate_limited_per_account() {
    let mut m = Mocks::default().limits("login:account:ada@example.com", 9);
    m.users.expect_find_for_login().never();
    m.hasher.expect_verify().never();
    let err = steps_up(m, &principal(), StepUpAnswer::Totp("1".into())).await;
    assert!(matches!(err, Err(MfaError::RateLimited { .. })), "{err:?}");
}

#[tokio::test]
async fn a_passkey_step_up_challenge_is_bound_to_the_session() {
    let p = principal();
    let pk = passkey_of(p.user.id);
    let (uid, sid) = (p.user.id, p.session.id);
    let mut m = Mocks::default().issues_tok();
    m.factors = passkey_only(pk.clone(), 0);
    m.passkeys
        .expect_start_authentication()
        .times(1)
        .withf(move |given| given == [pk.clone()])
        .returning(|_| Ok(ceremony()));
    m.challenges
        .expect_create()
        .times(1)
        .withf(move |c| {
            c.kind == ChallengeKind::StepUp
                && c.user_id == Some(uid)
                && c.session_id == Some(sid)
                && c.password_hash.is_none()
                && c.webauthn_state.as_deref() == Some("st")
        })
        .returning(|stored| {
            Ok(Challenge {
                id: auth_ports::ChallengeId::new(),
                stored,
                failures: 0,
            })
        });
    let issued = m.service(POLICY).begin_step_up_passkey(&p).await.unwrap();
    assert_eq!(issued.methods, [AuthMethod::Webauthn]);
    assert!(issued.webauthn.is_some());
}

#[tokio::test]
async fn a_passkey_step_up_without_passkeys_is_not_enabled() {
    let mut m = Mocks {
        factors: totp_on(2),
        ..Mocks::default()
    };
    m.passkeys.expect_start_authentication().never();
    m.challenges.expect_create().never();
    let err = m.service(POLICY).begin_step_up_passkey(&principal()).await;
    assert!(matches!(err, Err(MfaError::NotEnabled)), "{err:?}");
}

#[tokio::test]
async fn a_password_change_needs_a_recent_authentication() {
    let mut m = Mocks::default();
    m.limiter.expect_check().never();
    m.hasher.expect_verify().never();
    m.users.expect_change_password().never();
    let err = m
        .change_password(&stale(principal()), "current one!", "a new long passphrase")
        .await;
    assert!(
        matches!(err, Err(ChangePasswordError::ReauthenticationRequired(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn logging_out_everywhere_needs_a_recent_authentication() {
    let mut m = Mocks::default();
    m.sessions.expect_revoke_all_for_user().never();
    let err = m
        .service(POLICY)
        .logout_all(&stale(principal()), &client())
        .await;
    assert!(
        matches!(err, Err(RevokeError::ReauthenticationRequired(_))),
        "{err:?}"
    );
}

/// Authenticated exactly a step-up window ago is recent enough.
#[tokio::test]
async fn the_step_up_window_includes_its_last_second() {
    let mut p = principal();
    let window = chrono::Duration::from_std(STEP_UP_WINDOW).unwrap();
    p.session.authenticated_at = t0() - window;
    let mut m = Mocks::default().audit(1, |e| assert_eq!(e.action, "auth.logout"));
    let trail = m.trail.clone();
    m.sessions
        .expect_revoke_all_for_user()
        .times(1)
        .returning(move |_, _, audit| trail.write(audit, 2));
    m.service(POLICY).logout_all(&p, &client()).await.unwrap();
}

#[tokio::test]
async fn revoking_another_session_needs_a_recent_authentication() {
    let mut m = Mocks::default();
    m.sessions.expect_revoke().never();
    let err = m
        .service(POLICY)
        .revoke_session(&stale(principal()), SessionId::new(), &client())
        .await;
    assert!(
        matches!(err, Err(RevokeError::ReauthenticationRequired(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn revoking_ones_own_session_needs_no_step_up() {
    let p = stale(principal());
    let (uid, sid) = (p.user.id, p.session.id);
    let mut m = Mocks::default().audit(1, |e| assert_eq!(e.action, "session.revoke"));
    let trail = m.trail.clone();
    m.sessions
        .expect_revoke()
        .times(1)
        .with(eq(uid), eq(sid), eq(t0()), always())
        .returning(move |_, _, _, audit| trail.write(audit, ()));
    m.service(POLICY)
        .revoke_session(&p, sid, &client())
        .await
        .unwrap();
}
