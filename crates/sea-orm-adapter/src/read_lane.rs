//! Connections kept aside for the session lookup that every authenticated request makes.
//!
//! sqlx pings each connection it takes back into its pool: a second round trip per
//! statement (on SQLite, a second hand-off to the connection's thread). For the one
//! statement of every request that doubled the database work, so the lookup borrows a
//! few connections from the pool and keeps them instead of giving them back.

use crate::error::connection_lost;
use sea_orm::sqlx::{self, Database, Executor, IntoArguments, Pool, pool::PoolConnection};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, RuntimeErr, Statement,
    Values,
};
use sea_query_sqlx::SqlxValues;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Runs read-only statements on kept connections, or through the pool when all of them
/// are busy.
#[derive(Clone, Debug)]
pub(crate) struct ReadLane {
    db: DatabaseConnection,
    kept: Arc<Kept>,
}

#[derive(Debug)]
enum Kept {
    Postgres(Lane<sqlx::Postgres>),
    Sqlite(Lane<sqlx::Sqlite>),
    /// Another backend (refused by `Store::connect`; tests may build one): no lane.
    None,
}

impl ReadLane {
    /// A lane that keeps at most `capacity` connections of the pool behind `db`.
    pub(crate) fn new(db: DatabaseConnection, capacity: usize) -> Self {
        let kept = match db.get_database_backend() {
            DbBackend::Postgres => {
                Kept::Postgres(Lane::new(db.get_postgres_connection_pool(), capacity))
            }
            DbBackend::Sqlite => Kept::Sqlite(Lane::new(db.get_sqlite_connection_pool(), capacity)),
            _ => Kept::None,
        };
        Self {
            db,
            kept: Arc::new(kept),
        }
    }

    /// All rows of a read-only statement.
    ///
    /// # Errors
    /// The database's error. A kept connection that turns out to be broken (the server
    /// restarted, say) is dropped and the statement retried once through the pool, which
    /// tests the connection it hands out.
    pub(crate) async fn query_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let outcome = match &*self.kept {
            Kept::Postgres(lane) => lane.query_all(&statement).await,
            Kept::Sqlite(lane) => lane.query_all(&statement).await,
            Kept::None => None,
        };
        match outcome {
            Some(Ok(rows)) => Ok(rows),
            Some(Err(error)) if !connection_lost(&error) => {
                Err(DbErr::Query(RuntimeErr::SqlxError(Arc::new(error))))
            }
            _ => self.db.query_all_raw(statement).await,
        }
    }
}

/// The kept connections of one backend.
struct Lane<DB: Database> {
    pool: Pool<DB>,
    /// Connections not in use right now.
    idle: Mutex<Vec<PoolConnection<DB>>>,
    /// Connections taken from the pool and not given back (idle or in use).
    held: AtomicUsize,
    capacity: usize,
}

impl<DB: Database> std::fmt::Debug for Lane<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("held", &self.held)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<DB> Lane<DB>
where
    DB: Database,
    QueryResult: From<DB::Row>,
    SqlxValues: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn new(pool: &Pool<DB>, capacity: usize) -> Self {
        Self {
            pool: pool.clone(),
            idle: Mutex::new(Vec::with_capacity(capacity)),
            held: AtomicUsize::new(0),
            capacity,
        }
    }

    /// The rows, or `None` when every kept connection is busy and no more may be taken.
    async fn query_all(
        &self,
        statement: &Statement,
    ) -> Option<Result<Vec<QueryResult>, sqlx::Error>> {
        let mut borrowed = match self.borrow().await? {
            Ok(borrowed) => borrowed,
            Err(error) => return Some(Err(error)),
        };
        let values = statement.values.clone().unwrap_or(Values(Vec::new()));
        let query = sqlx::query_with(
            sqlx::AssertSqlSafe(statement.sql.as_str()),
            SqlxValues(values),
        );
        let rows = query.fetch_all(&mut **borrowed.connection.as_mut()?).await;
        if rows.is_ok() {
            borrowed.give_back();
        }
        Some(rows.map(|rows| rows.into_iter().map(QueryResult::from).collect()))
    }

    /// An idle kept connection, or a new one from the pool while fewer than `capacity`
    /// are held; `None` when neither.
    async fn borrow(&self) -> Option<Result<Borrowed<'_, DB>, sqlx::Error>> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(connection) = idle {
            return Some(Ok(Borrowed {
                lane: self,
                connection: Some(connection),
                kept: false,
            }));
        }
        if self.held.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.held.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        // Counted from here: a failed or cancelled acquire gives the count back on drop.
        let mut borrowed = Borrowed {
            lane: self,
            connection: None,
            kept: false,
        };
        match self.pool.acquire().await {
            Ok(connection) => {
                borrowed.connection = Some(connection);
                Some(Ok(borrowed))
            }
            Err(error) => Some(Err(error)),
        }
    }
}

/// One of the lane's `held` connections, in use. Unless given back after a successful
/// statement (an error, or the request being cancelled mid-statement, may leave it
/// unusable), dropping it returns the connection to the pool, which tests it and closes
/// it if broken, and frees its place in the lane.
struct Borrowed<'a, DB: Database> {
    lane: &'a Lane<DB>,
    connection: Option<PoolConnection<DB>>,
    kept: bool,
}

impl<DB: Database> Borrowed<'_, DB> {
    /// Back among the idle, still held by the lane.
    fn give_back(mut self) {
        if let Some(connection) = self.connection.take() {
            self.lane
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(connection);
            self.kept = true;
        }
    }
}

impl<DB: Database> Drop for Borrowed<'_, DB> {
    fn drop(&mut self) {
        if !self.kept {
            self.lane.held.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sqlx::sqlite::SqlitePoolOptions;
    use std::time::Duration;

    #[tokio::test]
    async fn a_connection_is_kept_and_a_cancelled_borrow_frees_its_place() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let lane = Lane::new(&pool, 1);
        let statement = Statement::from_string(DbBackend::Sqlite, "SELECT 1");

        // The pool's only connection is taken: the lane waits for it, then gives up.
        let busy = pool.acquire().await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(50), lane.query_all(&statement));
        assert!(waited.await.is_err(), "the borrow waited for the pool");
        assert_eq!(
            lane.held.load(Ordering::Acquire),
            0,
            "the place is free again"
        );

        drop(busy);
        let rows = lane.query_all(&statement).await.unwrap().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(lane.held.load(Ordering::Acquire), 1);
        assert_eq!(lane.idle.lock().unwrap().len(), 1, "kept, not given back");
        assert_eq!(pool.num_idle(), 0);

        // Full: the next statement is left to the pool.
        let _in_use = lane.borrow().await.unwrap().unwrap();
        assert!(lane.query_all(&statement).await.is_none());
    }
}
