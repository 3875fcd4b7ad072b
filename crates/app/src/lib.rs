//! authd as a library, so the binary and the end-to-end tests share one composition
//! root: configuration, the database, the HTTP service and the CLI commands. `main.rs`
//! only parses the command line and calls [`run`].

pub mod cli;
pub mod config;
pub mod http;
mod migrate;

use anyhow::Context as _;
use auth_sea_orm::{PoolConfig, Store};
use cli::Command;
use config::Config;

/// Runs one CLI command with the given configuration.
///
/// # Errors
/// Whatever stops the command; `main` prints it and exits non-zero.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let store = connect(&config).await?;
    match command {
        Command::Migrate(command) => migrate::run(&store, command).await,
        Command::Serve => {
            if config.database.auto_migrate {
                store
                    .migrate_up()
                    .await
                    .context("cannot migrate the database")?;
            }
            let listener = tokio::net::TcpListener::bind(config.http.bind)
                .await
                .with_context(|| format!("cannot listen on {}", config.http.bind))?;
            http::serve(
                listener,
                http::AppState::new(store),
                http::shutdown_signal(),
            )
            .await
        }
    }
}

/// Opens the pool described by the configuration.
///
/// # Errors
/// When the database cannot be reached or the URL is malformed (the message shows the
/// URL without its password).
pub async fn connect(config: &Config) -> anyhow::Result<Store> {
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
