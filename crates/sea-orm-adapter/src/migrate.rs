//! Applying and rolling back the schema on the connected database. On PostgreSQL the
//! whole run holds an advisory lock, so instances starting together migrate once.

use crate::Store;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// A migration failed; nothing of the failing step remains.
#[derive(Debug, thiserror::Error)]
#[error("migration failed: {0}")]
pub struct MigrationsError(#[from] DbErr);

/// One known migration and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// The migration's name.
    pub name: String,
    /// Whether it is recorded in `schema_migrations`.
    pub applied: bool,
}

impl Store {
    /// Applies every pending migration in one transaction: if a step fails, nothing of
    /// this run stays applied.
    ///
    /// # Errors
    /// The failing step's error.
    pub async fn migrate_up(&self) -> Result<(), MigrationsError> {
        let txn = self.locked().await?;
        Migrator::up(&txn, None).await?;
        Ok(txn.commit().await?)
    }

    /// Rolls back the last `steps` applied migrations, or all when fewer are applied, in
    /// one transaction.
    ///
    /// # Errors
    /// The failing step's error; then nothing is rolled back.
    pub async fn migrate_down(&self, steps: u32) -> Result<(), MigrationsError> {
        let txn = self.locked().await?;
        Migrator::down(&txn, Some(steps)).await?;
        Ok(txn.commit().await?)
    }

    /// Rolls back every applied migration and applies all again, in one transaction.
    /// The migrations' own `down`s remove what their `up`s made, including the views,
    /// functions and triggers that sea-orm's table-only `fresh` leaves behind (and that
    /// then make the first `up` fail); tables no migration made are left alone.
    ///
    /// # Errors
    /// The failing step's error; then nothing changes.
    pub async fn migrate_fresh(&self) -> Result<(), MigrationsError> {
        let txn = self.locked().await?;
        Migrator::down(&txn, None).await?;
        Migrator::up(&txn, None).await?;
        Ok(txn.commit().await?)
    }

    /// Every known migration, oldest first, with whether it is applied.
    ///
    /// # Errors
    /// When `schema_migrations` cannot be read.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>, MigrationsError> {
        Ok(Migrator::get_migration_with_status(self.db())
            .await?
            .into_iter()
            .map(|m| MigrationState {
                name: m.name().to_owned(),
                applied: m.status() == migration::MigrationStatus::Applied,
            })
            .collect())
    }

    /// A transaction that, on PostgreSQL, holds the migration lock until it ends.
    async fn locked(&self) -> Result<DatabaseTransaction, DbErr> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let txn = self.db().begin_with_options(options).await?;
        self.backend.lock_migrations(&txn).await?;
        Ok(txn)
    }
}
