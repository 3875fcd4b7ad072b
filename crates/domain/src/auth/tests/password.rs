//! Changing one's password against mocked ports.

use super::*;
use crate::PasswordCheckError;

#[tokio::test]
async fn change_password_with_a_wrong_current_password_counts_the_failure_and_changes_nothing() {
    let p = principal();
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .audit(1, |e| {
            assert_eq!(e.action, "password.change");
            assert!(!e.success);
        })
        .verifies(Verification::Mismatch)
        .records_failure(p.user.id, COUNTED_ONCE);
    m.hasher.expect_hash().never();
    m.users.expect_change_password().never();
    let err = m
        .change_password(&p, "wrong", "a new long passphrase")
        .await;
    assert!(matches!(
        err,
        Err(ChangePasswordError::Password(
            PasswordCheckError::InvalidCredentials
        ))
    ));
}

/// The failure that locks audits the lockout; one that finds a lock answers locked.
#[tokio::test]
async fn a_wrong_current_password_can_lock_and_then_answers_locked() {
    let until = t0() + chrono::Duration::minutes(15);
    for (outcome, events) in [
        (locks_the_source(until), 2),
        (FailedLogin::AlreadyLocked { until }, 1),
    ] {
        let p = principal();
        let m = Mocks::default()
            .allow_all()
            .finds_the_caller_unlocked()
            .audit(events, |_| {})
            .verifies(Verification::Mismatch)
            .records_failure(p.user.id, outcome);
        let trail = m.trail.clone();
        let err = m
            .change_password(&p, "wrong", "a new long passphrase")
            .await;
        let actions: Vec<_> = trail
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.action.clone())
            .collect();
        match outcome {
            FailedLogin::Counted { .. } => {
                assert!(matches!(
                    err,
                    Err(ChangePasswordError::Password(
                        PasswordCheckError::InvalidCredentials
                    ))
                ));
                assert_eq!(actions, ["password.change", "auth.lockout"]);
            }
            FailedLogin::AlreadyLocked { .. } => {
                assert!(
                    matches!(err, Err(ChangePasswordError::Password(PasswordCheckError::AccountLocked { until: u })) if u == until)
                );
                assert_eq!(actions, ["password.change"]);
            }
        }
    }
}

/// While the caller's source is locked out, no password is checked, right or wrong.
#[tokio::test]
async fn change_password_from_a_locked_source_answers_locked_without_checking() {
    let until = t0() + chrono::Duration::minutes(10);
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert_eq!(e.details["reason"], "account_locked"));
    m.users.expect_find_for_login().returning(move |_, _| {
        let mut found = found_by_login(user());
        found.source_locked_until = Some(until);
        Ok(Some(found))
    });
    m.hasher.expect_verify().never();
    m.users.expect_record_failed_login().never();
    m.users.expect_change_password().never();
    let err = m
        .change_password(&principal(), "current one!", "a new long passphrase")
        .await;
    assert!(
        matches!(err, Err(ChangePasswordError::Password(PasswordCheckError::AccountLocked { until: u })) if u == until)
    );
}

#[tokio::test]
async fn change_password_revokes_every_other_session_and_mails_a_notice() {
    let p = principal();
    let keep = p.session.id;
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .audit(1, |e| assert_eq!(e.action, "password.change"))
        .verifies(MATCHES)
        .hashes_to("new");
    let trail = m.trail.clone();
    m.users
        .expect_change_password()
        .times(1)
        .withf(move |_, change, _, _| {
            change.revoke == RevokeSessions::AllExcept(keep)
                && change.notice.as_ref().is_some_and(|mail| {
                    mail.to.as_str() == "ada@example.com"
                        && mail.subject == "Your password was changed"
                        && mail.text.contains("from 192.0.2.9")
                })
        })
        .returning(move |_, _, _, audit| trail.write(audit, 2));
    m.change_password(&p, "current one!", "a new long passphrase")
        .await
        .unwrap();
}

#[tokio::test]
async fn change_password_enforces_the_policy_on_the_new_one() {
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .verifies(MATCHES);
    m.users.expect_change_password().never();
    let err = m
        .change_password(&principal(), "current one!", "short")
        .await;
    assert!(matches!(err, Err(ChangePasswordError::Invalid(_))));
}

#[tokio::test]
async fn change_password_is_rate_limited_per_account() {
    let mut m = Mocks::default().limits("login:account:ada@example.com", 9);
    m.hasher.expect_verify().never();
    let err = m
        .change_password(&principal(), "guess", "a new long passphrase")
        .await;
    assert!(matches!(
        err,
        Err(ChangePasswordError::Password(
            PasswordCheckError::RateLimited { .. }
        ))
    ));
}
