//! [`OneTimeTokenRepository`] on sea-orm.

use crate::entities::one_time_tokens;
use crate::error::DbResultExt;
use auth_ports::{OneTimeTokenRepository, StoreError};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};

/// Stores one-time tokens in the `one_time_tokens` table.
#[derive(Clone, Debug)]
pub struct SeaOrmOneTimeTokenRepository {
    db: DatabaseConnection,
}

impl SeaOrmOneTimeTokenRepository {
    /// A repository over the pool.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl OneTimeTokenRepository for SeaOrmOneTimeTokenRepository {
    async fn delete_spent(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let spent = Condition::any()
            .add(one_time_tokens::Column::UsedAt.is_not_null())
            .add(one_time_tokens::Column::ExpiresAt.lte(now));
        Ok(one_time_tokens::Entity::delete_many()
            .filter(spent)
            .exec(&self.db)
            .await
            .store()?
            .rows_affected)
    }
}
