//! A login of an account with MFA on: the challenge a right password gets, and
//! answering it (`verify_mfa`), against mocked ports.

use super::mfa_support::*;
use super::*;
use auth_ports::{AuthMethod, Challenge, ChallengeKind, LoginSource, RecoveryCode};
use serde_json::json;

/// Ada logs in with her right password and gets what `m` makes of it.
async fn ada_signs_in(m: Mocks) -> Result<LoginOutcome, LoginError> {
    m.service(POLICY)
        .login("ada@example.com", &password("the right one!"), &client())
        .await
}

/// Ada answers her login's challenge with `answer` from the test client.
async fn ada_answers(m: Mocks, answer: FactorAnswer) -> Result<LoginSuccess, MfaError> {
    ada_answers_from(m, answer, &client()).await
}

async fn ada_answers_from(
    m: Mocks,
    answer: FactorAnswer,
    from: &ClientInfo,
) -> Result<LoginSuccess, MfaError> {
    m.service(POLICY)
        .verify_mfa(&challenge_token(), answer, from)
        .await
}

/// Mocks for a second step of Ada's login: limits allow, the challenge `found` is live,
/// Ada is found (by id and for login from the challenge's source) as `u`, with
/// `factors`.
fn second_step(u: &User, found: &Challenge, factors: MfaFactors) -> Mocks {
    let mut m = Mocks::default()
        .allow_all()
        .finds_challenge(found)
        .finds_by_id(u);
    m.factors = factors;
    let found = u.clone();
    m.users
        .expect_find_for_login()
        .withf(|email, source| email.as_str() == "ada@example.com" && source == "192.0.2.9")
        .returning(move |_, _| {
            let mut account = found_by_login(found.clone());
            account.source_failures = 2;
            Ok(Some(account))
        });
    m
}

#[tokio::test]
async fn a_right_password_of_an_account_with_mfa_gets_a_challenge_and_no_session() {
    let u = user();
    let pk = passkey_of(u.id);
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| {
            assert_eq!(e.action, "auth.login");
            assert!(!e.success);
            assert_eq!(e.details["reason"], "mfa_required");
        })
        .finds(u.clone())
        .verifies(MATCHES)
        .issues_tok();
    m.factors = MfaFactors {
        totp: Some(totp(true)),
        passkeys: vec![pk.clone()],
        recovery_codes_left: 4,
    };
    let keys = vec![pk];
    m.passkeys
        .expect_start_authentication()
        .times(1)
        .withf(move |given| given == keys)
        .returning(|_| Ok(ceremony()));
    let id = u.id;
    m.challenges
        .expect_create()
        .times(1)
        .withf(move |c| {
            c.kind == ChallengeKind::MfaLogin
                && c.token_hash == TokenHash([1; 32])
                && c.user_id == Some(id)
                && c.session_id.is_none()
                && c.password_hash.as_ref().map(PasswordHash::expose) == Some("stored-hash")
                && c.login_source.as_deref() == Some("192.0.2.9")
                && c.webauthn_state.as_deref() == Some("st")
                && c.created_at == t0()
                && c.expires_at == t0() + chrono::Duration::minutes(5)
        })
        .returning(|stored| {
            Ok(Challenge {
                id: auth_ports::ChallengeId::new(),
                stored,
                failures: 0,
            })
        });
    m.sessions.expect_open_at_login().never();
    m.sessions.expect_open_with_challenge().never();
    let Ok(LoginOutcome::MfaRequired(issued)) = ada_signs_in(m).await else {
        panic!("no challenge");
    };
    assert_eq!(issued.token.expose(), "tok");
    assert_eq!(issued.expires_at, t0() + chrono::Duration::minutes(5));
    assert_eq!(
        issued.methods,
        [
            AuthMethod::Totp,
            AuthMethod::Webauthn,
            AuthMethod::RecoveryCode
        ]
    );
    assert_eq!(issued.webauthn, Some(json!({"challenge": "c"})));
}

/// Without passkeys there is no ceremony; without recovery codes, no such method.
#[tokio::test]
async fn a_challenge_without_passkeys_offers_no_webauthn() {
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert_eq!(e.details["reason"], "mfa_required"))
        .finds(user())
        .verifies(MATCHES)
        .issues_tok();
    m.factors = totp_on(0);
    m.passkeys.expect_start_authentication().never();
    m.challenges
        .expect_create()
        .times(1)
        .withf(|c| c.webauthn_state.is_none() && c.login_source.is_some())
        .returning(|stored| {
            Ok(Challenge {
                id: auth_ports::ChallengeId::new(),
                stored,
                failures: 0,
            })
        });
    m.sessions.expect_open_at_login().never();
    let Ok(LoginOutcome::MfaRequired(issued)) = ada_signs_in(m).await else {
        panic!("no challenge");
    };
    assert_eq!(issued.methods, [AuthMethod::Totp]);
    assert_eq!(issued.webauthn, None);
}

/// A pending TOTP and recovery codes alone leave MFA off: the password opens a session
/// of method password, audited with its id and methods.
#[tokio::test]
async fn without_a_second_factor_the_password_opens_a_session() {
    let u = user();
    let id = u.id;
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| {
            assert_eq!(e.action, "auth.login");
            assert!(e.success);
            assert_eq!(e.details["methods"], names(&["password"]));
            assert!(e.details["session_id"].is_string());
        })
        .finds(u.clone())
        .verifies(MATCHES)
        .issues_tok();
    m.factors = MfaFactors {
        totp: Some(totp(false)),
        passkeys: vec![],
        recovery_codes_left: 10,
    };
    m.challenges.expect_create().never();
    let trail = m.trail.clone();
    m.sessions
        .expect_open_at_login()
        .times(1)
        .withf(move |new, _, _, _| opens_for(new, id, &[AuthMethod::Password]))
        .returning(move |new, _, _, audit| {
            let mut opened = session(&u);
            opened.auth_methods = new.auth_methods;
            let session = trail.write(audit, opened)?;
            let user = u.clone();
            Ok(Some(OpenedSession { session, user }))
        });
    let outcome = ada_signs_in(m).await;
    assert!(
        matches!(outcome, Ok(LoginOutcome::SignedIn(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_right_totp_code_opens_the_session_with_the_challenge() {
    let u = user();
    let found = mfa_login_of(&u, false);
    let (cid, uid) = (found.id, u.id);
    let m = second_step(&u, &found, totp_on(3))
        .issues_tok()
        .totp_code(uid, "123456", Some(101))
        .uses_step(uid, 101, true)
        .opens_with_challenge(&u, move |(id, new, first)| {
            *id == cid
                && opens_for(new, uid, &[AuthMethod::Password, AuthMethod::Totp])
                && *first
                    == Some((
                        PasswordHash::new("stored-hash".into()),
                        LoginSource {
                            key: "192.0.2.9".into(),
                            failures: 2,
                        },
                    ))
        })
        .audit(2, |e| assert!(e.success));
    let trail = m.trail.clone();
    let ok = ada_answers(m, FactorAnswer::Totp("123456".into()))
        .await
        .unwrap();
    assert_eq!(ok.token.expose(), "tok");
    assert_eq!(
        ok.session.auth_methods,
        [AuthMethod::Password, AuthMethod::Totp]
    );
    let entries = trail.entries();
    assert_eq!(entries[0].action, "mfa.verify");
    assert_eq!(entries[0].details["method"], "totp");
    assert_eq!(entries[0].details["purpose"], "login");
    assert_eq!(entries[1].action, "auth.login");
    assert_eq!(entries[1].user_id, Some(uid));
    assert_eq!(entries[1].details["methods"], names(&["password", "totp"]));
    assert_eq!(
        entries[1].details["session_id"],
        ok.session.id.to_string().as_str()
    );
}

/// A wrong code counts on the challenge and, from the challenge's source (not the
/// address that answers), toward the lockout.
#[tokio::test]
async fn a_wrong_totp_code_is_counted_like_a_wrong_password() {
    let u = user();
    let found = mfa_login_of(&u, false);
    let uid = u.id;
    let mut m = second_step(&u, &found, totp_on(3))
        .totp_code(uid, "000000", None)
        .fails_challenge(&found)
        .audit(1, |e| {
            assert_eq!(e.action, "mfa.verify");
            assert!(!e.success);
            assert_eq!(e.details["reason"], "invalid_credentials");
            assert_eq!(e.details["method"], "totp");
        });
    m.mfa.expect_use_totp_step().never();
    m.sessions.expect_open_with_challenge().never();
    let trail = m.trail.clone();
    m.users
        .expect_record_failed_login()
        .times(1)
        .withf(move |user, source, policy, at, _| {
            *user == uid && source == "192.0.2.9" && *policy == POLICY.lockout && *at == t0()
        })
        .returning(move |_, _, _, _, audit| trail.write(audit, COUNTED_ONCE));
    let elsewhere = ClientInfo {
        ip: Some("198.51.100.7".parse().unwrap()),
        user_agent: None,
    };
    let err = ada_answers_from(m, FactorAnswer::Totp("000000".into()), &elsewhere).await;
    assert!(matches!(err, Err(MfaError::InvalidCredentials)), "{err:?}");
}

#[tokio::test]
async fn the_wrong_code_that_locks_audits_the_lockout_and_one_after_answers_locked() {
    let until = t0() + chrono::Duration::minutes(15);
    for (outcome, expected) in [
        (
            locks_the_source(until),
            pairs(&[("mfa.verify", false), ("auth.lockout", true)]),
        ),
        (
            FailedLogin::AlreadyLocked { until },
            pairs(&[("mfa.verify", false)]),
        ),
    ] {
        let u = user();
        let found = mfa_login_of(&u, false);
        let m = second_step(&u, &found, totp_on(3))
            .totp_code(u.id, "000000", None)
            .fails_challenge(&found)
            .records_failure(u.id, outcome)
            .audit(expected.len(), |_| {});
        let trail = m.trail.clone();
        let err = ada_answers(m, FactorAnswer::Totp("000000".into())).await;
        assert_eq!(audited(&trail), expected);
        match outcome {
            FailedLogin::Counted { .. } => {
                assert!(matches!(err, Err(MfaError::InvalidCredentials)), "{err:?}");
            }
            FailedLogin::AlreadyLocked { .. } => {
                assert!(
                    matches!(err, Err(MfaError::AccountLocked { until: u }) if u == until),
                    "{err:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_replayed_totp_code_is_wrong() {
    let u = user();
    let found = mfa_login_of(&u, false);
    let m = second_step(&u, &found, totp_on(3))
        .totp_code(u.id, "123456", Some(100))
        .uses_step(u.id, 100, false)
        .fails_challenge(&found)
        .records_failure(u.id, COUNTED_ONCE)
        .audit(1, |e| {
            assert_eq!(e.details["reason"], "invalid_credentials")
        });
    let err = ada_answers(m, FactorAnswer::Totp("123456".into())).await;
    assert!(matches!(err, Err(MfaError::InvalidCredentials)), "{err:?}");
}

#[tokio::test]
async fn an_unknown_or_expired_token_is_invalid_and_counts_nothing() {
    let mut m = Mocks::default()
        .allow_all()
        .finds_no_challenge()
        .counts_nothing();
    m.users.expect_find_by_id().never();
    m.totp.expect_check().never();
    let err = ada_answers(m, FactorAnswer::Totp("123456".into())).await;
    assert!(matches!(err, Err(MfaError::InvalidToken)), "{err:?}");
}

#[tokio::test]
async fn a_locked_account_is_refused_before_the_code_is_checked() {
    let mut u = user();
    let until = t0() + chrono::Duration::minutes(10);
    u.locked_until = Some(until);
    let found = mfa_login_of(&u, false);
    let mut m = second_step(&u, &found, totp_on(3))
        .counts_nothing()
        .audit(1, |e| {
            assert_eq!(e.action, "mfa.verify");
            assert_eq!(e.details["reason"], "account_locked");
        });
    m.totp.expect_check().never();
    let err = ada_answers(m, FactorAnswer::Totp("123456".into())).await;
    assert!(
        matches!(err, Err(MfaError::AccountLocked { until: u }) if u == until),
        "{err:?}"
    );
}

/// A recovery code when none is left, a passkey when there is none: `Invalid`, and
/// nothing is used up or counted.
#[tokio::test]
async fn a_method_the_account_lacks_is_invalid() {
    for answer in [
        FactorAnswer::RecoveryCode(RecoveryCode::new("aaaa-bbbb-cccc-dddd".into())),
        FactorAnswer::Webauthn(assertion_response()),
    ] {
        let u = user();
        let found = mfa_login_of(&u, false);
        let mut m = second_step(&u, &found, totp_on(0)).counts_nothing();
        m.mfa.expect_use_recovery_code().never();
        m.passkeys.expect_finish_authentication().never();
        let err = ada_answers(m, answer).await;
        assert!(
            matches!(&err, Err(MfaError::Invalid(fields)) if fields.fields().contains_key("method")),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn a_recovery_code_is_used_up_and_says_how_many_are_left() {
    let u = user();
    let found = mfa_login_of(&u, false);
    let uid = u.id;
    let mut m = second_step(&u, &found, totp_on(3))
        .issues_tok()
        .opens_with_challenge(&u, move |(_, new, first)| {
            opens_for(new, uid, &[AuthMethod::Password, AuthMethod::RecoveryCode])
                && first.is_some()
        })
        .audit(3, |e| assert!(e.success));
    m.tokens
        .expect_hash_recovery_code()
        .times(1)
        .withf(|code| code.expose() == "aaaa-bbbb-cccc-dddd")
        .returning(|_| TokenHash([4; 32]));
    let trail = m.trail.clone();
    m.mfa
        .expect_use_recovery_code()
        .times(1)
        .withf(move |user, hash, at, _| *user == uid && *hash == TokenHash([4; 32]) && *at == t0())
        .returning(move |_, _, _, audit| trail.write(audit, 2).map(Some));
    let trail = m.trail.clone();
    let code = RecoveryCode::new("aaaa-bbbb-cccc-dddd".into());
    ada_answers(m, FactorAnswer::RecoveryCode(code))
        .await
        .unwrap();
    let entries = trail.entries();
    assert_eq!(
        audited(&trail),
        pairs(&[
            ("mfa.recovery_used", true),
            ("mfa.verify", true),
            ("auth.login", true)
        ])
    );
    assert_eq!(entries[0].details["remaining"], 2);
    assert_eq!(entries[1].details["method"], "recovery_code");
    assert_eq!(
        entries[2].details["methods"],
        names(&["password", "recovery_code"])
    );
}

#[tokio::test]
async fn a_used_recovery_code_is_wrong() {
    let u = user();
    let found = mfa_login_of(&u, false);
    let mut m = second_step(&u, &found, totp_on(3))
        .fails_challenge(&found)
        .records_failure(u.id, COUNTED_ONCE)
        .audit(1, |e| {
            assert_eq!(e.action, "mfa.verify");
            assert_eq!(e.details["method"], "recovery_code");
        });
    m.tokens
        .expect_hash_recovery_code()
        .returning(|_| TokenHash([4; 32]));
    m.mfa
        .expect_use_recovery_code()
        .times(1)
        .returning(|_, _, _, _| Ok(None));
    m.sessions.expect_open_with_challenge().never();
    let code = RecoveryCode::new("aaaa-bbbb-cccc-dddd".into());
    let err = ada_answers(m, FactorAnswer::RecoveryCode(code)).await;
    assert!(matches!(err, Err(MfaError::InvalidCredentials)), "{err:?}");
}

#[tokio::test]
async fn a_passkey_answer_records_the_new_counter_and_opens_the_session() {
    let u = user();
    let pk = passkey_of(u.id);
    let found = mfa_login_of(&u, true);
    let uid = u.id;
    let m = second_step(&u, &found, passkey_only(pk.clone(), 0))
        .issues_tok()
        .asserts(vec![pk.clone()], vec![5])
        .records_passkey_use(pk.id)
        .opens_with_challenge(&u, move |(_, new, _)| {
            opens_for(new, uid, &[AuthMethod::Password, AuthMethod::Webauthn])
        })
        .audit(2, |e| assert!(e.success));
    let trail = m.trail.clone();
    ada_answers(m, FactorAnswer::Webauthn(assertion_response()))
        .await
        .unwrap();
    assert_eq!(trail.entries()[0].details["method"], "webauthn");
}

/// An assertion that checks out but by a credential that is not one of Ada's counts as
/// wrong, and no passkey use is recorded.
#[tokio::test]
async fn a_passkey_of_someone_else_is_wrong() {
    let u = user();
    let pk = passkey_of(u.id);
    let found = mfa_login_of(&u, true);
    let mut m = second_step(&u, &found, passkey_only(pk.clone(), 0))
        .asserts(vec![pk], vec![6])
        .fails_challenge(&found)
        .records_failure(u.id, COUNTED_ONCE)
        .audit(1, |e| assert!(!e.success));
    m.mfa.expect_record_passkey_use().never();
    m.sessions.expect_open_with_challenge().never();
    let err = ada_answers(m, FactorAnswer::Webauthn(assertion_response())).await;
    assert!(matches!(err, Err(MfaError::InvalidCredentials)), "{err:?}");
}

/// A right answer whose challenge was used up concurrently: the session is not opened
/// and the token is reported invalid, with no entry.
#[tokio::test]
async fn a_challenge_used_up_meanwhile_is_an_invalid_token() {
    let u = user();
    let found = mfa_login_of(&u, false);
    let mut m = Mocks::default();
    m.tokens.expect_hash().returning(|_| CHALLENGE_HASH);
    let first = found.clone();
    m.challenges
        .expect_find_live()
        .times(1)
        .returning(move |_, _, _| Ok(Some(first.clone())));
    m.challenges
        .expect_find_live()
        .times(1)
        .withf(|hash, kind, _| *hash == CHALLENGE_HASH && *kind == ChallengeKind::MfaLogin)
        .returning(|_, _, _| Ok(None));
    let mut m = m.allow_all().finds_by_id(&u).issues_tok();
    m.factors = totp_on(3);
    m.users
        .expect_find_for_login()
        .times(1)
        .returning(|_, _| Ok(Some(found_by_login(user()))));
    m.sessions
        .expect_open_with_challenge()
        .times(1)
        .returning(|_, _, _, _| Ok(None));
    let m = m
        .totp_code(u.id, "123456", Some(101))
        .uses_step(u.id, 101, true);
    let err = ada_answers(m, FactorAnswer::Totp("123456".into())).await;
    assert!(matches!(err, Err(MfaError::InvalidToken)), "{err:?}");
}

/// A right answer whose challenge is still live but whose account was suspended since
/// the password: refused as a login would be, and audited so.
#[tokio::test]
async fn a_refused_opening_with_the_challenge_live_says_why() {
    let u = user();
    let found = mfa_login_of(&u, false);
    let mut m = Mocks::default()
        .allow_all()
        .finds_challenge(&found)
        .finds_by_id(&u)
        .issues_tok()
        .totp_code(u.id, "123456", Some(101))
        .uses_step(u.id, 101, true)
        .audit(1, |e| {
            assert_eq!(e.action, "auth.login");
            assert_eq!(e.details["reason"], "account_disabled");
        });
    m.factors = totp_on(3);
    let reads = std::sync::atomic::AtomicUsize::new(0);
    m.users
        .expect_find_for_login()
        .times(2)
        .returning(move |_, _| {
            let mut found = user();
            if reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0 {
                found.status = UserStatus::Suspended;
            }
            Ok(Some(found_by_login(found)))
        });
    m.sessions
        .expect_open_with_challenge()
        .times(1)
        .returning(|_, _, _, _| Ok(None));
    let err = ada_answers(m, FactorAnswer::Totp("123456".into())).await;
    assert!(matches!(err, Err(MfaError::AccountDisabled)), "{err:?}");
}

#[tokio::test]
async fn the_second_step_is_rate_limited_before_anything() {
    let mut m = Mocks::default().limits("mfa:ip:192.0.2.9", 30);
    m.tokens.expect_hash().never();
    m.challenges.expect_find_live().never();
    m.totp.expect_check().never();
    let err = ada_answers(m, FactorAnswer::Totp("123456".into())).await;
    assert!(
        matches!(err, Err(MfaError::RateLimited { retry_after }) if retry_after.as_secs() == 30),
        "{err:?}"
    );
}

/// The account's login limit applies too, before the code is checked.
#[tokio::test]
async fn the_second_step_counts_against_the_accounts_login_limit() {
    let u = user();
    let found = mfa_login_of(&u, false);
    let mut m = Mocks::default()
        .limits("login:account:ada@example.com", 9)
        .allow_all()
        .finds_challenge(&found)
        .finds_by_id(&u)
        .counts_nothing();
    m.users.expect_find_for_login().never();
    m.totp.expect_check().never();
    let err = ada_answers(m, FactorAnswer::Totp("123456".into())).await;
    assert!(matches!(err, Err(MfaError::RateLimited { .. })), "{err:?}");
}
