//! Connections kept aside for the single statements of the hot paths: the session lookup
//! that every authenticated request makes, the account lookup of every login, and
//! PostgreSQL's login and account statements.
//!
//! sqlx pings each connection when it hands it out and when it takes it back: two more
//! round trips per statement (on SQLite, two more hand-offs to the connection's thread).
//! For the one statement of every request that tripled the database work, so these
//! statements borrow a few connections from the pool and keep them instead of giving
//! them back.

use super::pool::{PoolKind, PoolStats};
use crate::error::connection_lost;
use sea_orm::sqlx::{self, Database, Executor, IntoArguments, Pool, pool::PoolConnection};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, RuntimeErr,
    Statement, Values,
};
use sea_query_sqlx::SqlxValues;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long a kept connection may serve before it goes back to the pool, like sqlx's
/// default `max_lifetime`: connections move to a failed-over server, and server-side
/// memory of a long-lived session is released.
const MAX_KEPT: Duration = Duration::from_secs(30 * 60);

/// Runs single statements on kept connections, or through the pool when all of them
/// are busy.
#[derive(Clone, Debug)]
pub(crate) struct HotLane {
    db: DatabaseConnection,
    kept: Arc<Kept>,
}

#[derive(Debug)]
enum Kept {
    Postgres(Lane<sqlx::Postgres>),
    Sqlite(Lane<sqlx::Sqlite>),
    /// Another backend (refused by `Store::connect`): no lane.
    None,
}

/// What a lane made of a statement.
enum Outcome {
    Rows(Vec<QueryResult>),
    /// Every kept connection is busy: use the pool.
    Busy,
    /// The kept connection broke (the server restarted, say): try again through the pool,
    /// which tests a PostgreSQL connection before handing it out.
    Lost,
    Failed(DbErr),
}

impl HotLane {
    /// A lane that keeps at most `capacity` connections of the pool behind `db`, each no
    /// longer than `idle_timeout` unused (the pool's own limit).
    pub(crate) fn new(db: DatabaseConnection, capacity: usize, idle_timeout: Duration) -> Self {
        let limits = Limits {
            capacity,
            idle_timeout,
        };
        let kept = match db.get_database_backend() {
            DbBackend::Postgres => {
                Kept::Postgres(Lane::new(db.get_postgres_connection_pool(), limits))
            }
            DbBackend::Sqlite => Kept::Sqlite(Lane::new(db.get_sqlite_connection_pool(), limits)),
            _ => Kept::None,
        };
        Self {
            db,
            kept: Arc::new(kept),
        }
    }

    /// All rows of a statement that runs whole or not at all, and that is safe to run again
    /// after a lost connection: a read, or a write whose second run after a committed
    /// first one fails on a unique key without writing, and whose caller then finds its
    /// own first run stored (PostgreSQL's login and account statements, keyed by ids they
    /// generate).
    ///
    /// # Errors
    /// The database's error; failing to get a connection is a connection error, as on
    /// the pool's path.
    pub(crate) async fn query_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let outcome = match &*self.kept {
            Kept::Postgres(lane) => lane.query_all(&statement).await,
            Kept::Sqlite(lane) => lane.query_all(&statement).await,
            Kept::None => Outcome::Busy,
        };
        match outcome {
            Outcome::Rows(rows) => Ok(rows),
            Outcome::Failed(error) => Err(error),
            Outcome::Busy | Outcome::Lost => self.db.query_all_raw(statement).await,
        }
    }

    /// How the lane's pool stands now, as `pool`; `None` without a lane.
    pub(crate) fn stats(&self, pool: PoolKind) -> Option<PoolStats> {
        match &*self.kept {
            Kept::Postgres(lane) => Some(lane.stats(pool)),
            Kept::Sqlite(lane) => Some(lane.stats(pool)),
            Kept::None => None,
        }
    }

    /// Gives every kept connection back to the pool and keeps none from now on, so the
    /// pool can close (it waits for all of its connections).
    pub(crate) fn close(&self) {
        match &*self.kept {
            Kept::Postgres(lane) => lane.close(),
            Kept::Sqlite(lane) => lane.close(),
            Kept::None => {}
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Limits {
    capacity: usize,
    idle_timeout: Duration,
}

/// The kept connections of one backend.
struct Lane<DB: Database> {
    pool: Pool<DB>,
    idle: Mutex<Idle<DB>>,
    /// Connections taken from the pool and not given back (idle or in use).
    held: AtomicUsize,
    limits: Limits,
}

/// The kept connections not in use right now.
struct Idle<DB: Database> {
    connections: Vec<Idler<DB>>,
    /// Set by `close`: nothing is kept any more.
    closed: bool,
}

struct Idler<DB: Database> {
    connection: PoolConnection<DB>,
    /// When the lane took it from the pool.
    taken: Instant,
    /// When it was last given back.
    since: Instant,
}

impl<DB: Database> std::fmt::Debug for Lane<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("held", &self.held)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<DB: Database> Lane<DB> {
    fn idle(&self) -> MutexGuard<'_, Idle<DB>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The pool's counts, read one after the other (each may move meanwhile, so idle is
    /// capped at open).
    fn stats(&self, pool: PoolKind) -> PoolStats {
        let open = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        let held = u32::try_from(self.held.load(Ordering::Acquire)).unwrap_or(u32::MAX);
        PoolStats {
            pool,
            open,
            idle: idle.min(open),
            max: self.pool.options().get_max_connections(),
            kept: held,
        }
    }

    /// The idle connections go back to the pool, and none is kept any more.
    fn close(&self) {
        let connections = {
            let mut idle = self.idle();
            idle.closed = true;
            std::mem::take(&mut idle.connections)
        };
        self.held.fetch_sub(connections.len(), Ordering::AcqRel);
    }
}

impl<DB> Lane<DB>
where
    DB: Database,
    QueryResult: From<DB::Row>,
    SqlxValues: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn new(pool: &Pool<DB>, limits: Limits) -> Self {
        Self {
            pool: pool.clone(),
            idle: Mutex::new(Idle {
                connections: Vec::with_capacity(limits.capacity),
                closed: false,
            }),
            held: AtomicUsize::new(0),
            limits,
        }
    }

    async fn query_all(&self, statement: &Statement) -> Outcome {
        let mut borrowed = match self.borrow().await {
            Ok(Some(borrowed)) => borrowed,
            Ok(None) => return Outcome::Busy,
            Err(error) => return Outcome::Failed(acquire_error(error)),
        };
        let values = statement.values.clone().unwrap_or(Values(Vec::new()));
        let query = sqlx::query_with(
            sqlx::AssertSqlSafe(statement.sql.as_str()),
            SqlxValues(values),
        );
        let Some(connection) = borrowed.connection.as_mut() else {
            return Outcome::Busy;
        };
        borrowed.running = true;
        let outcome = query.fetch_all(&mut **connection).await;
        borrowed.running = false;
        match outcome {
            Ok(rows) => {
                borrowed.give_back();
                Outcome::Rows(rows.into_iter().map(QueryResult::from).collect())
            }
            Err(error) if connection_lost(&error) => Outcome::Lost,
            Err(error) => Outcome::Failed(DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))),
        }
    }

    /// A kept connection that is still fresh, or a new one from the pool while fewer
    /// than `capacity` are held; `None` when neither.
    async fn borrow(&self) -> Result<Option<Borrowed<'_, DB>>, sqlx::Error> {
        let (stale, fresh) = {
            let mut idle = self.idle();
            // Checked on every borrow, so that connections at the bottom of the stack,
            // unused under light load, are returned too.
            let now = Instant::now();
            let stale: Vec<_> = idle
                .connections
                .extract_if(.., |idler| {
                    now - idler.since >= self.limits.idle_timeout || now - idler.taken >= MAX_KEPT
                })
                .collect();
            (stale, idle.connections.pop())
        };
        // Dropped, the stale go back to the pool, which closes or renews them.
        for idler in stale {
            drop(self.borrowed(idler.connection, idler.taken));
        }
        if let Some(idler) = fresh {
            return Ok(Some(self.borrowed(idler.connection, idler.taken)));
        }
        if self.held.fetch_add(1, Ordering::AcqRel) >= self.limits.capacity {
            self.held.fetch_sub(1, Ordering::AcqRel);
            return Ok(None);
        }
        // Counted from here: a failed or cancelled acquire gives the count back on drop.
        let mut borrowed = Borrowed {
            lane: self,
            connection: None,
            taken: Instant::now(),
            kept: false,
            running: false,
        };
        borrowed.connection = Some(self.pool.acquire().await?);
        Ok(Some(borrowed))
    }

    fn borrowed(&self, connection: PoolConnection<DB>, taken: Instant) -> Borrowed<'_, DB> {
        Borrowed {
            lane: self,
            connection: Some(connection),
            taken,
            kept: false,
            running: false,
        }
    }
}

/// One of the lane's `held` connections, in use. Unless given back after a successful
/// statement (an error may leave it unusable), dropping it returns the connection to the
/// pool, which tests it and closes it if broken, and frees its place in the lane;
/// dropped mid-statement (the caller gave up), it is closed instead.
struct Borrowed<'a, DB: Database> {
    lane: &'a Lane<DB>,
    /// `None` while it is being acquired.
    connection: Option<PoolConnection<DB>>,
    taken: Instant,
    kept: bool,
    /// A statement is in flight: dropped now (the caller gave up on it), the connection
    /// leaves the pool and closes, since the pool's test of it would wait for the
    /// statement to end.
    running: bool,
}

impl<DB: Database> Borrowed<'_, DB> {
    /// Back among the idle, unless the lane was closed meanwhile.
    fn give_back(mut self) {
        let mut idle = self.lane.idle();
        if idle.closed {
            return;
        }
        if let Some(connection) = self.connection.take() {
            idle.connections.push(Idler {
                connection,
                taken: self.taken,
                since: Instant::now(),
            });
            self.kept = true;
        }
    }
}

impl<DB: Database> Drop for Borrowed<'_, DB> {
    fn drop(&mut self) {
        if self.running
            && let Some(connection) = self.connection.take()
        {
            // Out of the pool, which opens a replacement when asked; the socket closes
            // with it (a graceful close, like the pool's test, would wait for the
            // statement to end).
            drop(connection.detach());
        }
        if !self.kept {
            self.lane.held.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A failure to get a connection, classified as on sea-orm's own path.
fn acquire_error(error: sqlx::Error) -> DbErr {
    match error {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sqlx::sqlite::SqlitePoolOptions;

    async fn pool(size: u32) -> Pool<sqlx::Sqlite> {
        SqlitePoolOptions::new()
            .max_connections(size)
            .connect("sqlite::memory:")
            .await
            .unwrap()
    }

    fn lane(pool: &Pool<sqlx::Sqlite>, idle_timeout: Duration) -> Lane<sqlx::Sqlite> {
        let limits = Limits {
            capacity: pool.options().get_max_connections() as usize / 2,
            idle_timeout,
        };
        Lane::new(pool, limits)
    }

    fn select_one() -> Statement {
        Statement::from_string(DbBackend::Sqlite, "SELECT 1")
    }

    fn rows(outcome: Outcome) -> usize {
        match outcome {
            Outcome::Rows(rows) => rows.len(),
            Outcome::Busy => panic!("busy"),
            Outcome::Lost => panic!("lost"),
            Outcome::Failed(error) => panic!("{error}"),
        }
    }

    #[tokio::test]
    async fn a_connection_is_kept_and_a_cancelled_borrow_frees_its_place() {
        let pool = pool(2).await;
        let lane = lane(&pool, Duration::from_secs(60));
        let _other = pool.acquire().await.unwrap();

        // The pool's only free connection is taken: the lane waits for it, then gives up.
        let busy = pool.acquire().await.unwrap();
        let statement = select_one();
        let waited = tokio::time::timeout(Duration::from_millis(50), lane.query_all(&statement));
        assert!(waited.await.is_err(), "the borrow waited for the pool");
        assert_eq!(
            lane.held.load(Ordering::Acquire),
            0,
            "the place is free again"
        );

        drop(busy);
        assert_eq!(rows(lane.query_all(&select_one()).await), 1);
        assert_eq!(lane.held.load(Ordering::Acquire), 1);
        assert_eq!(lane.idle().connections.len(), 1, "kept, not given back");
        assert_eq!(pool.num_idle(), 0);

        // Full: the next statement is left to the pool.
        let _in_use = lane.borrow().await.unwrap().unwrap();
        assert!(matches!(lane.query_all(&select_one()).await, Outcome::Busy));
    }

    #[tokio::test]
    async fn stats_count_a_kept_connection_as_in_use() {
        let pool = pool(4).await;
        let lane = lane(&pool, Duration::from_secs(60));
        let before = lane.stats(PoolKind::Main);
        assert_eq!(
            (before.pool, before.max, before.kept),
            (PoolKind::Main, 4, 0)
        );
        assert_eq!(before.in_use(), 0, "{before:?}");

        assert_eq!(rows(lane.query_all(&select_one()).await), 1);
        let kept = lane.stats(PoolKind::Main);
        assert_eq!((kept.kept, kept.in_use()), (1, 1), "{kept:?}");
        assert_eq!(kept.idle, kept.open - 1, "{kept:?}");

        let _other = pool.acquire().await.unwrap();
        let both = lane.stats(PoolKind::Main);
        assert_eq!((both.kept, both.in_use()), (1, 2), "{both:?}");
        assert!(both.open <= both.max, "{both:?}");
    }

    #[tokio::test]
    async fn a_failed_statement_gives_its_connection_back_to_the_pool() {
        let pool = pool(2).await;
        let lane = lane(&pool, Duration::from_secs(60));
        let wrong = Statement::from_string(DbBackend::Sqlite, "SELECT nothing FROM nowhere");
        assert!(matches!(lane.query_all(&wrong).await, Outcome::Failed(_)));
        assert_eq!(lane.held.load(Ordering::Acquire), 0);
        assert!(lane.idle().connections.is_empty());
    }

    #[tokio::test]
    async fn a_connection_left_unused_below_a_busy_one_goes_back_to_the_pool() {
        let pool = pool(4).await;
        let lane = lane(&pool, Duration::from_millis(100));
        let (first, second) = (lane.borrow().await.unwrap(), lane.borrow().await.unwrap());
        first.unwrap().give_back();
        tokio::time::sleep(Duration::from_millis(150)).await;
        second.unwrap().give_back();
        assert_eq!(lane.held.load(Ordering::Acquire), 2);

        // The fresh one is used; the stale one below it is returned on the way.
        let _in_use = lane.borrow().await.unwrap().unwrap();
        assert_eq!(lane.held.load(Ordering::Acquire), 1);
        assert!(lane.idle().connections.is_empty());
    }

    #[tokio::test]
    async fn a_connection_idle_too_long_is_renewed_and_close_keeps_none() {
        let pool = pool(2).await;
        let lane = lane(&pool, Duration::ZERO);
        assert_eq!(rows(lane.query_all(&select_one()).await), 1);
        assert_eq!(rows(lane.query_all(&select_one()).await), 1);
        assert_eq!(
            lane.held.load(Ordering::Acquire),
            1,
            "the stale one went back"
        );

        lane.close();
        assert_eq!(lane.held.load(Ordering::Acquire), 0);
        assert_eq!(rows(lane.query_all(&select_one()).await), 1);
        assert!(
            lane.idle().connections.is_empty(),
            "nothing kept after close"
        );
        assert_eq!(lane.held.load(Ordering::Acquire), 0);
    }

    /// A statement given up on mid-flight closes its connection, so its place in the
    /// pool is free at once: returned, the pool's test of it would wait for the
    /// statement to end (here five seconds).
    #[tokio::test]
    async fn a_statement_given_up_on_frees_its_pool_place_at_once_on_postgres() {
        let Some(database) = auth_testing::TestDatabase::postgres().await else {
            return;
        };
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect(database.url())
            .await
            .unwrap();
        let limits = Limits {
            capacity: 1,
            idle_timeout: Duration::from_secs(30),
        };
        let lane = Lane::new(&pool, limits);
        let sleep = Statement::from_string(DbBackend::Postgres, "SELECT pg_sleep(5)");
        let given_up = tokio::time::timeout(Duration::from_millis(200), lane.query_all(&sleep));
        assert!(given_up.await.is_err(), "the statement is still running");
        let started = Instant::now();
        let again = pool.acquire().await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        drop(again);
    }
}
