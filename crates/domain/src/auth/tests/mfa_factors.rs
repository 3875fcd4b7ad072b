//! Managing one's second factors (TOTP, recovery codes, passkeys) against mocked ports.

use super::mfa_support::*;
use super::*;
use auth_ports::{
    AuthMethod, Challenge, ChallengeKind, Constraint, NewTotpSecret, Passkey, PasskeyId,
    RecoveryCode, RegisteredCredential, SecondFactorError, TotpSecret,
};

/// Every recovery code made is `code-<n>`, hashed to `[n; 32]`; expects `times` of them.
fn makes_recovery_codes(m: &mut Mocks, times: usize) {
    let made = std::sync::atomic::AtomicU8::new(0);
    m.tokens
        .expect_recovery_code()
        .times(times)
        .returning(move || {
            let n = made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            RecoveryCode::new(format!("code-{n}"))
        });
    m.tokens
        .expect_hash_recovery_code()
        .times(times)
        .returning(|code| {
            let n: u8 = code.expose().trim_start_matches("code-").parse().unwrap();
            TokenHash([n; 32])
        });
}

/// The hashes of `code-0` to `code-9`, made at `t0`.
fn ten_codes() -> auth_ports::RecoveryCodeSet {
    auth_ports::RecoveryCodeSet {
        hashes: (0..10).map(|n| TokenHash([n; 32])).collect(),
        created_at: t0(),
    }
}

fn exposed(codes: &[RecoveryCode]) -> Vec<String> {
    codes.iter().map(|c| c.expose().to_owned()).collect()
}

/// A pending TOTP, and `codes` recovery codes left.
fn pending_totp(codes: u32) -> MfaFactors {
    MfaFactors {
        totp: Some(totp(false)),
        passkeys: vec![],
        recovery_codes_left: codes,
    }
}

/// A passkey registration challenge of the session `session`.
fn registration_for(session: SessionId) -> Challenge {
    let mut found = challenge(ChallengeKind::PasskeyRegistration);
    found.stored.session_id = Some(session);
    found.stored.webauthn_state = Some("st".into());
    found
}

/// The browser made credential `[8]` for the registration `st`.
fn registers(m: &mut Mocks) {
    m.passkeys
        .expect_finish_registration()
        .times(1)
        .withf(|state, response| state == "st" && *response == assertion_response())
        .returning(|_, _| {
            Ok(RegisteredCredential {
                credential_id: vec![8],
                data: "record".into(),
            })
        });
}

/// The registration's challenge is used up (once).
fn consumes(m: &mut Mocks, found: &Challenge) {
    m.challenges
        .expect_consume()
        .times(1)
        .with(eq(found.id))
        .returning(|_| Ok(true));
}

async fn finish_registration(
    m: Mocks,
    p: &Principal,
    name: &str,
) -> Result<RegisteredPasskey, MfaError> {
    m.service(POLICY)
        .finish_passkey_registration(
            p,
            &challenge_token(),
            name,
            &assertion_response(),
            &client(),
        )
        .await
}

/// Every change to one's factors is refused from a session authenticated too long ago,
/// and nothing is begun, checked or written.
#[tokio::test]
async fn every_change_needs_a_recent_authentication() {
    let mut m = Mocks::default();
    m.totp.expect_generate().never();
    m.totp.expect_check().never();
    m.mfa.expect_begin_totp().never();
    m.mfa.expect_confirm_totp().never();
    m.mfa.expect_remove_totp().never();
    m.mfa.expect_replace_recovery_codes().never();
    m.mfa.expect_add_passkey().never();
    m.mfa.expect_remove_passkey().never();
    m.passkeys.expect_start_registration().never();
    m.passkeys.expect_finish_registration().never();
    m.challenges.expect_create().never();
    m.challenges.expect_find_live().never();
    m.challenges.expect_consume().never();
    let service = m.service(POLICY);
    let mut p = principal();
    let window = chrono::Duration::from_std(STEP_UP_WINDOW).unwrap();
    p.session.authenticated_at = t0() - window - chrono::Duration::seconds(1);
    let c = client();
    let token = challenge_token();
    let response = assertion_response();
    let stale = |r: Result<(), MfaError>| matches!(r, Err(MfaError::ReauthenticationRequired(_)));
    assert!(stale(service.begin_totp(&p).await.map(drop)));
    assert!(stale(
        service.confirm_totp(&p, "123456", &c).await.map(drop)
    ));
    assert!(stale(service.disable_totp(&p, &c).await));
    assert!(stale(
        service.regenerate_recovery_codes(&p, &c).await.map(drop)
    ));
    assert!(stale(
        service.begin_passkey_registration(&p).await.map(drop)
    ));
    let finished = service.finish_passkey_registration(&p, &token, "key", &response, &c);
    assert!(stale(finished.await.map(drop)));
    assert!(stale(
        service.remove_passkey(&p, PasskeyId::new(), &c).await
    ));
}

#[tokio::test]
async fn beginning_totp_without_a_sealing_key_is_not_configured() {
    let mut m = Mocks::default();
    m.mfa.expect_begin_totp().never();
    let mut service = m.service(POLICY);
    service.ports.second_factors.totp = None;
    let err = service.begin_totp(&principal()).await;
    assert!(matches!(err, Err(MfaError::NotConfigured)), "{err:?}");
}

#[tokio::test]
async fn beginning_totp_stores_the_sealed_secret_and_shows_it_once() {
    let p = principal();
    let uid = p.user.id;
    let mut m = Mocks::default();
    m.totp
        .expect_generate()
        .times(1)
        .withf(move |user, email| *user == uid && email.as_str() == "ada@example.com")
        .returning(|_, _| NewTotpSecret {
            sealed: vec![1, 2],
            secret: TotpSecret::new("JBSWY3DP".into()),
            otpauth_uri: TotpSecret::new("otpauth://totp/authd:ada".into()),
        });
    m.mfa
        .expect_begin_totp()
        .times(1)
        .with(eq(uid), eq(vec![1, 2]), eq(t0()))
        .returning(|_, _, _| Ok(()));
    let made = m.service(POLICY).begin_totp(&p).await.unwrap();
    assert_eq!(made.secret.expose(), "JBSWY3DP");
    assert_eq!(made.otpauth_uri.expose(), "otpauth://totp/authd:ada");
}

#[tokio::test]
async fn beginning_totp_over_a_confirmed_one_is_totp_enrolled() {
    let mut m = Mocks::default();
    m.totp.expect_generate().returning(|_, _| NewTotpSecret {
        sealed: vec![1],
        secret: TotpSecret::new("s".into()),
        otpauth_uri: TotpSecret::new("u".into()),
    });
    m.mfa
        .expect_begin_totp()
        .times(1)
        .returning(|_, _, _| Err(StoreError::Conflict(Constraint::TotpEnrolled)));
    let err = m.service(POLICY).begin_totp(&principal()).await;
    assert!(matches!(err, Err(MfaError::TotpEnrolled)), "{err:?}");
}

/// A wrong code when confirming is a validation error, not a failed login: nothing is
/// counted or written.
#[tokio::test]
async fn confirming_with_a_wrong_code_is_invalid_and_not_counted() {
    let p = principal();
    let mut m = Mocks::default().totp_code(p.user.id, "000000", None);
    m.factors = pending_totp(0);
    m.mfa.expect_confirm_totp().never();
    m.users.expect_record_failed_login().never();
    m.tokens.expect_recovery_code().never();
    let err = m
        .service(POLICY)
        .confirm_totp(&p, "000000", &client())
        .await;
    assert!(
        matches!(&err, Err(MfaError::Invalid(fields)) if fields.fields().contains_key("code")),
        "{err:?}"
    );
}

#[tokio::test]
async fn confirming_without_recovery_codes_makes_ten_and_stores_them_with_it() {
    let p = principal();
    let uid = p.user.id;
    let mut m = Mocks::default()
        .totp_code(uid, "123456", Some(42))
        .audit(1, |e| {
            assert_eq!(e.action, "mfa.enroll");
            assert_eq!(e.details["method"], "totp");
        });
    m.factors = pending_totp(0);
    makes_recovery_codes(&mut m, 10);
    let trail = m.trail.clone();
    m.mfa
        .expect_confirm_totp()
        .times(1)
        .withf(move |user, sealed, step, codes, _| {
            *user == uid && sealed == b"sealed" && *step == 42 && *codes == Some(ten_codes())
        })
        .returning(move |_, _, _, _, audit| trail.write(audit, ()).map(|()| true));
    let codes = m
        .service(POLICY)
        .confirm_totp(&p, "123456", &client())
        .await;
    let codes = codes.unwrap().expect("fresh codes");
    let expected: Vec<String> = (0..10).map(|n| format!("code-{n}")).collect();
    assert_eq!(exposed(&codes), expected);
}

#[tokio::test]
async fn confirming_with_recovery_codes_left_makes_none() {
    let p = principal();
    let mut m = Mocks::default()
        .totp_code(p.user.id, "123456", Some(42))
        .audit(1, |e| assert_eq!(e.action, "mfa.enroll"));
    m.factors = pending_totp(3);
    m.tokens.expect_recovery_code().never();
    let trail = m.trail.clone();
    m.mfa
        .expect_confirm_totp()
        .times(1)
        .withf(|_, _, _, codes, _| codes.is_none())
        .returning(move |_, _, _, _, audit| trail.write(audit, ()).map(|()| true));
    let codes = m
        .service(POLICY)
        .confirm_totp(&p, "123456", &client())
        .await;
    assert!(matches!(codes, Ok(None)), "{codes:?}");
}

#[tokio::test]
async fn confirming_what_is_not_pending_says_so() {
    for (factors, replaced_meanwhile) in [
        (MfaFactors::default(), false),
        (totp_on(3), false),
        (pending_totp(3), true),
    ] {
        let p = principal();
        let mut m = Mocks {
            factors: factors.clone(),
            ..Mocks::default()
        };
        if replaced_meanwhile {
            m = m.totp_code(p.user.id, "123456", Some(42));
            m.mfa
                .expect_confirm_totp()
                .times(1)
                .returning(|_, _, _, _, _| Ok(false));
        } else {
            m.totp.expect_check().never();
            m.mfa.expect_confirm_totp().never();
        }
        let err = m
            .service(POLICY)
            .confirm_totp(&p, "123456", &client())
            .await;
        if factors.totp_confirmed() {
            assert!(matches!(err, Err(MfaError::TotpEnrolled)), "{err:?}");
        } else {
            assert!(matches!(err, Err(MfaError::NotFound)), "{err:?}");
        }
    }
}

#[tokio::test]
async fn removing_totp_is_audited_and_missing_totp_is_not_found() {
    for removed in [true, false] {
        let p = principal();
        let uid = p.user.id;
        let mut m = Mocks::default().audit(usize::from(removed), |e| {
            assert_eq!(e.action, "mfa.disable");
            assert_eq!(e.details["method"], "totp");
        });
        let trail = m.trail.clone();
        m.mfa
            .expect_remove_totp()
            .times(1)
            .with(eq(uid), always())
            .returning(move |_, audit| {
                if removed {
                    trail.write(audit, ())?;
                }
                Ok(removed)
            });
        let done = m.service(POLICY).disable_totp(&p, &client()).await;
        if removed {
            assert!(done.is_ok(), "{done:?}");
        } else {
            assert!(matches!(done, Err(MfaError::NotFound)), "{done:?}");
        }
    }
}

#[tokio::test]
async fn regenerating_recovery_codes_without_mfa_is_not_enabled() {
    let mut m = Mocks {
        factors: pending_totp(4),
        ..Mocks::default()
    };
    m.tokens.expect_recovery_code().never();
    m.mfa.expect_replace_recovery_codes().never();
    let err = m
        .service(POLICY)
        .regenerate_recovery_codes(&principal(), &client())
        .await;
    assert!(matches!(err, Err(MfaError::NotEnabled)), "{err:?}");
}

#[tokio::test]
async fn regenerating_recovery_codes_replaces_them_with_ten_fresh_ones() {
    let p = principal();
    let uid = p.user.id;
    let mut m = Mocks::default().audit(1, |e| {
        assert_eq!(e.action, "mfa.enroll");
        assert_eq!(e.details["method"], "recovery_code");
    });
    m.factors = totp_on(1);
    makes_recovery_codes(&mut m, 10);
    let trail = m.trail.clone();
    m.mfa
        .expect_replace_recovery_codes()
        .times(1)
        .with(eq(uid), eq(ten_codes()), always())
        .returning(move |_, _, audit| trail.write(audit, ()));
    let codes = m
        .service(POLICY)
        .regenerate_recovery_codes(&p, &client())
        .await
        .unwrap();
    assert_eq!(codes.len(), RECOVERY_CODES);
}

#[tokio::test]
async fn beginning_a_passkey_registration_excludes_existing_passkeys() {
    let p = principal();
    let pk = passkey_of(p.user.id);
    let (uid, sid) = (p.user.id, p.session.id);
    let mut m = Mocks::default().issues_tok();
    m.factors = passkey_only(pk.clone(), 0);
    m.passkeys
        .expect_start_registration()
        .times(1)
        .withf(move |user, email, existing| {
            *user == uid && email.as_str() == "ada@example.com" && existing == [pk.clone()]
        })
        .returning(|_, _, _| Ok(ceremony()));
    m.challenges
        .expect_create()
        .times(1)
        .withf(move |c| {
            c.kind == ChallengeKind::PasskeyRegistration
                && c.user_id == Some(uid)
                && c.session_id == Some(sid)
                && c.webauthn_state.as_deref() == Some("st")
        })
        .returning(|stored| {
            Ok(Challenge {
                id: auth_ports::ChallengeId::new(),
                stored,
                failures: 0,
            })
        });
    let issued = m.service(POLICY).begin_passkey_registration(&p).await;
    assert_eq!(issued.unwrap().webauthn, Some(ceremony().options));
}

#[tokio::test]
async fn a_registration_begun_by_another_session_is_an_invalid_token() {
    let found = registration_for(SessionId::new());
    let mut m = Mocks::default().finds_challenge(&found);
    m.challenges.expect_consume().never();
    m.passkeys.expect_finish_registration().never();
    m.mfa.expect_add_passkey().never();
    let err = finish_registration(m, &principal(), "laptop").await;
    assert!(matches!(err, Err(MfaError::InvalidToken)), "{err:?}");
}

#[tokio::test]
async fn a_rejected_registration_is_passkey_rejected() {
    let p = principal();
    let found = registration_for(p.session.id);
    let mut m = Mocks::default().finds_challenge(&found);
    consumes(&mut m, &found);
    m.passkeys
        .expect_finish_registration()
        .times(1)
        .returning(|_, _| Err(SecondFactorError::Rejected("wrong origin".into())));
    m.mfa.expect_add_passkey().never();
    let err = finish_registration(m, &p, "laptop").await;
    assert!(
        matches!(&err, Err(MfaError::PasskeyRejected(why)) if why == "wrong origin"),
        "{err:?}"
    );
}

#[tokio::test]
async fn registering_a_credential_twice_is_passkey_registered() {
    let p = principal();
    let found = registration_for(p.session.id);
    let mut m = Mocks::default().finds_challenge(&found);
    m.factors = totp_on(3);
    consumes(&mut m, &found);
    registers(&mut m);
    m.mfa
        .expect_add_passkey()
        .times(1)
        .returning(|_, _, _| Err(StoreError::Conflict(Constraint::PasskeyCredential)));
    let err = finish_registration(m, &p, "laptop").await;
    assert!(matches!(err, Err(MfaError::PasskeyRegistered)), "{err:?}");
}

#[tokio::test]
async fn a_blank_or_long_passkey_name_is_invalid_before_the_challenge() {
    let long = "k".repeat(MAX_PASSKEY_NAME_CHARS + 1);
    for name in ["   ", long.as_str()] {
        let mut m = Mocks::default();
        m.challenges.expect_find_live().never();
        m.challenges.expect_consume().never();
        m.mfa.expect_add_passkey().never();
        let err = finish_registration(m, &principal(), name).await;
        assert!(
            matches!(&err, Err(MfaError::Invalid(fields)) if fields.fields().contains_key("name")),
            "{err:?}"
        );
    }
}

/// The first factor of an account without recovery codes comes with ten.
#[tokio::test]
async fn a_registered_passkey_is_stored_with_fresh_recovery_codes_and_audited() {
    let p = principal();
    let uid = p.user.id;
    let found = registration_for(p.session.id);
    let mut m = Mocks::default().finds_challenge(&found).audit(1, |e| {
        assert_eq!(e.action, "mfa.enroll");
        assert_eq!(e.details["method"], "webauthn");
        assert!(e.details["passkey_id"].is_string());
    });
    consumes(&mut m, &found);
    registers(&mut m);
    makes_recovery_codes(&mut m, 10);
    let trail = m.trail.clone();
    m.mfa
        .expect_add_passkey()
        .times(1)
        .withf(move |new, codes, _| {
            new.user_id == uid
                && new.credential_id == [8]
                && new.name == "work key"
                && new.data == "record"
                && new.created_at == t0()
                && *codes == Some(ten_codes())
        })
        .returning(move |new, _, audit| {
            let stored = Passkey {
                id: PasskeyId::new(),
                user_id: new.user_id,
                credential_id: new.credential_id,
                name: new.name,
                data: new.data,
                created_at: new.created_at,
                last_used_at: None,
            };
            trail.write(audit, stored)
        });
    let trail = m.trail.clone();
    let done = finish_registration(m, &p, "  work key ").await.unwrap();
    assert_eq!(done.passkey.name, "work key");
    assert_eq!(done.recovery_codes.map(|c| c.len()), Some(RECOVERY_CODES));
    let entries = trail.entries();
    assert_eq!(
        entries[0].details["passkey_id"],
        done.passkey.id.to_string().as_str()
    );
}

#[tokio::test]
async fn removing_a_passkey_is_audited_and_one_not_the_callers_is_not_found() {
    for found in [true, false] {
        let p = principal();
        let (uid, id) = (p.user.id, PasskeyId::new());
        let mut m = Mocks::default().audit(usize::from(found), move |e| {
            assert_eq!(e.action, "mfa.disable");
            assert_eq!(e.details["method"], "webauthn");
            assert_eq!(e.details["passkey_id"], id.to_string().as_str());
        });
        let trail = m.trail.clone();
        m.mfa
            .expect_remove_passkey()
            .times(1)
            .with(eq(uid), eq(id), always())
            .returning(move |_, _, audit| {
                if found {
                    trail.write(audit, ())
                } else {
                    Err(StoreError::NotFound)
                }
            });
        let done = m.service(POLICY).remove_passkey(&p, id, &client()).await;
        if found {
            assert!(done.is_ok(), "{done:?}");
        } else {
            assert!(matches!(done, Err(MfaError::NotFound)), "{done:?}");
        }
    }
}

#[tokio::test]
async fn ones_factors_are_read_without_a_step_up() {
    let m = Mocks {
        factors: totp_on(2),
        ..Mocks::default()
    };
    let mut p = principal();
    p.session.authenticated_at = t0() - chrono::Duration::hours(1);
    let factors = m.service(POLICY).factors(&p).await.unwrap();
    assert_eq!(
        factors.methods(),
        [AuthMethod::Totp, AuthMethod::RecoveryCode]
    );
}
