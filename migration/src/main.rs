//! The standard sea-orm-migration CLI (`up`, `down`, `status`, `fresh`, `refresh`,
//! `reset`) over the authd migrations, on `DATABASE_URL`.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
