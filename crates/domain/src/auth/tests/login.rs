//! Login against mocked ports: limits, lockout, password checks, races with changes
//! made meanwhile.

use super::*;

#[tokio::test]
async fn login_with_unknown_email_returns_invalid_credentials_after_a_dummy_verify() {
    let mut m = Mocks::default().allow_all().audit(1, |e| {
        assert_eq!(e.action, "auth.login");
        assert!(!e.success);
        assert_eq!(e.user_id, None);
        assert_eq!(e.details["reason"], "unknown_email");
    });
    m.users.expect_find_for_login().returning(|_, _| Ok(None));
    m.hasher
        .expect_verify()
        .times(1)
        .withf(|_, hash| hash.is_none())
        .returning(|_, _| Ok(Verification::Mismatch));
    let err = m
        .logs_in(POLICY, "nobody@example.com", "whatever12345")
        .await;
    assert!(matches!(err, Err(LoginError::InvalidCredentials)));
}

#[tokio::test]
async fn login_with_wrong_password_counts_the_failure() {
    let u = user();
    let id = u.id;
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, move |e| {
            assert_eq!(e.user_id, Some(id));
            assert_eq!(e.details["reason"], "invalid_credentials");
        })
        .guesses_wrong(u, COUNTED_ONCE);
    m.sessions.expect_open_at_login().never();
    let err = m.ada_tries("wrong password!").await;
    assert!(matches!(err, Err(LoginError::InvalidCredentials)));
}

#[tokio::test]
async fn the_failure_that_locks_still_answers_invalid_credentials_and_audits_the_lockout() {
    let u = user();
    let actions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = actions.clone();
    let m = Mocks::default()
        .allow_all()
        .audit(2, move |e| {
            seen.lock().unwrap().push((e.action.clone(), e.success));
        })
        .guesses_wrong(u, locks_the_source(t0() + chrono::Duration::minutes(15)));
    let err = m.ada_tries("wrong password!").await;
    assert!(matches!(err, Err(LoginError::InvalidCredentials)));
    assert_eq!(
        *actions.lock().unwrap(),
        [
            ("auth.login".to_owned(), false),
            ("auth.lockout".to_owned(), true)
        ]
    );
}

/// Ada's login answers locked until `until`, audited as such, without her password
/// checked or counted.
async fn ada_is_locked_out_before_her_password(mut m: Mocks, until: DateTime<Utc>) {
    m.hasher.expect_verify().never();
    m.users.expect_record_failed_login().never();
    let m = m.audit(1, |e| assert_eq!(e.details["reason"], "account_locked"));
    let err = m.ada_logs_in().await;
    assert!(matches!(err, Err(LoginError::AccountLocked { until: u }) if u == until));
}

#[tokio::test]
async fn login_while_locked_answers_locked_without_checking_the_password() {
    let mut u = user();
    let until = t0() + chrono::Duration::minutes(10);
    u.locked_until = Some(until);
    let m = Mocks::default().allow_all().finds(u);
    ada_is_locked_out_before_her_password(m, until).await;
}

#[tokio::test]
async fn a_disabled_account_is_reported_only_after_the_right_password() {
    for (verification, expected_disabled) in [(Verification::Mismatch, false), (MATCHES, true)] {
        let mut u = user();
        u.status = UserStatus::Suspended;
        let id = u.id;
        let mut m = Mocks::default()
            .allow_all()
            .audit(1, |_| {})
            .finds(u)
            .verifies(verification);
        if !expected_disabled {
            m = m.records_failure(id, COUNTED_ONCE);
        }
        m.sessions.expect_open_at_login().never();
        let err = m.ada_tries("some password").await;
        if expected_disabled {
            assert!(matches!(err, Err(LoginError::AccountDisabled)), "{err:?}");
        } else {
            assert!(
                matches!(err, Err(LoginError::InvalidCredentials)),
                "{err:?}"
            );
        }
    }
}

#[tokio::test]
async fn login_requires_a_verified_email_when_configured() {
    let mut u = user();
    u.email_verified = false;
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert_eq!(e.details["reason"], "email_not_verified"))
        .finds(u)
        .verifies(MATCHES);
    m.sessions.expect_open_at_login().never();
    let policy = AuthPolicy {
        require_verified_email: true,
        ..POLICY
    };
    let err = m.logs_in(policy, "ada@example.com", "the right one!").await;
    assert!(matches!(err, Err(LoginError::EmailNotVerified)));
}

#[tokio::test]
async fn login_success_opens_a_session_for_the_ttl() {
    let u = user();
    let id = u.id;
    let found = u.clone();
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert!(e.success))
        .finds(found)
        .verifies(MATCHES)
        .issues_tok();
    m.users.expect_change_password().never();
    let mut recorded = u.clone();
    recorded.last_login_at = Some(t0());
    let opened_for = recorded.clone();
    let trail = m.trail.clone();
    m.sessions
        .expect_open_at_login()
        .times(1)
        .withf(move |new, verified, _, _| {
            new.user_id == id
                && new.created_at == t0()
                && new.expires_at == t0() + chrono::Duration::hours(12)
                && new.token_hash == TokenHash([1; 32])
                && verified.expose() == "stored-hash"
        })
        .returning(move |_, _, _, audit| {
            let session = trail.write(audit, session(&opened_for))?;
            let user = opened_for.clone();
            Ok(Some(OpenedSession { session, user }))
        });
    // The user as the login wrote it: no second read.
    m.users.expect_find_by_id().never();
    let ok = m
        .logs_in(POLICY, "ADA@example.com", "the right one!")
        .await
        .unwrap();
    assert_eq!(ok.token.expose(), "tok");
    assert_eq!(ok.user, recorded);
}

#[tokio::test]
async fn login_rehashes_an_outdated_hash() {
    let u = user();
    let found = u.clone();
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |_| {})
        .finds_with_an_outdated_hash(found)
        .issues_tok();
    m.users
        .expect_rehash_password()
        .times(1)
        .withf(|_, expected, new| expected.expose() == "stored-hash" && new.expose() == "new")
        .returning(|_, _, _| Ok(true));
    m.users.expect_change_password().never();
    let trail = m.trail.clone();
    // Opened against the new hash: the one stored now.
    m.sessions
        .expect_open_at_login()
        .times(1)
        .withf(|_, verified, _, _| verified.expose() == "new")
        .returning(move |_, _, _, audit| {
            let session = trail.write(audit, session(&u))?;
            let user = u.clone();
            Ok(Some(OpenedSession { session, user }))
        });
    assert!(m.ada_logs_in().await.is_ok());
}

#[tokio::test]
async fn login_is_rate_limited_per_account_before_the_password() {
    let mut m = Mocks::default();
    m.limiter
        .expect_check()
        .withf(|key, _| key.starts_with("login:ip:"))
        .returning(|_, _| RateDecision::Allowed);
    m.limiter
        .expect_check()
        .withf(|key, _| key == "login:account:ada@example.com")
        .returning(|_, _| RateDecision::Limited {
            retry_after: Duration::from_secs(30),
        });
    m.users.expect_find_for_login().never();
    m.hasher.expect_verify().never();
    let err = m.ada_logs_in().await;
    assert!(matches!(err, Err(LoginError::RateLimited { .. })));
}

#[tokio::test]
async fn an_unavailable_store_is_a_failure_not_a_wrong_password() {
    let mut m = Mocks::default().allow_all();
    m.users
        .expect_find_for_login()
        .returning(|_, _| Err(unavailable()));
    let err = m.ada_logs_in().await;
    assert!(matches!(
        err,
        Err(LoginError::Failure(Failure::Unavailable(_)))
    ));
}

#[tokio::test]
async fn a_saturated_hasher_is_unavailable() {
    let mut m = Mocks::default().allow_all().finds(user());
    m.hasher
        .expect_verify()
        .returning(|_, _| Err(auth_ports::HashError::Busy));
    m.users.expect_record_failed_login().never();
    let err = m.ada_logs_in().await;
    assert!(matches!(
        err,
        Err(LoginError::Failure(Failure::Unavailable(_)))
    ));
}

/// A source locked out of the account is refused before the password, though the
/// account itself is not locked.
#[tokio::test]
async fn login_from_a_locked_source_answers_locked_without_checking_the_password() {
    let until = t0() + chrono::Duration::minutes(10);
    let mut m = Mocks::default().allow_all();
    m.users
        .expect_find_for_login()
        .withf(|_, source| source == "192.0.2.9")
        .returning(move |_, _| {
            let mut found = found_by_login(user());
            found.source_failures = 5;
            found.source_locked_until = Some(until);
            Ok(Some(found))
        });
    ada_is_locked_out_before_her_password(m, until).await;
}

/// The login hands its source and the failures seen from it to `open_at_login`, which
/// refuses while the source is locked and clears those failures.
#[tokio::test]
async fn a_login_opens_its_session_for_its_source() {
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert!(e.success))
        .verifies(MATCHES)
        .issues_tok();
    m.users.expect_find_for_login().returning(|_, _| {
        let mut found = found_by_login(user());
        found.source_failures = 3;
        Ok(Some(found))
    });
    let trail = m.trail.clone();
    m.sessions
        .expect_open_at_login()
        .times(1)
        .withf(|_, _, source, _| source.key == "192.0.2.9" && source.failures == 3)
        .returning(move |_, _, _, audit| {
            let user = user();
            let session = trail.write(audit, session(&user))?;
            Ok(Some(OpenedSession { session, user }))
        });
    assert!(m.ada_logs_in().await.is_ok());
}

/// An account the lookup finds without a second factor logs in without the factors
/// being read: had they been (here they would say TOTP), the answer would be a
/// challenge.
#[tokio::test]
async fn an_account_without_a_second_factor_skips_the_factor_read() {
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert!(e.success))
        .verifies(MATCHES)
        .issues_tok();
    m.factors = super::mfa_support::totp_on(3);
    m.users.expect_find_for_login().returning(|_, _| {
        let mut found = found_by_login(user());
        found.has_second_factor = false;
        Ok(Some(found))
    });
    let trail = m.trail.clone();
    m.sessions
        .expect_open_at_login()
        .times(1)
        .returning(move |_, _, _, audit| {
            let user = user();
            let session = trail.write(audit, session(&user))?;
            Ok(Some(OpenedSession { session, user }))
        });
    assert!(m.ada_logs_in().await.is_ok());
}

#[tokio::test]
async fn a_failure_racing_a_lock_answers_locked() {
    let until = t0() + chrono::Duration::minutes(15);
    let m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert_eq!(e.details["reason"], "account_locked"))
        .guesses_wrong(user(), FailedLogin::AlreadyLocked { until });
    let err = m.ada_tries("wrong one!").await;
    assert!(matches!(err, Err(LoginError::AccountLocked { until: u }) if u == until));
}

/// Mocks for a login whose password matches but whose `open_at_login` is refused
/// (something changed since the check), after which the user reads as `current`; the
/// one audit entry has `reason`.
fn refused_when_opening(reason: &'static str, current: User) -> Mocks {
    let found = user();
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, move |e| assert_eq!(e.details["reason"], reason))
        .verifies(MATCHES)
        .issues_tok();
    // Found as it was at the first read, as it is now at the second.
    let reads = std::sync::atomic::AtomicUsize::new(0);
    m.users
        .expect_find_for_login()
        .times(2)
        .returning(move |_, _| {
            let read = reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let user = if read == 0 { &found } else { &current };
            Ok(Some(found_by_login(user.clone())))
        });
    m.sessions
        .expect_open_at_login()
        .times(1)
        .returning(|_, _, _, _| Ok(None));
    m
}

/// A login whose password was verified just before a password change: matched, then
/// refused by `open_at_login` (the stored hash is no longer the one verified).
#[tokio::test]
async fn a_success_racing_a_password_change_answers_invalid_credentials() {
    let mut changed = user();
    changed.password_hash = Some(PasswordHash::new("someone else's".into()));
    let err = refused_when_opening("invalid_credentials", changed)
        .ada_logs_in()
        .await;
    assert!(
        matches!(err, Err(LoginError::InvalidCredentials)),
        "{err:?}"
    );
}

/// The rehash finds another hash than the one verified: a password change landed in
/// between, and this login opens nothing.
#[tokio::test]
async fn a_rehash_that_finds_a_new_password_opens_no_session() {
    let found = user();
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| {
            assert_eq!(e.details["reason"], "invalid_credentials")
        })
        .finds_with_an_outdated_hash(found);
    m.users
        .expect_rehash_password()
        .times(1)
        .returning(|_, _, _| Ok(false));
    m.sessions.expect_open_at_login().never();
    let err = m.ada_logs_in().await;
    assert!(
        matches!(err, Err(LoginError::InvalidCredentials)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_success_racing_a_lock_answers_locked_and_opens_no_session() {
    let until = t0() + chrono::Duration::minutes(15);
    let mut locked = user();
    locked.locked_until = Some(until);
    let err = refused_when_opening("account_locked", locked)
        .ada_logs_in()
        .await;
    assert!(matches!(err, Err(LoginError::AccountLocked { until: u }) if u == until));
}

/// A login whose password was verified just before an admin suspended the account:
/// refused by `open_at_login` (the account is no longer active).
#[tokio::test]
async fn a_success_racing_a_suspension_answers_account_disabled() {
    let mut suspended = user();
    suspended.status = UserStatus::Suspended;
    let err = refused_when_opening("account_disabled", suspended)
        .ada_logs_in()
        .await;
    assert!(matches!(err, Err(LoginError::AccountDisabled)), "{err:?}");
}

#[test]
fn ipv6_clients_are_one_source_per_64() {
    let client = |ip: &str| ClientInfo {
        ip: Some(ip.parse().unwrap()),
        user_agent: None,
    };
    assert_eq!(
        AuthService::ip_key(&client("2001:db8:1:2:aaaa::1")),
        "2001:db8:1:2::/64"
    );
    assert_eq!(
        AuthService::ip_key(&client("2001:db8:1:2:bbbb::9")),
        "2001:db8:1:2::/64"
    );
    assert_eq!(AuthService::ip_key(&client("192.0.2.1")), "192.0.2.1");
    let ip = "2001:db8:1:2ab::1".parse().unwrap();
    assert_eq!(ipv6_prefix(ip, 56), "2001:db8:1:200::/56");
    assert_eq!(ipv6_prefix(ip, 48), "2001:db8:1::/48");
}

/// An IPv6 login is counted against its /64, /56 and /48, the wider ones with a larger
/// budget, and refused when the /48 is over even though its /64 is not.
#[tokio::test]
async fn ipv6_logins_are_limited_per_64_56_and_48() {
    let mut m = Mocks::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keys = seen.clone();
    m.limiter.expect_check().returning(move |key, limit| {
        keys.lock().unwrap().push((key.to_owned(), limit.max));
        if key.ends_with("/48") {
            RateDecision::Limited {
                retry_after: Duration::from_secs(7),
            }
        } else {
            RateDecision::Allowed
        }
    });
    m.users.expect_find_for_login().never();
    m.hasher.expect_verify().never();
    let client = ClientInfo {
        ip: Some("2001:db8:1:2ab::1".parse().unwrap()),
        user_agent: None,
    };
    let err = m
        .service(POLICY)
        .login("ada@example.com", &password("the right one!"), &client)
        .await;
    assert!(
        matches!(err, Err(LoginError::RateLimited { retry_after }) if retry_after.as_secs() == 7),
        "{err:?}"
    );
    let (f56, f48) = WIDE_PREFIX_FACTORS;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("login:ip:2001:db8:1:2ab::/64".to_owned(), 10),
            ("login:ip:2001:db8:1:200::/56".to_owned(), 10 * f56),
            ("login:ip:2001:db8:1::/48".to_owned(), 10 * f48),
        ]
    );
}
