//! The connection pool and the handle the composition root holds: it hands out the
//! repositories, all sharing one pool.

use crate::error::{DbResultExt, sqlite_busy_at_connect};
use crate::hot_lane::HotLane;
use crate::lookup_batches::{ASKERS, Batches};
use crate::session_lookup::SessionLookups;
use crate::{
    SeaOrmAuditRepository, SeaOrmOAuthAccountRepository, SeaOrmOneTimeTokenRepository,
    SeaOrmRoleRepository, SeaOrmSessionRepository, SeaOrmUserRepository,
};
use auth_ports::StoreError;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr};
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

/// Opens the pool. The first connection to a new SQLite file switches it to WAL; an
/// instance starting while another holds that file's first write transaction gets
/// SQLITE_BUSY at once (the busy timeout does not cover the switch), so it tries again
/// until `patience` has passed.
async fn open(options: &ConnectOptions, patience: Duration) -> Result<DatabaseConnection, DbErr> {
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

/// The database behind authd: a pool shared by every repository.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    pub(crate) lane: HotLane,
    lookups: SessionLookups,
    /// On PostgreSQL, the pool of the batched lookups and its lane.
    batch: Option<(DatabaseConnection, HotLane)>,
}

impl Store {
    /// Opens the pool and checks that the database answers.
    ///
    /// # Errors
    /// `Unavailable` if the database cannot be reached within the connect timeout;
    /// `Other` for a malformed URL or an unsupported backend.
    pub async fn connect(config: &PoolConfig) -> Result<Self, StoreError> {
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
        match db.get_database_backend() {
            DbBackend::Postgres | DbBackend::Sqlite => {}
            other => {
                return Err(StoreError::Other(
                    format!("authd supports PostgreSQL and SQLite, not {other:?}").into(),
                ));
            }
        }
        // Half the pool at most (none of a pool of one), so writes and other reads
        // always find connections.
        let kept = (config.max_connections / 2) as usize;
        let lane = HotLane::new(db.clone(), kept, config.idle_timeout);
        let askers = ASKERS.min(kept).max(1);
        let (batch, batch_lane) = match db.get_database_backend() {
            DbBackend::Postgres => {
                // The batched lookups' own connections, on PostgreSQL's generic plan: a
                // batch of fewer than ten tokens looks cheaper to plan anew (the generic
                // plan guesses ten), so PostgreSQL re-planned the six-table join for
                // nearly every batch, at most of a core.
                let mut options = options.clone();
                options
                    .max_connections(askers as u32)
                    .min_connections(0)
                    // A batch that gets no connection soon leaves its lookups to run
                    // alone on the main pool, so an outage answers about as fast as
                    // without batches.
                    .acquire_timeout(config.connect_timeout / 4)
                    // Connected by the first batch, so start-up waits for one pool only.
                    .connect_lazy(true)
                    .map_sqlx_postgres_opts(|opts| {
                        opts.options([("plan_cache_mode", "force_generic_plan")])
                    });
                let batch_db = open(&options, config.connect_timeout).await.store()?;
                let batch_lane = HotLane::new(batch_db.clone(), askers, config.idle_timeout);
                (Some((batch_db, batch_lane.clone())), batch_lane)
            }
            _ => (None, lane.clone()),
        };
        let lookups = SessionLookups::new(
            lane.clone(),
            Batches::start(batch_lane, askers, config.connect_timeout),
        );
        let store = Self {
            db,
            lane,
            lookups,
            batch,
        };
        store.ping().await?;
        Ok(store)
    }

    /// Checks that the database answers now.
    ///
    /// # Errors
    /// `Unavailable` (or `Other`) when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.store()
    }

    /// Closes every connection of the pool.
    ///
    /// # Errors
    /// When the pool cannot be closed cleanly.
    pub async fn close(self) -> Result<(), StoreError> {
        self.lane.close();
        let batch = match self.batch {
            Some((batch_db, batch_lane)) => {
                batch_lane.close();
                batch_db.close().await.store()
            }
            None => Ok(()),
        };
        let main = self.db.close().await.store();
        batch.and(main)
    }

    /// The user repository.
    #[must_use]
    pub fn users(&self) -> SeaOrmUserRepository {
        SeaOrmUserRepository::new(self.db.clone(), self.lane.clone())
    }

    /// The session repository.
    #[must_use]
    pub fn sessions(&self) -> SeaOrmSessionRepository {
        SeaOrmSessionRepository::new(self.db.clone(), self.lane.clone(), self.lookups.clone())
    }

    /// The role repository.
    #[must_use]
    pub fn roles(&self) -> SeaOrmRoleRepository {
        SeaOrmRoleRepository::new(self.db.clone())
    }

    /// The audit repository.
    #[must_use]
    pub fn audit(&self) -> SeaOrmAuditRepository {
        SeaOrmAuditRepository::new(self.db.clone())
    }

    /// The OAuth account repository.
    #[must_use]
    pub fn oauth_accounts(&self) -> SeaOrmOAuthAccountRepository {
        SeaOrmOAuthAccountRepository::new(self.db.clone())
    }

    /// The one-time token repository.
    #[must_use]
    pub fn one_time_tokens(&self) -> SeaOrmOneTimeTokenRepository {
        SeaOrmOneTimeTokenRepository::new(self.db.clone())
    }
}

/// A migrated PostgreSQL database of its own, for the adapter's tests of PostgreSQL-only
/// paths; `None` (the test skips) without `TEST_DATABASE_URL`.
#[cfg(test)]
pub(crate) async fn migrated_postgres() -> Option<(auth_testing::TestDatabase, Store)> {
    let database = auth_testing::TestDatabase::postgres().await?;
    let store = migrated(&database).await;
    Some((database, store))
}

/// A store on `database`, migrated.
#[cfg(test)]
pub(crate) async fn migrated(database: &auth_testing::TestDatabase) -> Store {
    let store = Store::connect(&PoolConfig {
        url: database.url().to_owned(),
        max_connections: 4,
        min_connections: 1,
        idle_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
    })
    .await
    .expect("the test database answers");
    store.migrate_up().await.expect("the migrations apply");
    store
}

/// A verified user with a stub password hash, created at `at`, and that hash.
#[cfg(test)]
pub(crate) async fn stub_user(
    store: &Store,
    email: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> (auth_ports::User, auth_ports::PasswordHash) {
    use auth_ports::UserRepository as _;
    let hash = auth_ports::PasswordHash::new("$argon2id$v=19$stub".into());
    let new_user = auth_ports::NewUser {
        email: auth_ports::Email::parse(email).expect("a valid email"),
        password_hash: Some(hash.clone()),
        first_name: None,
        last_name: None,
        email_verified: true,
        role: None,
        verification: None,
        created_at: at,
    };
    let users = store.users();
    let created = users.create(new_user, auth_testing::unaudited()).await;
    (created.expect("the user is created"), hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Statement;

    /// The batched lookups' connections run on PostgreSQL's generic plan; the main
    /// pool's keep the default.
    #[tokio::test]
    async fn only_the_batch_pool_forces_generic_plans_on_postgres() {
        let Some((_database, store)) = migrated_postgres().await else {
            return;
        };
        let show = Statement::from_string(DbBackend::Postgres, "SHOW plan_cache_mode");
        let (_, batch_lane) = store.batch.as_ref().expect("a pool of its own");
        for (lane, expected) in [(batch_lane, "force_generic_plan"), (&store.lane, "auto")] {
            let rows = lane.query_all(show.clone()).await.unwrap();
            let mode: String = rows[0].try_get_by_index(0).unwrap();
            assert_eq!(mode, expected);
        }
    }
}
