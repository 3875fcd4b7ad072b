//! RbacService: roles and their permissions (SPEC.md section 4.2). Names and
//! permission strings are validated here; the seeded `admin` role is protected: it
//! cannot be deleted, renamed, or lose `*`.

use crate::audit::{AuditEvent, Auditor, ClientInfo};
use crate::error::{Failure, FieldErrors};
use crate::permission;
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

    /// Creates a role (`role.create`).
    ///
    /// # Errors
    /// `Invalid`, `Exists`, or storage failures; nothing is written on error.
    pub async fn create(
        &self,
        actor: UserId,
        changes: RoleChanges,
        client: &ClientInfo,
    ) -> Result<Role, RoleError> {
        validate(&changes, true)?;
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

    /// Changes a role (`role.update`). The `admin` role keeps its name and `*`.
    ///
    /// # Errors
    /// `NotFound`, `Invalid`, `Exists`, `Protected`, or storage failures.
    pub async fn update(
        &self,
        actor: UserId,
        id: RoleId,
        changes: RoleChanges,
        client: &ClientInfo,
    ) -> Result<Role, RoleError> {
        validate(&changes, false)?;
        let current = self.get(id).await?;
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

    /// Deletes a role and its assignments (`role.delete`). Never the `admin` role.
    ///
    /// # Errors
    /// `NotFound`, `Protected`, or storage failures.
    pub async fn delete(
        &self,
        actor: UserId,
        id: RoleId,
        client: &ClientInfo,
    ) -> Result<(), RoleError> {
        let role = self.get(id).await?;
        if role.name == ADMIN_ROLE {
            return Err(RoleError::Protected);
        }
        let event = role_event("role.delete", actor, "role", id, &role.name);
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
    /// `NotFound` for an unknown user or role; storage failures.
    pub async fn assign(
        &self,
        actor: UserId,
        user: UserId,
        role_id: RoleId,
        client: &ClientInfo,
    ) -> Result<(), RoleError> {
        let role = self.get(role_id).await?;
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
    /// `NotFound` for an unknown role or user, `LastAdmin`, storage failures.
    pub async fn unassign(
        &self,
        actor: UserId,
        user: UserId,
        role_id: RoleId,
        client: &ClientInfo,
    ) -> Result<(), RoleError> {
        let role = self.get(role_id).await?;
        let guarded = role.name == ADMIN_ROLE;
        let event = role_event("role.unassign", actor, "user", user, &role.name);
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
                    UserId::new(),
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
                UserId::new(),
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
                UserId::new(),
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
                .update(UserId::new(), id, change, &ClientInfo::default())
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
            .delete(UserId::new(), id, &ClientInfo::default())
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
                .update(UserId::new(), id, change, &ClientInfo::default())
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
                .delete(UserId::new(), id, &ClientInfo::default())
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
                .unassign(UserId::new(), UserId::new(), id, &ClientInfo::default())
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
                .assign(UserId::new(), UserId::new(), id, &ClientInfo::default())
                .await
                .is_ok()
        );
    }
}
