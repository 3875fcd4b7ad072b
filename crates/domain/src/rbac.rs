//! RbacService: roles and their permissions (SPEC.md section 4.2). Names and
//! permission strings are validated here; the seeded `admin` role is protected: it
//! cannot be deleted, renamed, or lose `*`. No caller grants, takes away or assigns a
//! permission it does not hold itself, whatever route let it in.

use crate::audit::{AuditEvent, Auditor, ClientInfo};
use crate::auth::Principal;
use crate::error::{Failure, FieldErrors};
use crate::permission::{self, holds_all, is_granted};
use auth_ports::{Clock, NewRole, Role, RoleId, RoleRepository, RoleUpdate, StoreError, UserId};
use std::sync::Arc;

/// The role that always holds `*`.
pub const ADMIN_ROLE: &str = "admin";

/// Longest role name.
pub const MAX_ROLE_NAME: usize = 64;

/// Longest role description.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// Why a role operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// No such role.
    #[error("no such role")]
    NotFound,
    /// The input breaks a rule.
    #[error("invalid role: {0}")]
    Invalid(FieldErrors),
    /// Another role has that name.
    #[error("role exists")]
    Exists,
    /// The change would delete, rename or weaken the `admin` role.
    #[error("protected role")]
    Protected,
    /// The change would leave no active holder of the `admin` role.
    #[error("last admin")]
    LastAdmin,
    /// The caller lacks a permission the change grants or takes away, or the user it
    /// changes holds `*` and the caller does not.
    #[error("forbidden")]
    Forbidden,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// What a new role or a role change asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleChanges {
    /// Name (required to create).
    pub name: Option<String>,
    /// Description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// Permission strings (required to create).
    pub permissions: Option<Vec<String>>,
}

/// Role management.
#[derive(Clone)]
pub struct RbacService {
    roles: Arc<dyn RoleRepository>,
    audit: Auditor,
    clock: Arc<dyn Clock>,
}

fn validate(changes: &RoleChanges, creating: bool) -> Result<(), RoleError> {
    let mut errors = FieldErrors::default();
    match &changes.name {
        Some(name) => {
            let ok = !name.is_empty()
                && name.len() <= MAX_ROLE_NAME
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !ok {
                errors.add(
                    "name",
                    format!("must be 1 to {MAX_ROLE_NAME} characters of a-z, 0-9, _ and -"),
                );
            }
        }
        None if creating => errors.add("name", "is required"),
        None => {}
    }
    match &changes.permissions {
        Some(permissions) => {
            if let Some(bad) = permissions
                .iter()
                .find_map(|p| permission::validate(p).err())
            {
                errors.add("permissions", bad.to_string());
            }
        }
        None if creating => errors.add("permissions", "is required"),
        None => {}
    }
    if let Some(Some(description)) = &changes.description
        && (description.chars().count() > MAX_DESCRIPTION_CHARS
            || description.chars().any(auth_ports::email::is_invisible))
    {
        errors.add(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} visible characters"),
        );
    }
    errors.into_result().map_err(RoleError::Invalid)
}

/// Sorted and without duplicates, so equal sets are stored alike.
fn normalised(permissions: Vec<String>) -> Vec<String> {
    let mut permissions = permissions;
    permissions.sort();
    permissions.dedup();
    permissions
}

fn conflict_or_failure(err: StoreError) -> RoleError {
    match err {
        StoreError::Conflict(auth_ports::Constraint::LastActiveHolder) => RoleError::LastAdmin,
        StoreError::Conflict(_) => RoleError::Exists,
        StoreError::NotFound => RoleError::NotFound,
        other => RoleError::Failure(other.into()),
    }
}

/// `Forbidden` unless `actor` holds each of `permissions`.
fn require(actor: &Principal, permissions: &[String]) -> Result<(), RoleError> {
    if holds_all(&actor.permissions, permissions) {
        Ok(())
    } else {
        Err(RoleError::Forbidden)
    }
}

/// Whether `actor` may change the user `target`: only a holder of `*` may change a
/// holder of `*`, since managing users or roles is no power over those who hold all.
///
/// # Errors
/// Storage failures.
pub(crate) async fn outranks(
    roles: &dyn RoleRepository,
    actor: &Principal,
    target: UserId,
) -> Result<bool, Failure> {
    if is_granted(&actor.permissions, "*") {
        return Ok(true);
    }
    let held = roles.permissions_of_user(target).await?;
    Ok(!held.iter().any(|p| p == "*"))
}

impl RbacService {
    /// A service over the role repository.
    #[must_use]
    pub fn new(roles: Arc<dyn RoleRepository>, audit: Auditor, clock: Arc<dyn Clock>) -> Self {
        Self {
            roles,
            audit,
            clock,
        }
    }

    /// Every role, by name.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list(&self) -> Result<Vec<Role>, Failure> {
        Ok(self.roles.list().await?)
    }

    /// The role with this id.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    pub async fn get(&self, id: RoleId) -> Result<Role, RoleError> {
        self.roles
            .find_by_id(id)
            .await
            .map_err(Failure::from)?
            .ok_or(RoleError::NotFound)
    }

    /// Creates a role (`role.create`) of permissions all held by `actor`.
    ///
    /// # Errors
    /// `Invalid`, `Forbidden`, `Exists`, or storage failures; nothing is written on error.
    pub async fn create(
        &self,
        actor: &Principal,
        changes: RoleChanges,
        client: &ClientInfo,
    ) -> Result<Role, RoleError> {
        validate(&changes, true)?;
        require(actor, changes.permissions.as_deref().unwrap_or_default())?;
        let actor = actor.user.id;
        let new_role = NewRole {
            name: changes.name.unwrap_or_default(),
            description: changes.description.flatten(),
            permissions: normalised(changes.permissions.unwrap_or_default()),
            created_at: self.clock.now(),
        };
        let audit = self.audit.after(client, move |role: &Role| {
            vec![role_event(
                "role.create",
                actor,
                "role",
                role.id,
                &role.name,
            )]
        });
        self.roles
            .create(new_role, audit)
            .await
            .map_err(conflict_or_failure)
    }

    /// Changes a role (`role.update`). The `admin` role keeps its name and `*`. `actor`
    /// must hold every permission the role has and every one it is given: renaming a
    /// role, or rewriting its permissions, reaches all who hold it.
    ///
    /// # Errors
    /// `NotFound`, `Invalid`, `Forbidden`, `Exists`, `Protected`, or storage failures.
    pub async fn update(
        &self,
        actor: &Principal,
        id: RoleId,
        changes: RoleChanges,
        client: &ClientInfo,
    ) -> Result<Role, RoleError> {
        validate(&changes, false)?;
        let current = self.get(id).await?;
        require(actor, &current.permissions)?;
        require(actor, changes.permissions.as_deref().unwrap_or_default())?;
        let actor = actor.user.id;
        if current.name == ADMIN_ROLE {
            let renamed = changes
                .name
                .as_deref()
                .is_some_and(|name| name != ADMIN_ROLE);
            let weakened = changes
                .permissions
                .as_ref()
                .is_some_and(|p| !p.iter().any(|p| p == "*"));
            if renamed || weakened {
                return Err(RoleError::Protected);
            }
        }
        let update = RoleUpdate {
            name: changes.name,
            description: changes.description,
            permissions: changes.permissions.map(normalised),
        };
        let audit = self.audit.after(client, move |role: &Role| {
            vec![role_event(
                "role.update",
                actor,
                "role",
                role.id,
                &role.name,
            )]
        });
        self.roles
            .update(id, update, audit)
            .await
            .map_err(conflict_or_failure)
    }

    /// Deletes a role and its assignments (`role.delete`), which takes its permissions
    /// from its holders, so `actor` must hold them all. Never the `admin` role.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `Protected`, or storage failures.
    pub async fn delete(
        &self,
        actor: &Principal,
        id: RoleId,
        client: &ClientInfo,
    ) -> Result<(), RoleError> {
        let role = self.get(id).await?;
        require(actor, &role.permissions)?;
        if role.name == ADMIN_ROLE {
            return Err(RoleError::Protected);
        }
        let event = role_event("role.delete", actor.user.id, "role", id, &role.name);
        self.roles
            .delete(id, self.audit.event(event, client))
            .await
            .map_err(conflict_or_failure)
    }
}

impl RbacService {
    /// Gives `user` the role, assigned by `actor` (`role.assign` when it was not held;
    /// holding it already is not an error).
    ///
    /// # Errors
    /// `NotFound` for an unknown user or role; `Forbidden` unless `actor` holds every
    /// permission of the role and, when `user` holds `*`, holds `*`; storage failures.
    pub async fn assign(
        &self,
        actor: &Principal,
        user: UserId,
        role_id: RoleId,
        client: &ClientInfo,
    ) -> Result<(), RoleError> {
        let role = self.get(role_id).await?;
        self.may_change(actor, user, &role).await?;
        let actor = actor.user.id;
        let event = role_event("role.assign", actor, "user", user, &role.name);
        self.roles
            .assign(
                user,
                role_id,
                Some(actor),
                self.clock.now(),
                self.audit.event_if_changed(event, client),
            )
            .await
            .map_err(conflict_or_failure)?;
        Ok(())
    }

    /// Takes the role from `user` (`role.unassign` when it was held). The last active
    /// holder of `admin` keeps it.
    ///
    /// # Errors
    /// `NotFound` for an unknown role or user, `Forbidden` (as for [`Self::assign`]),
    /// `LastAdmin`, storage failures.
    pub async fn unassign(
        &self,
        actor: &Principal,
        user: UserId,
        role_id: RoleId,
        client: &ClientInfo,
    ) -> Result<(), RoleError> {
        let role = self.get(role_id).await?;
        self.may_change(actor, user, &role).await?;
        let guarded = role.name == ADMIN_ROLE;
        let event = role_event("role.unassign", actor.user.id, "user", user, &role.name);
        self.roles
            .unassign(
                user,
                role_id,
                guarded,
                self.audit.event_if_changed(event, client),
            )
            .await
            .map_err(conflict_or_failure)?;
        Ok(())
    }

    /// `Forbidden` unless `actor` holds every permission of `role` and outranks `user`
    /// (only a holder of `*` changes the roles of a holder of `*`).
    async fn may_change(
        &self,
        actor: &Principal,
        user: UserId,
        role: &Role,
    ) -> Result<(), RoleError> {
        require(actor, &role.permissions)?;
        if outranks(self.roles.as_ref(), actor, user).await? {
            Ok(())
        } else {
            Err(RoleError::Forbidden)
        }
    }
}

/// A role event by `actor` on the `kind` resource `id`, naming the role.
fn role_event(
    action: &'static str,
    actor: UserId,
    kind: &'static str,
    id: impl ToString,
    role: &str,
) -> AuditEvent {
    AuditEvent::new(action)
        .by(actor)
        .on(kind, id)
        .with("role", role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::tests::principal;
    use auth_ports::{AuditWith, MockAuditRepository, MockClock, MockRoleRepository};
    use chrono::{TimeZone, Utc};

    fn role(name: &str, permissions: &[&str]) -> Role {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Role {
            id: RoleId::new(),
            name: name.into(),
            description: None,
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            created_at: at,
            updated_at: at,
        }
    }

    /// Every role event is written by the role write itself, never appended alone.
    fn service(roles: MockRoleRepository) -> RbacService {
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .returning(|| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let mut audit = MockAuditRepository::new();
        audit.expect_append().never();
        RbacService::new(
            Arc::new(roles),
            Auditor::new(Arc::new(audit), clock.clone()),
            clock,
        )
    }

    /// The actions of the entries a write's `audit` makes of `outcome`.
    fn actions<T>(audit: AuditWith<T>, outcome: &T) -> Vec<String> {
        audit(outcome).into_iter().map(|e| e.action).collect()
    }

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
            let mut roles = MockRoleRepository::new();
            let found = admin.clone();
            roles
                .expect_find_by_id()
                .returning(move |_| Ok(Some(found.clone())));
            roles.expect_update().never();
            let err = service(roles)
                .update(&principal(&["*"]), id, change, &ClientInfo::default())
                .await;
            assert!(matches!(err, Err(RoleError::Protected)));
        }
        let mut roles = MockRoleRepository::new();
        let found = admin.clone();
        roles
            .expect_find_by_id()
            .returning(move |_| Ok(Some(found.clone())));
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
        let mut roles = MockRoleRepository::new();
        roles
            .expect_find_by_id()
            .returning(move |_| Ok(Some(admin.clone())));
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
        let mut roles = MockRoleRepository::new();
        roles
            .expect_find_by_id()
            .returning(move |_| Ok(Some(support.clone())));
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
            let mut roles = MockRoleRepository::new();
            roles
                .expect_find_by_id()
                .returning(move |_| Ok(Some(found.clone())));
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
        let mut roles = MockRoleRepository::new();
        roles
            .expect_find_by_id()
            .returning(move |_| Ok(Some(support.clone())));
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
        let mut roles = MockRoleRepository::new();
        let found = found.clone();
        roles
            .expect_find_by_id()
            .returning(move |_| Ok(Some(found.clone())));
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
}
