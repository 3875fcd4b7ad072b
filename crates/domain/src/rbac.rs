//! RbacService: roles and their permissions (SPEC.md section 4.2). Reading roles needs
//! `roles:read`, changing them `roles:write`, giving and taking them `roles:assign`,
//! checked here before anything else. Names and permission strings are validated here;
//! the seeded `admin` role is protected: it cannot be deleted, renamed, or lose `*`. No
//! caller grants, takes away or assigns a permission it does not hold itself.

use crate::audit::{AuditEvent, Auditor, ClientInfo};
use crate::error::{Failure, FieldErrors, ReadError};
use crate::permission::{
    self, MissingPermission, ROLES_ASSIGN, ROLES_READ, ROLES_WRITE, holds_all, is_granted,
};
use crate::principal::Principal;
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
    /// The caller lacks the permission of the operation itself (`roles:read`,
    /// `roles:write` or `roles:assign`).
    #[error(transparent)]
    MissingPermission(#[from] MissingPermission),
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
fn require_held(actor: &Principal, permissions: &[String]) -> Result<(), RoleError> {
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

    /// Every role, by name. Needs `roles:read`.
    ///
    /// # Errors
    /// `MissingPermission`; storage failures.
    pub async fn list(&self, caller: &Principal) -> Result<Vec<Role>, ReadError> {
        caller.require(ROLES_READ)?;
        Ok(self.roles.list().await?)
    }

    /// The role with this id. Needs `roles:read`.
    ///
    /// # Errors
    /// `MissingPermission`; `NotFound` when there is none.
    pub async fn get(&self, caller: &Principal, id: RoleId) -> Result<Role, RoleError> {
        caller.require(ROLES_READ)?;
        self.find(id).await
    }

    /// The role with this id, or `NotFound`.
    async fn find(&self, id: RoleId) -> Result<Role, RoleError> {
        self.roles
            .find_by_id(id)
            .await
            .map_err(Failure::from)?
            .ok_or(RoleError::NotFound)
    }

    /// Creates a role (`role.create`) of permissions all held by `actor`. Needs
    /// `roles:write`.
    ///
    /// # Errors
    /// `MissingPermission`, `Invalid`, `Forbidden`, `Exists`, or storage failures;
    /// nothing is written on error.
    pub async fn create(
        &self,
        actor: &Principal,
        changes: RoleChanges,
        client: &ClientInfo,
    ) -> Result<Role, RoleError> {
        actor.require(ROLES_WRITE)?;
        validate(&changes, true)?;
        require_held(actor, changes.permissions.as_deref().unwrap_or_default())?;
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
    /// role, or rewriting its permissions, reaches all who hold it. Needs `roles:write`.
    ///
    /// # Errors
    /// `MissingPermission`, `NotFound`, `Invalid`, `Forbidden`, `Exists`, `Protected`,
    /// or storage failures.
    pub async fn update(
        &self,
        actor: &Principal,
        id: RoleId,
        changes: RoleChanges,
        client: &ClientInfo,
    ) -> Result<Role, RoleError> {
        actor.require(ROLES_WRITE)?;
        validate(&changes, false)?;
        let current = self.find(id).await?;
        require_held(actor, &current.permissions)?;
        require_held(actor, changes.permissions.as_deref().unwrap_or_default())?;
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
    /// from its holders, so `actor` must hold them all. Never the `admin` role. Needs
    /// `roles:write`.
    ///
    /// # Errors
    /// `MissingPermission`, `NotFound`, `Forbidden`, `Protected`, or storage failures.
    pub async fn delete(
        &self,
        actor: &Principal,
        id: RoleId,
        client: &ClientInfo,
    ) -> Result<(), RoleError> {
        actor.require(ROLES_WRITE)?;
        let role = self.find(id).await?;
        require_held(actor, &role.permissions)?;
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
    /// holding it already is not an error). Needs `roles:assign`.
    ///
    /// # Errors
    /// `MissingPermission`; `NotFound` for an unknown user or role; `Forbidden` unless
    /// `actor` holds every permission of the role and, when `user` holds `*`, holds `*`;
    /// storage failures.
    pub async fn assign(
        &self,
        actor: &Principal,
        user: UserId,
        role_id: RoleId,
        client: &ClientInfo,
    ) -> Result<(), RoleError> {
        let role = self.role_to_assign(actor, user, role_id).await?;
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
    /// holder of `admin` keeps it. Needs `roles:assign`.
    ///
    /// # Errors
    /// `MissingPermission`, `NotFound` for an unknown role or user, `Forbidden` (as for
    /// [`Self::assign`]), `LastAdmin`, storage failures.
    pub async fn unassign(
        &self,
        actor: &Principal,
        user: UserId,
        role_id: RoleId,
        client: &ClientInfo,
    ) -> Result<(), RoleError> {
        let role = self.role_to_assign(actor, user, role_id).await?;
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

    /// The role `role_id`, which `actor` may give to or take from `user`: `actor` holds
    /// `roles:assign` and every permission of the role, and outranks `user` (only a
    /// holder of `*` changes the roles of a holder of `*`).
    async fn role_to_assign(
        &self,
        actor: &Principal,
        user: UserId,
        role_id: RoleId,
    ) -> Result<Role, RoleError> {
        actor.require(ROLES_ASSIGN)?;
        let role = self.find(role_id).await?;
        require_held(actor, &role.permissions)?;
        if outranks(self.roles.as_ref(), actor, user).await? {
            Ok(role)
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
mod tests;
