//! The authd schema as ordered sea-orm-migration steps, one file per step, for PostgreSQL
//! (native types, triggers, functions) and SQLite (the nearest equivalents). Applied
//! steps are recorded in `schema_migrations`.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_users;
mod m20261127_000002_create_sessions;
mod m20261127_000003_create_roles;
mod m20261127_000004_create_user_roles;
mod m20261127_000005_seed_default_roles;
mod m20261127_000006_create_audit_logs;
mod m20261127_000007_create_oauth_accounts;
mod m20261127_000008_create_one_time_tokens;
mod m20261206_000009_create_login_failures;
mod m20261207_000010_create_oauth_flows;
mod m20261208_000011_create_mfa;
mod m20261209_000012_create_mail_outbox;
mod sql;

/// The ordered list of authd migrations.
pub struct Migrator;

/// Name of the table recording applied migrations (SPEC.md section 2).
pub const MIGRATION_TABLE: &str = "schema_migrations";

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_users::Migration),
            Box::new(m20261127_000002_create_sessions::Migration),
            Box::new(m20261127_000003_create_roles::Migration),
            Box::new(m20261127_000004_create_user_roles::Migration),
            Box::new(m20261127_000005_seed_default_roles::Migration),
            Box::new(m20261127_000006_create_audit_logs::Migration),
            Box::new(m20261127_000007_create_oauth_accounts::Migration),
            Box::new(m20261127_000008_create_one_time_tokens::Migration),
            Box::new(m20261206_000009_create_login_failures::Migration),
            Box::new(m20261207_000010_create_oauth_flows::Migration),
            Box::new(m20261208_000011_create_mfa::Migration),
            Box::new(m20261209_000012_create_mail_outbox::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        MIGRATION_TABLE.into_iden()
    }
}

pub use sea_orm_migration::MigrationStatus;
