//! Roles (named sets of permission strings), who holds them, and the repository port.

use crate::{AuditWith, RoleId, StoreError, UserId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A stored role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The id.
    pub id: RoleId,
    /// Unique name.
    pub name: String,
    /// What the role is for.
    pub description: Option<String>,
    /// Permission strings (`resource:action`, `resource:*` or `*`).
    pub permissions: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change (set by the database).
    pub updated_at: DateTime<Utc>,
}

/// What creating a role takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRole {
    /// Unique name.
    pub name: String,
    /// What the role is for.
    pub description: Option<String>,
    /// Permission strings.
    pub permissions: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A partial update of a role; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New permission list.
    pub permissions: Option<Vec<String>>,
}

/// Stores roles and role assignments. Every method is atomic.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait RoleRepository: Send + Sync {
    /// Creates a role and appends `audit`, in one transaction.
    ///
    /// # Errors
    /// `Conflict(RoleName)` if the name is taken.
    async fn create(&self, role: NewRole, audit: AuditWith<Role>) -> Result<Role, StoreError>;

    /// The role with this id.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_by_id(&self, id: RoleId) -> Result<Option<Role>, StoreError>;

    /// The role with this name.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_by_name(&self, name: &str) -> Result<Option<Role>, StoreError>;

    /// Every role, by name.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list(&self) -> Result<Vec<Role>, StoreError>;

    /// Changes a role and appends `audit`, in one transaction.
    ///
    /// # Errors
    /// `NotFound` if there is no such role; `Conflict(RoleName)` if the new name is taken.
    async fn update(
        &self,
        id: RoleId,
        update: RoleUpdate,
        audit: AuditWith<Role>,
    ) -> Result<Role, StoreError>;

    /// Deletes a role and, by cascade, its assignments, and appends `audit`, in one
    /// transaction.
    ///
    /// # Errors
    /// `NotFound` if there is no such role.
    async fn delete(&self, id: RoleId, audit: AuditWith<()>) -> Result<(), StoreError>;

    /// Gives the user the role; `false` if it was held already (nothing changes then).
    /// `audit` is appended in the same transaction.
    ///
    /// # Errors
    /// `NotFound` if the user, the role or the assigning user does not exist.
    async fn assign(
        &self,
        user_id: UserId,
        role_id: RoleId,
        assigned_by: Option<UserId>,
        at: DateTime<Utc>,
        audit: AuditWith<bool>,
    ) -> Result<bool, StoreError>;

    /// Takes the role from the user; `false` if it was not held. With
    /// `keep_an_active_holder`, refuses when the user is the role's last active holder,
    /// checked and done atomically (concurrent removals cannot both pass the check).
    /// `audit` is appended in the same transaction.
    ///
    /// # Errors
    /// `NotFound` if the user does not exist; `Conflict(LastActiveHolder)` when refused;
    /// storage failures.
    async fn unassign(
        &self,
        user_id: UserId,
        role_id: RoleId,
        keep_an_active_holder: bool,
        audit: AuditWith<bool>,
    ) -> Result<bool, StoreError>;

    /// The user's roles, by name.
    ///
    /// # Errors
    /// Storage failures only.
    async fn roles_of_user(&self, user_id: UserId) -> Result<Vec<Role>, StoreError>;

    /// The union of the permissions of the user's roles, sorted, without duplicates.
    ///
    /// # Errors
    /// Storage failures only.
    async fn permissions_of_user(&self, user_id: UserId) -> Result<Vec<String>, StoreError>;

    /// [`Self::permissions_of_user`] for many users in one query; users without roles map
    /// to an empty list.
    ///
    /// # Errors
    /// Storage failures only.
    async fn permissions_of_users(
        &self,
        user_ids: &[UserId],
    ) -> Result<HashMap<UserId, Vec<String>>, StoreError>;

    /// How many users in status `active` hold the role (for last-admin rules).
    ///
    /// # Errors
    /// Storage failures only.
    async fn count_active_holders(&self, role_id: RoleId) -> Result<u64, StoreError>;
}
