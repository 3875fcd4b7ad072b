//! An operator's view of a user's second factors, and resetting them, against mocked
//! ports.

use super::*;
use crate::permission::USERS_WRITE;
use crate::test_support::{Trail, admin_service_with_mfa};
use crate::{AccountError, ClientInfo};
use auth_ports::{MfaFactors, MockMfaRepository, User};
use mockall::predicate::{always, eq};

/// Users that find `target` by its id, and nobody else.
fn finding(target: &User) -> MockUserRepository {
    let mut users = MockUserRepository::new();
    let found = target.clone();
    users
        .expect_find_by_id()
        .with(eq(target.id))
        .returning(move |_| Ok(Some(found.clone())));
    users
}

/// Roles under which `target` holds `permissions`.
fn holding(permissions: &'static [&'static str]) -> MockRoleRepository {
    let mut roles = MockRoleRepository::new();
    roles
        .expect_permissions_of_user()
        .returning(move |_| Ok(permissions.iter().map(|p| (*p).to_owned()).collect()));
    roles
}

/// Second factors that may not be reset.
fn never_reset() -> MockMfaRepository {
    let mut mfa = MockMfaRepository::new();
    mfa.expect_reset().never();
    mfa
}

/// Second factors reset once for `target`, writing the audit of `removed`.
fn resets(target: UserId, removed: bool, trail: &Trail) -> MockMfaRepository {
    let mut mfa = MockMfaRepository::new();
    let trail = trail.clone();
    mfa.expect_reset()
        .times(1)
        .with(eq(target), always())
        .returning(move |_, audit| trail.write(audit, removed));
    mfa
}

#[tokio::test]
async fn a_users_factors_are_read_with_users_read() {
    let target = user(1);
    let factors = MfaFactors {
        recovery_codes_left: 7,
        ..MfaFactors::default()
    };
    let mut mfa = MockMfaRepository::new();
    let answer = factors.clone();
    mfa.expect_factors()
        .times(1)
        .with(eq(target.id))
        .returning(move |_| Ok(answer.clone()));
    let service = admin_service_with_mfa(
        finding(&target),
        MockRoleRepository::new(),
        MockAuditRepository::new(),
        mfa,
    );
    let read = service.user_factors(&reader(), target.id).await.unwrap();
    assert_eq!(read, factors);
}

#[tokio::test]
async fn a_users_factors_need_users_read_and_a_known_user() {
    let mut mfa = MockMfaRepository::new();
    mfa.expect_factors().never();
    let mut users = MockUserRepository::new();
    users.expect_find_by_id().times(1).returning(|_| Ok(None));
    let service = admin_service_with_mfa(
        users,
        MockRoleRepository::new(),
        MockAuditRepository::new(),
        mfa,
    );
    let writer = principal(&[USERS_WRITE]);
    let err = service.user_factors(&writer, UserId::new()).await;
    assert!(
        matches!(
            err,
            Err(GetUserError::MissingPermission(MissingPermission(
                USERS_READ
            )))
        ),
        "{err:?}"
    );
    let err = service.user_factors(&reader(), UserId::new()).await;
    assert!(matches!(err, Err(GetUserError::NotFound)), "{err:?}");
}

#[tokio::test]
async fn resetting_needs_users_write() {
    let target = user(1);
    let service = admin_service_with_mfa(
        finding(&target),
        holding(&[]),
        MockAuditRepository::new(),
        never_reset(),
    );
    let err = service
        .reset_mfa(&reader(), target.id, &ClientInfo::default())
        .await;
    assert!(
        matches!(
            err,
            Err(AccountError::MissingPermission(MissingPermission(
                USERS_WRITE
            )))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn only_a_holder_of_star_resets_a_holder_of_star() {
    let target = user(1);
    let service = admin_service_with_mfa(
        finding(&target),
        holding(&["*"]),
        MockAuditRepository::new(),
        never_reset(),
    );
    let moderator = principal(&["users:*"]);
    let err = service
        .reset_mfa(&moderator, target.id, &ClientInfo::default())
        .await;
    assert!(matches!(err, Err(AccountError::Forbidden)), "{err:?}");

    let trail = Trail::default();
    let service = admin_service_with_mfa(
        finding(&target),
        holding(&["*"]),
        MockAuditRepository::new(),
        resets(target.id, true, &trail),
    );
    let admin = principal(&["*"]);
    service
        .reset_mfa(&admin, target.id, &ClientInfo::default())
        .await
        .unwrap();
    assert_eq!(trail.entries().len(), 1);
}

#[tokio::test]
async fn resetting_an_unknown_user_is_not_found() {
    let mut users = MockUserRepository::new();
    users.expect_find_by_id().returning(|_| Ok(None));
    let service = admin_service_with_mfa(
        users,
        holding(&[]),
        MockAuditRepository::new(),
        never_reset(),
    );
    let err = service
        .reset_mfa(&writer(), UserId::new(), &ClientInfo::default())
        .await;
    assert!(matches!(err, Err(AccountError::NotFound)), "{err:?}");
}

/// `mfa.reset` names the operator, the user, and whether anything was removed.
#[tokio::test]
async fn a_reset_is_audited_with_what_it_removed() {
    for removed in [true, false] {
        let target = user(1);
        let trail = Trail::default();
        let service = admin_service_with_mfa(
            finding(&target),
            holding(&["profile:read"]),
            MockAuditRepository::new(),
            resets(target.id, removed, &trail),
        );
        let actor = writer();
        let client = ClientInfo {
            ip: Some("192.0.2.1".parse().unwrap()),
            user_agent: None,
        };
        service.reset_mfa(&actor, target.id, &client).await.unwrap();
        let entries = trail.entries();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(entry.action, "mfa.reset");
        assert!(entry.success);
        assert_eq!(entry.user_id, Some(actor.user.id));
        assert_eq!(entry.resource_type.as_deref(), Some("user"));
        assert_eq!(entry.resource_id, Some(target.id.to_string()));
        assert_eq!(entry.ip_address, client.ip);
        assert_eq!(entry.details["removed"], removed);
    }
}

/// A caller who may change users (and nothing else).
fn writer() -> Principal {
    principal(&[USERS_WRITE])
}
