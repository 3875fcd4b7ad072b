//! Which of the two supported databases the store is connected to, and the statement
//! pieces that differ between them.

use super::{postgres, sqlite};
use auth_ports::{StoreError, TokenHash};
use sea_orm::sea_query::Expr;
use sea_orm::{DbBackend, Value};

/// The SQL dialect of the connected database, known from `Store::connect` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// The dialect of `backend`; `Other` for a database authd does not support.
    pub(crate) fn of(backend: DbBackend) -> Result<Self, StoreError> {
        match backend {
            DbBackend::Postgres => Ok(Self::Postgres),
            DbBackend::Sqlite => Ok(Self::Sqlite),
            other => Err(StoreError::Other(
                format!("authd supports PostgreSQL and SQLite, not {other:?}").into(),
            )),
        }
    }

    /// The backend sea-orm builds this dialect's statements for.
    pub(crate) fn db_backend(self) -> DbBackend {
        match self {
            Self::Postgres => DbBackend::Postgres,
            Self::Sqlite => DbBackend::Sqlite,
        }
    }

    /// The session lookup's SQL for a batch of tokens, given as one
    /// [`token_set`](Self::token_set).
    pub(crate) fn batch_sql(self) -> String {
        match self {
            Self::Postgres => postgres::batch_sql(),
            Self::Sqlite => sqlite::batch_sql(),
        }
    }

    /// The tokens of a batch as one value, so the batch's SQL is the same for any number
    /// of them.
    pub(crate) fn token_set(self, hashes: &[TokenHash]) -> Value {
        match self {
            Self::Postgres => postgres::token_set(hashes),
            Self::Sqlite => sqlite::token_set(hashes),
        }
    }

    /// The database's current time, in the form its `updated_at` triggers write.
    pub(crate) fn now(self) -> Expr {
        match self {
            Self::Postgres => Expr::cust("NOW()"),
            Self::Sqlite => sqlite::now(),
        }
    }
}
