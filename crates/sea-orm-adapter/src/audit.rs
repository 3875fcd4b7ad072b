//! [`AuditRepository`] on sea-orm.

use crate::entities::{Inet, audit_logs};
use crate::error::{DbResultExt, corrupt};
use crate::keyset;
use auth_ports::{
    AuditEntry, AuditEntryId, AuditQuery, AuditRepository, AuditWith, NewAuditEntry, StoreError,
    UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, NotSet, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Set,
};
use std::collections::BTreeMap;

/// Appends to and reads the `audit_logs` table.
#[derive(Clone, Debug)]
pub struct SeaOrmAuditRepository {
    db: DatabaseConnection,
}

impl SeaOrmAuditRepository {
    /// A repository over the pool.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

impl From<audit_logs::Model> for AuditEntry {
    fn from(m: audit_logs::Model) -> Self {
        AuditEntry {
            id: AuditEntryId(m.id),
            entry: NewAuditEntry {
                user_id: m.user_id.map(UserId),
                action: m.action,
                resource_type: m.resource_type,
                resource_id: m.resource_id,
                ip_address: m.ip_address.as_ref().and_then(Inet::to_ip),
                user_agent: m.user_agent,
                details: m.details,
                success: m.success,
                error_message: m.error_message,
                created_at: m.created_at,
            },
        }
    }
}

/// The row of one entry (its id left to the database).
pub(crate) fn row(entry: NewAuditEntry) -> audit_logs::ActiveModel {
    audit_logs::ActiveModel {
        id: NotSet,
        user_id: Set(entry.user_id.map(|id| id.0)),
        action: Set(entry.action),
        resource_type: Set(entry.resource_type),
        resource_id: Set(entry.resource_id),
        ip_address: Set(entry.ip_address.map(Inet::from)),
        user_agent: Set(entry.user_agent),
        details: Set(entry.details),
        success: Set(entry.success),
        error_message: Set(entry.error_message),
        created_at: Set(entry.created_at),
    }
}

/// Inserts one entry on the caller's connection or transaction.
async fn insert(
    conn: &impl ConnectionTrait,
    entry: NewAuditEntry,
) -> Result<audit_logs::Model, StoreError> {
    row(entry).insert(conn).await.store()
}

/// Appends the entries `audit` makes of `outcome` to the write in `txn`, then commits:
/// an action and its trail are stored together or not at all.
pub(crate) async fn commit_with<T>(
    txn: DatabaseTransaction,
    audit: AuditWith<T>,
    outcome: &T,
) -> Result<(), StoreError> {
    for entry in audit(outcome) {
        insert(&txn, entry).await?;
    }
    txn.commit().await.store()
}

/// Restricts a select to `[from, to)`.
fn in_period(
    select: Select<audit_logs::Entity>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Select<audit_logs::Entity> {
    select
        .apply_if(from, |s, from| {
            s.filter(audit_logs::Column::CreatedAt.gte(from))
        })
        .apply_if(to, |s, to| s.filter(audit_logs::Column::CreatedAt.lt(to)))
}

/// The select `query` runs, newest first; a function of its own so the benchmark can
/// EXPLAIN exactly this SQL.
pub(crate) fn select(query: AuditQuery) -> Select<audit_logs::Entity> {
    use audit_logs::Column;
    in_period(audit_logs::Entity::find(), query.from, query.to)
        .apply_if(query.user_id, |s, id| s.filter(Column::UserId.eq(id.0)))
        .apply_if(query.action, |s, action| {
            s.filter(Column::Action.eq(action))
        })
        .apply_if(query.resource_type, |s, t| {
            s.filter(Column::ResourceType.eq(t))
        })
        .apply_if(query.resource_id, |s, id| {
            s.filter(Column::ResourceId.eq(id))
        })
        .apply_if(query.ip_address, |s, ip| {
            s.filter(Column::IpAddress.eq(Inet::from(ip)))
        })
        .apply_if(query.success, |s, success| {
            s.filter(Column::Success.eq(success))
        })
        .apply_if(query.after, |s, after| {
            s.filter(keyset::after(
                Column::CreatedAt,
                Column::Id,
                after.created_at,
                after.id.0,
            ))
        })
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(u64::from(query.limit))
}

#[async_trait::async_trait]
impl AuditRepository for SeaOrmAuditRepository {
    async fn append(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        Ok(insert(&self.db, entry).await?.into())
    }

    async fn query(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(select(query)
            .all(&self.db)
            .await
            .store()?
            .into_iter()
            .map(AuditEntry::from)
            .collect())
    }

    async fn count_by_action(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let counts: Vec<(String, i64)> = in_period(audit_logs::Entity::find(), from, to)
            .select_only()
            .column(audit_logs::Column::Action)
            .column_as(Expr::col(audit_logs::Column::Id).count(), "n")
            .group_by(audit_logs::Column::Action)
            .into_tuple()
            .all(&self.db)
            .await
            .store()?;
        counts
            .into_iter()
            .map(|(action, n)| {
                u64::try_from(n)
                    .map(|n| (action, n))
                    .map_err(|e| corrupt("audit count", e))
            })
            .collect()
    }

    async fn delete_older_than(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(audit_logs::Entity::delete_many()
            .filter(audit_logs::Column::CreatedAt.lt(cutoff))
            .exec(&self.db)
            .await
            .store()?
            .rows_affected)
    }
}
