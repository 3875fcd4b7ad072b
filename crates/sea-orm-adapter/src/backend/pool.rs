//! How the pools are opened: their settings, the retry while another instance holds a
//! new SQLite file, and the private mode of that file; and how they stand, for metrics.

use crate::error::{DbResultExt, sqlite_busy_at_connect};
use auth_ports::StoreError;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use std::time::{Duration, Instant};

/// How to reach the database and size the pool (SPEC.md section 3).
#[derive(Clone)]
pub struct PoolConfig {
    /// `postgres://…` or `sqlite://…`.
    pub url: String,
    /// Most open connections.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long an unused connection stays open.
    pub idle_timeout: Duration,
    /// How long connecting, and waiting for a free connection, may take.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password; only its scheme is shown.
        let scheme = self.url.split(':').next().unwrap_or_default();
        f.debug_struct("PoolConfig")
            .field("url", &format_args!("{scheme}://…"))
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Which pool a [`PoolStats`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolKind {
    /// The pool every repository uses.
    Main,
    /// PostgreSQL's own pool for the batched session lookups (SQLite has none).
    Batch,
}

impl PoolKind {
    /// `main` or `batch`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Batch => "batch",
        }
    }
}

/// How one pool stands at the moment it is read. sqlx counts no callers waiting for a
/// connection, so there is no such number here: while every connection is in use
/// (`in_use() == max`), the next caller waits, up to the connect timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// The pool.
    pub pool: PoolKind,
    /// Connections open or being opened, idle or in use.
    pub open: u32,
    /// Open connections waiting in the pool to be used.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
    /// Connections the hot lane holds (idle there or running a statement) or is taking
    /// from the pool; the pool counts them as in use.
    pub kept: u32,
}

impl PoolStats {
    /// Connections taken from the pool (the hot lane's included).
    #[must_use]
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

/// Opens the main pool of `config`, with a SQLite file created private first.
pub(super) async fn open_main(
    config: &PoolConfig,
) -> Result<(DatabaseConnection, ConnectOptions), StoreError> {
    let mut options = ConnectOptions::new(config.url.clone());
    options
        .max_connections(config.max_connections)
        .min_connections(config.min_connections)
        .idle_timeout(config.idle_timeout)
        .connect_timeout(config.connect_timeout)
        // A request waits for a pooled connection no longer than for a new one, so
        // an outage surfaces as `Unavailable` instead of a hang.
        .acquire_timeout(config.connect_timeout)
        // A SQLite connection is a handle into this process, with nothing at the far
        // end to go away: pinging it before each use is a wasted hand-off to its
        // thread. PostgreSQL connections are still tested (the server may restart).
        .test_before_acquire(!config.url.starts_with("sqlite:"))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            // WAL lets readers run beside the single writer; the busy timeout makes
            // writers queue instead of failing at once.
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    if config.url.starts_with("sqlite:") {
        private_sqlite_file(&config.url)?;
    }
    let db = open(&options, config.connect_timeout).await.store()?;
    Ok((db, options))
}

/// Opens a pool. The first connection to a new SQLite file switches it to WAL; an
/// instance starting while another holds that file's first write transaction gets
/// SQLITE_BUSY at once (the busy timeout does not cover the switch), so it tries again
/// until `patience` has passed.
pub(super) async fn open(
    options: &ConnectOptions,
    patience: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let deadline = Instant::now() + patience;
    loop {
        match Database::connect(options.clone()).await {
            Err(err) if sqlite_busy_at_connect(&err) && Instant::now() < deadline => {
                tokio::time::sleep(LOCKED_FILE_RETRY).await;
            }
            outcome => return outcome,
        }
    }
}

/// Creates the file of a SQLite URL with `mode=rwc` that does not exist yet, readable
/// and writable by its owner only (0600), before SQLite would create it with the
/// umask's mode: it holds password hashes and session data. SQLite gives its `-wal`
/// and `-shm` files the database file's mode. An existing file is left as it is, with
/// a warning if others may read it.
fn private_sqlite_file(url: &str) -> Result<(), StoreError> {
    use sea_orm::sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr as _;
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let mode = query.split('&').find_map(|pair| pair.strip_prefix("mode="));
    if mode != Some("rwc") || url.contains(":memory:") {
        return Ok(());
    }
    let options = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::Other(e.into()))?;
    let path = options.get_filename();
    let created = create_private(path);
    match created {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_shared(path);
            Ok(())
        }
        Err(err) => Err(StoreError::Other(
            format!("cannot create the SQLite file {}: {err}", path.display()).into(),
        )),
    }
}

#[cfg(unix)]
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(not(unix))]
fn create_private(_path: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn warn_if_shared(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            mode = format_args!("{:o}", meta.permissions().mode() & 0o777),
            "the SQLite database file is accessible to other users; `chmod 600` it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &std::path::Path) {}

/// The pause between attempts to open a locked SQLite file.
const LOCKED_FILE_RETRY: Duration = Duration::from_millis(50);
