//! `authd migrate`: schema changes on the configured database, reported on stdout.

use crate::cli::MigrateCommand;
use auth_sea_orm::Store;

/// Runs one migrate subcommand and prints what it did.
///
/// # Errors
/// When the database rejects a step; the step is rolled back.
pub(crate) async fn run(store: &Store, command: MigrateCommand) -> anyhow::Result<()> {
    let applied_before = applied(store).await?;
    match command {
        MigrateCommand::Up => store.migrate_up().await?,
        MigrateCommand::Down { steps } => store.migrate_down(steps).await?,
        MigrateCommand::Fresh => store.migrate_fresh().await?,
        MigrateCommand::Status => {
            for migration in store.migration_status().await? {
                let state = if migration.applied {
                    "applied"
                } else {
                    "pending"
                };
                println!("{state}  {}", migration.name);
            }
            return Ok(());
        }
    }
    let applied_after = applied(store).await?;
    match applied_after.cmp(&applied_before) {
        std::cmp::Ordering::Greater => {
            println!("applied {} migration(s)", applied_after - applied_before);
        }
        std::cmp::Ordering::Less => {
            println!(
                "rolled back {} migration(s)",
                applied_before - applied_after
            );
        }
        std::cmp::Ordering::Equal => println!("nothing to do ({applied_after} applied)"),
    }
    Ok(())
}

async fn applied(store: &Store) -> anyhow::Result<usize> {
    Ok(store
        .migration_status()
        .await?
        .iter()
        .filter(|m| m.applied)
        .count())
}
