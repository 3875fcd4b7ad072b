//! RbacService against mocked ports.

use super::*;
use crate::permission::{MissingPermission, ROLES_ASSIGN, ROLES_READ, ROLES_WRITE};
use crate::test_support::{actions, principal, rbac_service as service, role, roles_finding};
use auth_ports::MockRoleRepository;

fn changes(name: Option<&str>, permissions: Option<&[&str]>) -> RoleChanges {
    RoleChanges {
        name: name.map(str::to_owned),
        description: None,
        permissions: permissions.map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
    }
}

#[tokio::test]
async fn create_validates_names_and_permissions_before_writing() {
    for (name, permissions) in [
        (Some("Support"), Some(&["users:read"][..])),
        (Some("x".repeat(65).as_str()), Some(&["users:read"][..])),
        (Some("ok"), Some(&["users"][..])),
        (None, Some(&["users:read"][..])),
        (Some("ok"), None),
    ] {
        let mut roles = MockRoleRepository::new();
        roles.expect_create().never();
        let err = service(roles)
            .create(
                &principal(&["*"]),
                changes(name, permissions),
                &ClientInfo::default(),
            )
            .await;
        assert!(
            matches!(err, Err(RoleError::Invalid(_))),
            "{name:?} {permissions:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn create_normalises_permissions_and_audits() {
    let mut roles = MockRoleRepository::new();
    roles
        .expect_create()
        .times(1)
        .withf(|new, _| new.permissions == ["audit:read", "users:*"])
        .returning(|new, audit| {
            let created = role(&new.name, &["audit:read", "users:*"]);
            assert_eq!(actions(audit, &created), ["role.create"]);
            Ok(created)
        });
    let created = service(roles)
        .create(
            &principal(&["*"]),
            changes(Some("support"), Some(&["users:*", "audit:read", "users:*"])),
            &ClientInfo::default(),
        )
        .await;
    assert!(created.is_ok());
}

#[tokio::test]
async fn a_taken_name_is_role_exists() {
    let mut roles = MockRoleRepository::new();
    roles
        .expect_create()
        .returning(|_, _| Err(StoreError::Conflict(auth_ports::Constraint::RoleName)));
    let err = service(roles)
        .create(
            &principal(&["*"]),
            changes(Some("user"), Some(&[])),
            &ClientInfo::default(),
        )
        .await;
    assert!(matches!(err, Err(RoleError::Exists)));
}

#[tokio::test]
async fn the_admin_role_cannot_be_deleted_renamed_or_lose_star() {
    let admin = role(ADMIN_ROLE, &["*"]);
    let id = admin.id;
    for change in [
        changes(Some("root"), None),
        changes(None, Some(&["users:*"])),
    ] {
        let mut roles = roles_finding(&admin);
        roles.expect_update().never();
        let err = service(roles)
            .update(&principal(&["*"]), id, change, &ClientInfo::default())
            .await;
        assert!(matches!(err, Err(RoleError::Protected)));
    }
    let mut roles = roles_finding(&admin);
    roles.expect_delete().never();
    let err = service(roles)
        .delete(&principal(&["*"]), id, &ClientInfo::default())
        .await;
    assert!(matches!(err, Err(RoleError::Protected)));
}

#[tokio::test]
async fn the_admin_role_may_gain_permissions_and_a_description() {
    let admin = role(ADMIN_ROLE, &["*"]);
    let id = admin.id;
    let mut roles = roles_finding(&admin);
    roles.expect_update().times(1).returning(|_, _, audit| {
        let updated = role(ADMIN_ROLE, &["*", "x:y"]);
        assert_eq!(actions(audit, &updated), ["role.update"]);
        Ok(updated)
    });
    let change = RoleChanges {
        description: Some(Some("root".into())),
        ..changes(None, Some(&["*", "x:y"]))
    };
    assert!(
        service(roles)
            .update(&principal(&["*"]), id, change, &ClientInfo::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn other_roles_are_deleted_and_audited() {
    let support = role("support", &["users:read"]);
    let id = support.id;
    let mut roles = roles_finding(&support);
    roles.expect_delete().times(1).returning(|_, audit| {
        assert_eq!(actions(audit, &()), ["role.delete"]);
        Ok(())
    });
    assert!(
        service(roles)
            .delete(&principal(&["*"]), id, &ClientInfo::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn only_the_admin_role_is_guarded_and_its_last_holder_keeps_it() {
    for (name, guarded) in [(ADMIN_ROLE, true), ("support", false)] {
        let found = role(name, &["*"]);
        let id = found.id;
        let mut roles = roles_finding(&found);
        roles
            .expect_unassign()
            .times(1)
            .withf(move |_, _, keep, _| *keep == guarded)
            .returning(|_, _, _, _| {
                Err(StoreError::Conflict(
                    auth_ports::Constraint::LastActiveHolder,
                ))
            });
        let err = service(roles)
            .unassign(
                &principal(&["*"]),
                UserId::new(),
                id,
                &ClientInfo::default(),
            )
            .await;
        assert!(matches!(err, Err(RoleError::LastAdmin)));
    }
}

#[tokio::test]
async fn assigning_a_held_role_again_writes_no_audit_entry() {
    let support = role("support", &["users:read"]);
    let id = support.id;
    let mut roles = roles_finding(&support);
    roles
        .expect_assign()
        .times(1)
        .returning(|_, _, _, _, audit| {
            assert!(actions(audit, &false).is_empty());
            Ok(false)
        });
    assert!(
        service(roles)
            .assign(
                &principal(&["*"]),
                UserId::new(),
                id,
                &ClientInfo::default()
            )
            .await
            .is_ok()
    );
}

/// Roles that find `found` by id and say the user holds `held`.
fn roles_with(found: &Role, held: &'static [&'static str]) -> MockRoleRepository {
    let mut roles = roles_finding(found);
    roles
        .expect_permissions_of_user()
        .returning(move |_| Ok(held.iter().map(|p| (*p).to_owned()).collect()));
    roles
}

#[tokio::test]
async fn a_role_is_created_only_of_permissions_the_caller_holds() {
    let caller = principal(&["roles:write", "users:read"]);
    for permissions in [&["*"][..], &["users:*"], &["users:read", "audit:read"]] {
        let mut roles = MockRoleRepository::new();
        roles.expect_create().never();
        let err = service(roles)
            .create(
                &caller,
                changes(Some("mine"), Some(permissions)),
                &ClientInfo::default(),
            )
            .await;
        assert!(
            matches!(err, Err(RoleError::Forbidden)),
            "{permissions:?}: {err:?}"
        );
    }
    let mut roles = MockRoleRepository::new();
    roles
        .expect_create()
        .times(1)
        .returning(|new, _| Ok(role(&new.name, &["users:read"])));
    let created = service(roles)
        .create(
            &caller,
            changes(Some("mine"), Some(&["users:read"])),
            &ClientInfo::default(),
        )
        .await;
    assert!(created.is_ok(), "{created:?}");
}

#[tokio::test]
async fn a_role_is_changed_only_by_a_holder_of_its_old_and_new_permissions() {
    let caller = principal(&["roles:write", "users:read", "profile:*"]);
    for (current, change) in [
        (role("user", &["profile:read"]), changes(None, Some(&["*"]))),
        (
            role("user", &["profile:read"]),
            changes(None, Some(&["profile:read", "users:*"])),
        ),
        (role("root", &["*"]), changes(Some("rooted"), None)),
        (
            role("support", &["audit:read", "users:read"]),
            changes(None, Some(&["users:read"])),
        ),
        (
            role("support", &["audit:read"]),
            changes(Some("helpdesk"), None),
        ),
    ] {
        let mut roles = roles_with(&current, &[]);
        roles.expect_update().never();
        let err = service(roles)
            .update(&caller, current.id, change.clone(), &ClientInfo::default())
            .await;
        assert!(
            matches!(err, Err(RoleError::Forbidden)),
            "{current:?} {change:?}: {err:?}"
        );
    }
    let current = role("support", &["users:read"]);
    let mut roles = roles_with(&current, &[]);
    roles
        .expect_update()
        .times(1)
        .returning(|_, _, _| Ok(role("support", &["profile:read", "users:read"])));
    let changed = service(roles)
        .update(
            &caller,
            current.id,
            changes(None, Some(&["users:read", "profile:read"])),
            &ClientInfo::default(),
        )
        .await;
    assert!(changed.is_ok(), "{changed:?}");
}

#[tokio::test]
async fn a_role_is_deleted_only_by_a_holder_of_its_permissions() {
    let caller = principal(&["roles:write", "users:*"]);
    for current in [role("root", &["*"]), role("auditor", &["audit:read"])] {
        let mut roles = roles_with(&current, &[]);
        roles.expect_delete().never();
        let err = service(roles)
            .delete(&caller, current.id, &ClientInfo::default())
            .await;
        assert!(matches!(err, Err(RoleError::Forbidden)), "{err:?}");
    }
}

#[tokio::test]
async fn a_role_is_assigned_only_by_a_holder_of_its_permissions() {
    let caller = principal(&["roles:assign", "users:*"]);
    for (current, target) in [
        (role(ADMIN_ROLE, &["*"]), caller.user.id),
        (role(ADMIN_ROLE, &["*"]), UserId::new()),
        (role("auditor", &["audit:read"]), UserId::new()),
    ] {
        let mut roles = roles_with(&current, &[]);
        roles.expect_assign().never();
        roles.expect_unassign().never();
        let rbac = service(roles);
        let client = ClientInfo::default();
        let err = rbac.assign(&caller, target, current.id, &client).await;
        assert!(matches!(err, Err(RoleError::Forbidden)), "{err:?}");
        let err = rbac.unassign(&caller, target, current.id, &client).await;
        assert!(matches!(err, Err(RoleError::Forbidden)), "{err:?}");
    }
}

#[tokio::test]
async fn only_a_holder_of_star_changes_the_roles_of_a_holder_of_star() {
    let caller = principal(&["roles:assign", "users:read"]);
    let support = role("support", &["users:read"]);
    let mut roles = roles_with(&support, &["*"]);
    roles.expect_assign().never();
    roles.expect_unassign().never();
    let rbac = service(roles);
    let client = ClientInfo::default();
    let err = rbac
        .assign(&caller, UserId::new(), support.id, &client)
        .await;
    assert!(matches!(err, Err(RoleError::Forbidden)), "{err:?}");
    let err = rbac
        .unassign(&caller, UserId::new(), support.id, &client)
        .await;
    assert!(matches!(err, Err(RoleError::Forbidden)), "{err:?}");

    let mut roles = roles_with(&support, &["profile:read"]);
    roles
        .expect_assign()
        .times(1)
        .returning(|_, _, _, _, _| Ok(true));
    let assigned = service(roles)
        .assign(&caller, UserId::new(), support.id, &client)
        .await;
    assert!(assigned.is_ok(), "{assigned:?}");
}

/// An RbacService on which any repository call fails the test.
fn untouched() -> RbacService {
    service(MockRoleRepository::new())
}

/// Whether `err` is the refusal for lacking `permission`.
fn lacks(err: Result<impl std::fmt::Debug, RoleError>, permission: &str) -> bool {
    matches!(err, Err(RoleError::MissingPermission(MissingPermission(p))) if p == permission)
}

#[tokio::test]
async fn roles_are_read_only_with_roles_read() {
    let caller = principal(&["roles:write", "roles:assign", "users:*"]);
    let rbac = untouched();
    let err = rbac.list(&caller).await;
    assert!(
        matches!(
            err,
            Err(ReadError::MissingPermission(MissingPermission(ROLES_READ)))
        ),
        "{err:?}"
    );
    assert!(lacks(rbac.get(&caller, RoleId::new()).await, ROLES_READ));
}

#[tokio::test]
async fn roles_are_written_only_with_roles_write_before_any_validation() {
    let caller = principal(&["roles:read", "roles:assign", "audit:read"]);
    let rbac = untouched();
    let client = ClientInfo::default();
    // Invalid input: the refusal comes first all the same.
    let invalid = changes(Some("Not A Name"), Some(&["nope"]));
    let created = rbac.create(&caller, invalid.clone(), &client).await;
    assert!(lacks(created, ROLES_WRITE));
    let updated = rbac.update(&caller, RoleId::new(), invalid, &client).await;
    assert!(lacks(updated, ROLES_WRITE));
    let deleted = rbac.delete(&caller, RoleId::new(), &client).await;
    assert!(lacks(deleted, ROLES_WRITE));
}

#[tokio::test]
async fn roles_are_assigned_only_with_roles_assign() {
    let caller = principal(&["roles:read", "roles:write", "users:*"]);
    let rbac = untouched();
    let client = ClientInfo::default();
    let (user, role) = (UserId::new(), RoleId::new());
    assert!(lacks(
        rbac.assign(&caller, user, role, &client).await,
        ROLES_ASSIGN
    ));
    assert!(lacks(
        rbac.unassign(&caller, user, role, &client).await,
        ROLES_ASSIGN
    ));
}

#[tokio::test]
async fn roles_star_grants_roles_read() {
    let mut roles = MockRoleRepository::new();
    roles.expect_list().times(1).returning(|| Ok(vec![]));
    let listed = service(roles).list(&principal(&["roles:*"])).await;
    assert!(listed.is_ok(), "{listed:?}");
}
