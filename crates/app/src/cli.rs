//! The command line of `authd` (SPEC.md section 6).

use clap::{Parser, Subcommand};

/// authd: authentication and authorization service.
#[derive(Debug, Parser)]
#[command(name = "authd", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply, roll back or inspect the database schema.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Manage user accounts (`users` works too).
    #[command(subcommand, visible_alias = "users")]
    User(UserCommand),
    /// Housekeeping for operators.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
}

/// `authd maintenance …`.
#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Delete expired sessions, used or expired one-time tokens, and audit entries older
    /// than `AUDIT_RETENTION_DAYS`, printing what was removed.
    Cleanup,
}

/// `authd user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an active user with a verified email. The password is read from standard
    /// input (one line), or asked for without echo on a terminal.
    Create {
        /// The user's email address.
        #[arg(long)]
        email: String,
        /// The role to give (e.g. `admin` to bootstrap the first administrator).
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// Import accounts from a JSON-lines file (docs/operations.md, "Migrating to authd"),
    /// password hashes of other systems included. Accounts already there are left
    /// alone, so a run can be repeated. Bad lines are reported with their number and
    /// skipped (the exit status is then 1), or with `--strict` stop the run before
    /// anything is written.
    Import {
        /// The file, one JSON object per line.
        file: std::path::PathBuf,
        /// Check every line first and import nothing if one is bad.
        #[arg(long)]
        strict: bool,
    },
    /// Write every account as JSON lines, in the format `import` reads, password hashes
    /// included: keep the output as secret as the database.
    Export {
        /// Write to this file (created readable by its owner only) instead of stdout.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
}

/// `authd migrate …`.
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply every pending migration.
    Up,
    /// Roll back the newest migration, or the newest N (all of them when N exceeds the
    /// number applied).
    Down {
        /// How many migrations to roll back.
        #[arg(short = 'n', long = "steps", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
    },
    /// List every migration and whether it is applied.
    Status,
    /// Roll back every migration, then apply all again (destroys all data). On a
    /// terminal it runs only with `--yes`.
    Fresh {
        /// Confirm that every table's data may be destroyed.
        #[arg(long)]
        yes: bool,
    },
}
