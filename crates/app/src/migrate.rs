//! `authd migrate`: schema changes on the configured database, reported on stdout.

use crate::cli::MigrateCommand;
use auth_sea_orm::Store;
use std::io::IsTerminal as _;

/// Refuses `migrate fresh` typed at a terminal without `--yes`: it destroys every table's
/// data, so a person must say so. Scripts (stdin not a terminal) are not asked.
///
/// # Errors
/// `fresh` without `--yes` from a terminal.
pub(crate) fn confirm(command: &MigrateCommand) -> anyhow::Result<()> {
    confirmed(command, std::io::stdin().is_terminal())
}

fn confirmed(command: &MigrateCommand, at_terminal: bool) -> anyhow::Result<()> {
    match command {
        MigrateCommand::Fresh { yes: false } if at_terminal => Err(anyhow::anyhow!(
            "`migrate fresh` destroys all data in the database; run `authd migrate fresh --yes` to go ahead"
        )),
        _ => Ok(()),
    }
}

/// Runs one migrate subcommand and prints what it did.
///
/// # Errors
/// When the database rejects a step; the step is rolled back.
pub(crate) async fn run(store: &Store, command: MigrateCommand) -> anyhow::Result<()> {
    let applied_before = applied(store).await?;
    match command {
        MigrateCommand::Up => store.migrate_up().await?,
        MigrateCommand::Down { steps } => store.migrate_down(steps).await?,
        MigrateCommand::Fresh { .. } => {
            store.migrate_fresh().await?;
            let applied_after = applied(store).await?;
            println!("rolled back {applied_before}, applied {applied_after} migration(s)");
            return Ok(());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_at_a_terminal_needs_yes() {
        let fresh = |yes| MigrateCommand::Fresh { yes };
        let refused = confirmed(&fresh(false), true).unwrap_err();
        assert!(refused.to_string().contains("--yes"), "{refused}");
        assert!(confirmed(&fresh(true), true).is_ok());
        assert!(
            confirmed(&fresh(false), false).is_ok(),
            "scripts are not asked"
        );
        assert!(confirmed(&MigrateCommand::Up, true).is_ok());
    }
}
