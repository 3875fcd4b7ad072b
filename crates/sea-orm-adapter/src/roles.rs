//! [`RoleRepository`] on sea-orm.

use crate::audit::commit_with;
use crate::entities::{roles, user_roles, users};
use crate::error::{DbResultExt, begin_write, corrupt};
use auth_ports::{
    AuditWith, Constraint, NewRole, Role, RoleId, RoleRepository, RoleUpdate, StoreError, UserId,
    UserStatus,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, RelationTrait, Set,
};
use std::collections::{BTreeSet, HashMap};

/// SQLite allows 32766 bound parameters per statement; stay far below it.
const IN_LIST_CHUNK: usize = 1000;

/// Stores roles in `roles` and assignments in `user_roles`.
#[derive(Clone, Debug)]
pub struct SeaOrmRoleRepository {
    db: DatabaseConnection,
}

impl SeaOrmRoleRepository {
    /// A repository over the pool.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

impl TryFrom<roles::Model> for Role {
    type Error = StoreError;

    fn try_from(m: roles::Model) -> Result<Self, StoreError> {
        Ok(Role {
            id: RoleId(m.id),
            name: m.name,
            description: m.description,
            permissions: serde_json::from_value(m.permissions)
                .map_err(|e| corrupt("roles.permissions", e))?,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

fn to_roles(rows: Vec<roles::Model>) -> Result<Vec<Role>, StoreError> {
    rows.into_iter().map(Role::try_from).collect()
}

/// Ids of the users in status `active` who hold the role.
async fn active_holders(
    conn: &impl ConnectionTrait,
    role_id: RoleId,
) -> Result<Vec<uuid::Uuid>, StoreError> {
    user_roles::Entity::find()
        .select_only()
        .column(user_roles::Column::UserId)
        .join(JoinType::InnerJoin, user_roles::Relation::User.def())
        .filter(user_roles::Column::RoleId.eq(role_id.0))
        .filter(users::Column::Status.eq(UserStatus::Active.as_str()))
        .into_tuple()
        .all(conn)
        .await
        .store()
}

/// `Conflict(LastActiveHolder)` if `user_id` is the role's only active holder. Locks the
/// role row first, which serialises every guarded change to its holders: FOR UPDATE on
/// PostgreSQL; on SQLite the write transaction holds the database lock already.
pub(crate) async fn refuse_last_active_holder(
    txn: &DatabaseTransaction,
    role_id: RoleId,
    user_id: UserId,
) -> Result<(), StoreError> {
    roles::Entity::find_by_id(role_id.0)
        .lock_exclusive()
        .one(txn)
        .await
        .store()?;
    if active_holders(txn, role_id).await? == [user_id.0] {
        return Err(StoreError::Conflict(Constraint::LastActiveHolder));
    }
    Ok(())
}

/// The sorted union of the roles' permissions.
fn union(roles: impl IntoIterator<Item = Role>) -> Vec<String> {
    roles
        .into_iter()
        .flat_map(|role| role.permissions)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[async_trait::async_trait]
impl RoleRepository for SeaOrmRoleRepository {
    async fn create(&self, role: NewRole, audit: AuditWith<Role>) -> Result<Role, StoreError> {
        let txn = begin_write(&self.db).await?;
        let created: Role = roles::ActiveModel {
            id: Set(RoleId::new().0),
            name: Set(role.name),
            description: Set(role.description),
            permissions: Set(serde_json::json!(role.permissions)),
            created_at: Set(role.created_at),
            updated_at: Set(role.created_at),
        }
        .insert(&txn)
        .await
        .store()?
        .try_into()?;
        commit_with(txn, audit, &created).await?;
        Ok(created)
    }

    async fn find_by_id(&self, id: RoleId) -> Result<Option<Role>, StoreError> {
        roles::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .store()?
            .map(Role::try_from)
            .transpose()
    }

    async fn find_by_name(&self, name: &str) -> Result<Option<Role>, StoreError> {
        roles::Entity::find()
            .filter(roles::Column::Name.eq(name))
            .one(&self.db)
            .await
            .store()?
            .map(Role::try_from)
            .transpose()
    }

    async fn list(&self) -> Result<Vec<Role>, StoreError> {
        to_roles(
            roles::Entity::find()
                .order_by_asc(roles::Column::Name)
                .all(&self.db)
                .await
                .store()?,
        )
    }

    async fn update(
        &self,
        id: RoleId,
        update: RoleUpdate,
        audit: AuditWith<Role>,
    ) -> Result<Role, StoreError> {
        let txn = begin_write(&self.db).await?;
        let mut row: roles::ActiveModel = roles::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .store()?
            .ok_or(StoreError::NotFound)?
            .into();
        if let Some(name) = update.name {
            row.name = Set(name);
        }
        if let Some(description) = update.description {
            row.description = Set(description);
        }
        if let Some(permissions) = update.permissions {
            row.permissions = Set(serde_json::json!(permissions));
        }
        if row.is_changed() {
            row.update(&txn).await.store()?;
        }
        // Read back: on SQLite the `updated_at` trigger runs after RETURNING is computed.
        let updated: Role = roles::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .store()?
            .ok_or(StoreError::NotFound)?
            .try_into()?;
        commit_with(txn, audit, &updated).await?;
        Ok(updated)
    }

    async fn delete(&self, id: RoleId, audit: AuditWith<()>) -> Result<(), StoreError> {
        let txn = begin_write(&self.db).await?;
        match roles::Entity::delete_by_id(id.0)
            .exec(&txn)
            .await
            .store()?
            .rows_affected
        {
            0 => Err(StoreError::NotFound),
            _ => commit_with(txn, audit, &()).await,
        }
    }

    async fn assign(
        &self,
        user_id: UserId,
        role_id: RoleId,
        assigned_by: Option<UserId>,
        at: DateTime<Utc>,
        audit: AuditWith<bool>,
    ) -> Result<bool, StoreError> {
        let txn = begin_write(&self.db).await?;
        let inserted = user_roles::Entity::insert(user_roles::ActiveModel {
            user_id: Set(user_id.0),
            role_id: Set(role_id.0),
            assigned_at: Set(at),
            assigned_by: Set(assigned_by.map(|id| id.0)),
        })
        .on_conflict(
            OnConflict::columns([user_roles::Column::UserId, user_roles::Column::RoleId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .store()?
            > 0;
        commit_with(txn, audit, &inserted).await?;
        Ok(inserted)
    }

    async fn unassign(
        &self,
        user_id: UserId,
        role_id: RoleId,
        keep_an_active_holder: bool,
        audit: AuditWith<bool>,
    ) -> Result<bool, StoreError> {
        let txn = begin_write(&self.db).await?;
        if keep_an_active_holder {
            refuse_last_active_holder(&txn, role_id, user_id).await?;
        }
        let removed = user_roles::Entity::delete_many()
            .filter(user_roles::Column::UserId.eq(user_id.0))
            .filter(user_roles::Column::RoleId.eq(role_id.0))
            .exec(&txn)
            .await
            .store()?
            .rows_affected
            > 0;
        // Nothing to remove from a user who does not exist is not a success.
        if !removed
            && users::Entity::find_by_id(user_id.0)
                .one(&txn)
                .await
                .store()?
                .is_none()
        {
            return Err(StoreError::NotFound);
        }
        commit_with(txn, audit, &removed).await?;
        Ok(removed)
    }

    async fn roles_of_user(&self, user_id: UserId) -> Result<Vec<Role>, StoreError> {
        to_roles(
            roles::Entity::find()
                .join(JoinType::InnerJoin, user_roles::Relation::Role.def().rev())
                .filter(user_roles::Column::UserId.eq(user_id.0))
                .order_by_asc(roles::Column::Name)
                .all(&self.db)
                .await
                .store()?,
        )
    }

    async fn permissions_of_user(&self, user_id: UserId) -> Result<Vec<String>, StoreError> {
        Ok(union(self.roles_of_user(user_id).await?))
    }

    async fn permissions_of_users(
        &self,
        user_ids: &[UserId],
    ) -> Result<HashMap<UserId, Vec<String>>, StoreError> {
        let mut by_user: HashMap<UserId, Vec<Role>> =
            user_ids.iter().map(|id| (*id, Vec::new())).collect();
        for chunk in user_ids.chunks(IN_LIST_CHUNK) {
            let rows = user_roles::Entity::find()
                .find_also_related(roles::Entity)
                .filter(user_roles::Column::UserId.is_in(chunk.iter().map(|id| id.0)))
                .all(&self.db)
                .await
                .store()?;
            for (assignment, role) in rows {
                if let Some(role) = role {
                    by_user
                        .entry(UserId(assignment.user_id))
                        .or_default()
                        .push(role.try_into()?);
                }
            }
        }
        Ok(by_user
            .into_iter()
            .map(|(id, roles)| (id, union(roles)))
            .collect())
    }

    async fn count_active_holders(&self, role_id: RoleId) -> Result<u64, StoreError> {
        Ok(active_holders(&self.db, role_id).await?.len() as u64)
    }
}
