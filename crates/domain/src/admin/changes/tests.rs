//! Account changes against mocked ports.

use super::*;
use crate::permission::{MissingPermission, USERS_DELETE, USERS_WRITE};
use crate::test_support::{actions as audited, admin_service, principal, role, user};
use auth_ports::{AuditWith, MockAuditRepository, MockRoleRepository, MockUserRepository};
use mockall::predicate::{always, eq};

#[test]
fn only_what_changed_is_recorded() {
    let actor = UserId::new();
    let before = user(1);
    assert!(
        change_events(actor, &before, &before).is_empty(),
        "no change, no entry"
    );
    let mut after = before.clone();
    after.status = UserStatus::Deleted;
    let events = change_events(actor, &before, &after);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "user.delete");
    assert_eq!(events[0].actor, Some(actor));
    let mut suspended = before.clone();
    suspended.status = UserStatus::Suspended;
    assert!(
        change_events(actor, &suspended, &suspended).is_empty(),
        "suspended again"
    );
}

fn admin_role() -> auth_ports::Role {
    role(ADMIN_ROLE, &["*"])
}

/// The actions of the entries `audit` makes.
fn actions(audit: AuditWith<(User, User)>, before: &User, after: &User) -> Vec<String> {
    audited(audit, &(before.clone(), after.clone()))
}

/// Users that hold `target` (a plain user), and roles that know the admin role.
fn mocks(target: &User) -> (MockUserRepository, MockRoleRepository) {
    mocks_holding(target, &["profile:read"])
}

/// As [`mocks`], with `target` holding `permissions`.
fn mocks_holding(
    target: &User,
    permissions: &'static [&'static str],
) -> (MockUserRepository, MockRoleRepository) {
    let mut users = MockUserRepository::new();
    let found = target.clone();
    users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(found.clone())));
    let mut roles = MockRoleRepository::new();
    roles
        .expect_find_by_name()
        .with(eq(ADMIN_ROLE))
        .returning(|_| Ok(Some(admin_role())));
    roles
        .expect_permissions_of_user()
        .returning(move |_| Ok(permissions.iter().map(|p| (*p).to_owned()).collect()));
    (users, roles)
}

#[tokio::test]
async fn only_a_holder_of_star_changes_a_holder_of_star() {
    let target = user(1);
    let (mut users, roles) = mocks_holding(&target, &["*"]);
    users.expect_update().never();
    let service = admin_service(users, roles, MockAuditRepository::new());
    let moderator = principal(&["users:*"]);
    let client = ClientInfo::default();
    let err = service
        .update_user(
            &moderator,
            target.id,
            status(UserStatus::Suspended),
            &client,
        )
        .await;
    assert!(matches!(err, Err(AccountError::Forbidden)), "{err:?}");
    let err = service.delete_user(&moderator, target.id, &client).await;
    assert!(matches!(err, Err(AccountError::Forbidden)), "{err:?}");
}

#[tokio::test]
async fn only_a_holder_of_star_unlocks_a_holder_of_star() {
    let target = user(1);
    let (mut users, roles) = mocks_holding(&target, &["*"]);
    users.expect_unlock().never();
    let err = admin_service(users, roles, MockAuditRepository::new())
        .unlock_user(&principal(&["users:*"]), target.id, &ClientInfo::default())
        .await;
    assert!(matches!(err, Err(AccountError::Forbidden)), "{err:?}");
}

#[tokio::test]
async fn deleting_needs_users_delete_and_unlocking_users_write_before_any_lookup() {
    let mut users = MockUserRepository::new();
    users.expect_update().never();
    users.expect_unlock().never();
    let mut roles = MockRoleRepository::new();
    roles.expect_permissions_of_user().never();
    roles.expect_find_by_name().never();
    let service = admin_service(users, roles, MockAuditRepository::new());
    let client = ClientInfo::default();
    let caller = principal(&["users:read", "users:write", "users:suspend"]);
    let err = service.delete_user(&caller, UserId::new(), &client).await;
    assert!(
        matches!(
            err,
            Err(AccountError::MissingPermission(MissingPermission(
                USERS_DELETE
            )))
        ),
        "{err:?}"
    );
    let caller = principal(&["users:read", "users:delete", "users:suspend"]);
    let err = service.unlock_user(&caller, UserId::new(), &client).await;
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

fn status(status: UserStatus) -> AccountChanges {
    AccountChanges {
        status: Some(status),
        ..AccountChanges::default()
    }
}

fn rename() -> AccountChanges {
    AccountChanges {
        first_name: Some(Some("Grace".into())),
        ..AccountChanges::default()
    }
}

#[tokio::test]
async fn names_need_users_write_and_status_needs_users_suspend() {
    let target = user(1);
    for (granted, changes) in [
        (&["users:suspend"][..], rename()),
        (&["users:write"][..], status(UserStatus::Suspended)),
        (&["users:suspend"][..], AccountChanges::default()),
        (
            &["users:write"][..],
            AccountChanges {
                status: Some(UserStatus::Active),
                ..rename()
            },
        ),
    ] {
        let (mut users, roles) = mocks(&target);
        users.expect_update().never();
        let err = admin_service(users, roles, MockAuditRepository::new())
            .update_user(
                &principal(granted),
                target.id,
                changes,
                &ClientInfo::default(),
            )
            .await;
        assert!(matches!(err, Err(AccountError::Forbidden)), "{granted:?}");
    }
}

#[tokio::test]
async fn suspending_is_guarded_and_audited_as_suspend() {
    let target = user(1);
    let (mut users, roles) = mocks(&target);
    let before = target.clone();
    let mut updated = target.clone();
    updated.status = UserStatus::Suspended;
    users
        .expect_update()
        .times(1)
        .withf(|_, update, _, _| {
            update.status == Some(UserStatus::Suspended)
                && update.keep_an_active_holder_of.is_some()
        })
        .returning(move |_, _, _, audit| {
            assert_eq!(actions(audit, &before, &updated), ["user.suspend"]);
            Ok(updated.clone())
        });
    admin_service(users, roles, MockAuditRepository::new())
        .update_user(
            &principal(&["users:*"]),
            target.id,
            status(UserStatus::Suspended),
            &ClientInfo::default(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn renaming_and_reactivating_is_one_update_event_without_a_guard() {
    let target = user(1);
    let (mut users, roles) = mocks(&target);
    let mut before = target.clone();
    before.status = UserStatus::Inactive;
    let mut updated = target.clone();
    updated.first_name = Some("Grace".into());
    users
        .expect_update()
        .times(1)
        .withf(|_, update, _, _| {
            update.first_name == Some(Some("Grace".into()))
                && update.keep_an_active_holder_of.is_none()
        })
        .returning(move |_, _, _, audit| {
            let entries = audit(&(before.clone(), updated.clone()));
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].action, "user.update");
            assert_eq!(
                entries[0].details["fields"],
                serde_json::json!(["first_name", "status"])
            );
            Ok(updated.clone())
        });
    let changes = AccountChanges {
        status: Some(UserStatus::Active),
        ..rename()
    };
    admin_service(users, roles, MockAuditRepository::new())
        .update_user(
            &principal(&["*"]),
            target.id,
            changes,
            &ClientInfo::default(),
        )
        .await
        .unwrap();
}

/// A service over [`mocks`] of `target` whose store refuses `times` updates as breaking
/// `constraint`.
fn updates_refused(target: &User, times: usize, constraint: Constraint) -> AdminService {
    let (mut users, roles) = mocks(target);
    users
        .expect_update()
        .times(times)
        .returning(move |_, _, _, _| Err(StoreError::Conflict(constraint)));
    admin_service(users, roles, MockAuditRepository::new())
}

#[tokio::test]
async fn the_last_admin_is_last_admin_and_deleted_is_not_a_patch_status() {
    let target = user(1);
    let service = updates_refused(&target, 1, Constraint::LastActiveHolder);
    let (actor, client) = (principal(&["*"]), ClientInfo::default());
    let err = service.delete_user(&actor, target.id, &client).await;
    assert!(matches!(err, Err(AccountError::LastAdmin)), "{err:?}");
    let err = service
        .update_user(&actor, target.id, status(UserStatus::Deleted), &client)
        .await;
    assert!(matches!(err, Err(AccountError::Invalid(_))), "{err:?}");
}

#[tokio::test]
async fn deleted_accounts_are_neither_changed_nor_deleted_again() {
    let target = user(1);
    let service = updates_refused(&target, 2, Constraint::DeletedUser);
    let (actor, client) = (principal(&["*"]), ClientInfo::default());
    let err = service
        .update_user(&actor, target.id, rename(), &client)
        .await;
    assert!(matches!(err, Err(AccountError::Deleted)), "{err:?}");
    service
        .delete_user(&actor, target.id, &client)
        .await
        .unwrap();
}

#[tokio::test]
async fn unlocking_an_unknown_user_is_not_found_and_otherwise_audited() {
    let mut users = MockUserRepository::new();
    let known = UserId::new();
    users
        .expect_unlock()
        .with(eq(known), always())
        .returning(|_, audit| {
            let entries = audit(&());
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].action, "user.unlock");
            Ok(())
        });
    users
        .expect_unlock()
        .returning(|_, _| Err(StoreError::NotFound));
    let service = admin_service(users, MockRoleRepository::new(), MockAuditRepository::new());
    let actor = principal(&["*"]);
    let client = ClientInfo::default();
    service.unlock_user(&actor, known, &client).await.unwrap();
    let err = service.unlock_user(&actor, UserId::new(), &client).await;
    assert!(matches!(err, Err(AccountError::NotFound)));
}
