//! Runs a migration step written as SQL per backend. The schema is where PostgreSQL and
//! SQLite genuinely differ (types, triggers, functions), so each step states both
//! dialects side by side instead of hiding them behind a builder.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// One migration direction, in both dialects.
pub struct Dialects {
    /// Statements for PostgreSQL.
    pub postgres: &'static str,
    /// Statements for SQLite.
    pub sqlite: &'static str,
}

/// Executes the statements for the connected backend.
///
/// # Errors
/// The database error of the first statement that fails, or an error for a backend
/// authd does not support.
pub async fn run(manager: &SchemaManager<'_>, sql: Dialects) -> Result<(), DbErr> {
    let statements = match manager.get_database_backend() {
        DbBackend::Postgres => sql.postgres,
        DbBackend::Sqlite => sql.sqlite,
        other => {
            return Err(DbErr::Migration(format!(
                "authd supports PostgreSQL and SQLite, not {other:?}"
            )));
        }
    };
    manager
        .get_connection()
        .execute_unprepared(statements)
        .await
        .map(|_| ())
}

/// Implements `MigrationTrait` for `Migration` from two `Dialects` constants, `UP` and
/// `DOWN`. Every step runs in one transaction on both backends (SQLite DDL is
/// transactional too), so a failed step leaves nothing half-made.
macro_rules! sql_migration {
    () => {
        #[derive(DeriveMigrationName)]
        /// This migration step.
        pub struct Migration;

        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                crate::sql::run(manager, UP).await
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                crate::sql::run(manager, DOWN).await
            }

            fn use_transaction(&self) -> Option<bool> {
                Some(true)
            }
        }
    };
}
pub(crate) use sql_migration;
