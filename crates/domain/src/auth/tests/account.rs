//! Deleting one's own account against mocked ports.

use super::*;
use crate::DeleteAccountError;

/// The erasure of the account `id`, answered with `outcome`, its audit entry checked.
fn erases(m: &mut Mocks, id: UserId, outcome: Result<(), StoreError>) {
    m.users
        .expect_erase()
        .times(1)
        .withf(move |erased, placeholder, guarded, _| {
            *erased == id && placeholder.as_str().ends_with("@erased.invalid") && guarded == "admin"
        })
        .return_once(move |_, _, _, audit| {
            let entries = audit(&());
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].action, "user.delete");
            assert_eq!(entries[0].details["via"], "self");
            outcome
        });
}

#[tokio::test]
async fn the_right_password_erases_the_account() {
    let p = principal();
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .verifies(MATCHES);
    erases(&mut m, p.user.id, Ok(()));
    let deleted = m
        .service(POLICY)
        .delete_own_account(&p, Some(&password("right")), &client())
        .await;
    assert!(deleted.is_ok(), "{deleted:?}");
}

#[tokio::test]
async fn a_wrong_or_missing_password_erases_nothing() {
    let p = principal();
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .audit(1, |e| {
            assert_eq!(e.action, "user.delete");
            assert!(!e.success);
        })
        .verifies(Verification::Mismatch)
        .records_failure(p.user.id, COUNTED_ONCE);
    m.users.expect_erase().never();
    let wrong = m
        .service(POLICY)
        .delete_own_account(&p, Some(&password("wrong")), &client())
        .await;
    assert!(
        matches!(
            wrong,
            Err(DeleteAccountError::Password(
                crate::PasswordCheckError::InvalidCredentials
            ))
        ),
        "{wrong:?}"
    );

    let mut m = Mocks::default();
    m.users.expect_erase().never();
    let missing = m
        .service(POLICY)
        .delete_own_account(&p, None, &client())
        .await;
    assert!(
        matches!(missing, Err(DeleteAccountError::Invalid(_))),
        "{missing:?}"
    );
}

#[tokio::test]
async fn an_account_without_a_password_needs_a_recent_sign_in() {
    let mut stale = principal();
    stale.user.password_hash = None;
    stale.session.authenticated_at = t0() - chrono::Duration::hours(1);
    let mut m = Mocks::default();
    m.users.expect_erase().never();
    let refused = m
        .service(POLICY)
        .delete_own_account(&stale, None, &client())
        .await;
    assert!(
        matches!(
            refused,
            Err(DeleteAccountError::ReauthenticationRequired(_))
        ),
        "{refused:?}"
    );

    let mut fresh = principal();
    fresh.user.password_hash = None;
    let mut m = Mocks::default();
    erases(&mut m, fresh.user.id, Ok(()));
    let deleted = m
        .service(POLICY)
        .delete_own_account(&fresh, None, &client())
        .await;
    assert!(deleted.is_ok(), "{deleted:?}");
}

#[tokio::test]
async fn the_last_active_admin_is_kept() {
    let p = principal();
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .verifies(MATCHES);
    erases(
        &mut m,
        p.user.id,
        Err(StoreError::Conflict(
            auth_ports::Constraint::LastActiveHolder,
        )),
    );
    let refused = m
        .service(POLICY)
        .delete_own_account(&p, Some(&password("right")), &client())
        .await;
    assert!(
        matches!(refused, Err(DeleteAccountError::LastAdmin)),
        "{refused:?}"
    );
}
