//! The `authd` binary: parses the command line, loads `.env` and the configuration, and
//! runs the command (SPEC.md section 6).

use authd::cli::{Cli, Command};
use authd::config::Config;
use clap::Parser;
use std::io::IsTerminal as _;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = load_dotenv() {
        eprintln!("authd: cannot read .env: {err}");
        return ExitCode::FAILURE;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,sea_orm_migration=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("authd: invalid configuration:\n{err}");
            return ExitCode::FAILURE;
        }
    };
    match authd::run(cli.command.unwrap_or(Command::Serve), config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("authd: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads `.env` from the working directory if there is one.
fn load_dotenv() -> Result<(), dotenvy::Error> {
    match dotenvy::dotenv() {
        Err(err) if err.not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}
