//! The authd binary: reads the configuration, opens the database and runs the command
//! (SPEC.md section 6). The composition root: the only place that knows every adapter.

mod cli;
mod config;
mod migrate;

use anyhow::Context as _;
use auth_sea_orm::{PoolConfig, Store};
use clap::Parser;
use cli::{Cli, Command};
use config::Config;
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
        .init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("authd: invalid configuration:\n{err}");
            return ExitCode::FAILURE;
        }
    };
    match run(cli.command.unwrap_or(Command::Serve), config).await {
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

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let store = connect(&config).await?;
    match command {
        Command::Migrate(command) => migrate::run(&store, command).await,
        Command::Serve => anyhow::bail!("serve is not available yet"),
    }
}

/// Opens the pool described by the configuration.
async fn connect(config: &Config) -> anyhow::Result<Store> {
    let db = &config.database;
    Store::connect(&PoolConfig {
        url: db.url.expose().to_owned(),
        max_connections: db.max_connections,
        min_connections: db.min_connections,
        idle_timeout: db.idle_timeout,
        connect_timeout: db.connect_timeout,
    })
    .await
    .with_context(|| format!("cannot open the database {}", db.url))
}
