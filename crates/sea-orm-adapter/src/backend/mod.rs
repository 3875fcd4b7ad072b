//! Everything that differs between PostgreSQL and SQLite, chosen once when the store
//! connects: the pools, the connections kept aside for the single statements of the hot
//! paths ([`hot_lane`]), the batched session lookup, and the writes PostgreSQL runs as
//! one statement where SQLite runs a transaction. Repositories call [`Backend`] and
//! never ask which database they are on.

mod dialect;
mod hot_lane;
mod lookup_batches;
mod one_statement;
mod pool;
mod postgres;
mod session_lookup;
mod session_rows;
mod sqlite;

pub use pool::{PoolConfig, PoolKind, PoolStats};

use crate::audit::commit_with;
use crate::challenges::take_live;
use crate::error::{DbResultExt, begin_write};
use crate::login::record_login;
use crate::mail_outbox::MailSignal;
use crate::new_account::NewAccount;
use auth_ports::{
    ActiveSession, AuditWith, ChallengeId, LoginSource, PasswordHash, Session, StoreError,
    TokenHash, User,
};
use chrono::{DateTime, Utc};
use dialect::Dialect;
use hot_lane::HotLane;
use lookup_batches::{ASKERS, Batches};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, QueryResult, StatementBuilder};
use session_lookup::SessionLookups;

/// The connected database and its dialect's way of running the hot paths.
#[derive(Clone, Debug)]
pub(crate) struct Backend {
    dialect: Dialect,
    db: DatabaseConnection,
    /// Kept connections for the session lookup, the login's account lookup and
    /// PostgreSQL's login and account statements.
    lane: HotLane,
    lookups: SessionLookups,
    /// On PostgreSQL, the pool of the batched lookups and its lane.
    batch: Option<(DatabaseConnection, HotLane)>,
    /// Wakes this process's mail delivery when a write committed mail.
    mail: MailSignal,
}

impl Backend {
    /// Opens the pools `config` describes.
    ///
    /// # Errors
    /// `Unavailable` if the database cannot be reached within the connect timeout;
    /// `Other` for a malformed URL or an unsupported backend.
    pub(crate) async fn connect(config: &PoolConfig) -> Result<Self, StoreError> {
        let (db, options) = pool::open_main(config).await?;
        let dialect = Dialect::of(db.get_database_backend())?;
        // Half the pool at most (none of a pool of one), so writes and other reads
        // always find connections.
        let kept = (config.max_connections / 2) as usize;
        let lane = HotLane::new(db.clone(), kept, config.idle_timeout);
        let askers = ASKERS.min(kept).max(1);
        let (batch, batch_lane) = match dialect {
            Dialect::Postgres => {
                let options = postgres::batch_pool(&options, askers, config.connect_timeout);
                let batch_db = pool::open(&options, config.connect_timeout).await.store()?;
                let batch_lane = HotLane::new(batch_db.clone(), askers, config.idle_timeout);
                (Some((batch_db, batch_lane.clone())), batch_lane)
            }
            Dialect::Sqlite => (None, lane.clone()),
        };
        let batches = Batches::start(dialect, batch_lane, askers, config.connect_timeout);
        let lookups = SessionLookups::new(dialect, lane.clone(), batches);
        Ok(Self {
            dialect,
            db,
            lane,
            lookups,
            batch,
            mail: MailSignal::default(),
        })
    }

    /// The main pool.
    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The signal of committed mail.
    pub(crate) fn mail(&self) -> &MailSignal {
        &self.mail
    }

    /// How the main pool and, on PostgreSQL, the batch pool stand now.
    pub(crate) fn pool_stats(&self) -> Vec<PoolStats> {
        let batch = self.batch.as_ref().map(|(_, lane)| (lane, PoolKind::Batch));
        [(&self.lane, PoolKind::Main)]
            .into_iter()
            .chain(batch)
            .filter_map(|(lane, kind)| lane.stats(kind))
            .collect()
    }

    /// Closes every connection of the pools.
    ///
    /// # Errors
    /// When a pool cannot be closed cleanly.
    pub(crate) async fn close(self) -> Result<(), StoreError> {
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

    /// All rows of a read on a hot path (an account looked up by email), on a kept
    /// connection. The kept connections are few: other reads go through the pool.
    pub(crate) async fn read_hot(
        &self,
        statement: &impl StatementBuilder,
    ) -> Result<Vec<QueryResult>, StoreError> {
        let statement = self.dialect.db_backend().build(statement);
        self.lane.query_all(statement).await.store()
    }

    /// Stores a new account and appends `audit` in one commit: the user as written,
    /// `NotFound` when the role does not exist.
    pub(crate) async fn create_account(
        &self,
        account: NewAccount,
        audit: AuditWith<User>,
    ) -> Result<User, StoreError> {
        let mails = account.mail.is_some();
        let created = match self.dialect {
            Dialect::Postgres => {
                postgres::create_account(&self.db, &self.lane, account, audit).await
            }
            Dialect::Sqlite => sqlite::create_account(&self.db, account, audit).await,
        }?;
        if mails {
            self.mail.mail_committed();
        }
        Ok(created)
    }

    /// Records the login, clears the source's failures when it has some, stores the
    /// session `created` and appends `audit`, in one commit: the user as written, or
    /// `None` (nothing written) when the login update matched no row.
    pub(crate) async fn open_at_login(
        &self,
        created: &Session,
        verified: &PasswordHash,
        source: &LoginSource,
        audit: AuditWith<Session>,
    ) -> Result<Option<User>, StoreError> {
        match self.dialect {
            Dialect::Postgres => {
                let audit = audit(created);
                postgres::open_at_login(&self.db, &self.lane, created, verified, source, audit)
                    .await
            }
            Dialect::Sqlite => {
                let first_factor = Some((verified, source));
                self.open_in_transaction(None, created, first_factor, audit)
                    .await
            }
        }
    }

    /// Records the login ([`record_login`]: with `first_factor` as a password login,
    /// without as a login without one), stores the session `created`, uses up
    /// `challenge` (when given) if it is live at `created.created_at`, and appends
    /// `audit`, in one write transaction: the user as written, or `None` (nothing
    /// written) when the login update matched no row or the challenge was gone. Locks
    /// in the order of every writer: the source's failures, the user, then the
    /// challenge (as a user's deletion cascades to it).
    pub(crate) async fn open_in_transaction(
        &self,
        challenge: Option<ChallengeId>,
        created: &Session,
        first_factor: Option<(&PasswordHash, &LoginSource)>,
        audit: AuditWith<Session>,
    ) -> Result<Option<User>, StoreError> {
        let txn = begin_write(&self.db).await?;
        let now = self.dialect.now();
        // Dropped uncommitted, the transaction rolls back (it wrote nothing).
        let Some(user) = record_login(&txn, created, first_factor, now).await? else {
            return Ok(None);
        };
        if let Some(challenge) = challenge
            && !take_live(&txn, challenge, created.created_at).await?
        {
            return Ok(None);
        }
        commit_with(txn, audit, created).await?;
        Ok(Some(user))
    }

    /// The database's current time, as its `updated_at` triggers write it.
    pub(crate) fn now(&self) -> sea_orm::sea_query::Expr {
        self.dialect.now()
    }

    /// The active, unexpired session of `token_hash` at `now`, with its user and roles.
    pub(crate) async fn find_session(
        &self,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, StoreError> {
        self.lookups.find(token_hash, now).await
    }

    /// Makes `txn` hold the migration lock until it ends (PostgreSQL's advisory lock;
    /// SQLite's immediate transaction holds the database lock already).
    pub(crate) async fn lock_migrations(&self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        match self.dialect {
            Dialect::Postgres => postgres::lock_migrations(txn).await,
            Dialect::Sqlite => Ok(()),
        }
    }
}
