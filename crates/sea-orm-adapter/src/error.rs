//! Translation of database errors into [`StoreError`]: constraint names become
//! [`Constraint`]s, connection trouble becomes `Unavailable`, the rest `Other`.

use auth_ports::{Constraint, StoreError};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait, sqlx,
};

/// Each unique constraint by its PostgreSQL name and by the column list SQLite reports.
const UNIQUE_CONSTRAINTS: [(&str, &str, Constraint); 8] = [
    ("users_email_key", "users.email", Constraint::UserEmail),
    ("roles_name_key", "roles.name", Constraint::RoleName),
    (
        "sessions_token_hash_key",
        "sessions.token_hash",
        Constraint::SessionToken,
    ),
    (
        "one_time_tokens_token_hash_key",
        "one_time_tokens.token_hash",
        Constraint::OneTimeToken,
    ),
    (
        "oauth_accounts_provider_subject_key",
        "oauth_accounts.provider, oauth_accounts.provider_user_id",
        Constraint::OAuthSubject,
    ),
    (
        "oauth_accounts_user_provider_key",
        "oauth_accounts.user_id, oauth_accounts.provider",
        Constraint::OAuthUserProvider,
    ),
    (
        "passkeys_credential_id_key",
        "passkeys.credential_id",
        Constraint::PasskeyCredential,
    ),
    (
        "auth_challenges_token_hash_key",
        "auth_challenges.token_hash",
        Constraint::ChallengeToken,
    ),
];

/// Classifies a database error.
pub(crate) fn store_error(err: DbErr) -> StoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => {
            match UNIQUE_CONSTRAINTS
                .iter()
                .find(|(pg, sqlite, _)| message.contains(pg) || message.contains(sqlite))
            {
                Some((_, _, constraint)) => StoreError::Conflict(*constraint),
                None => StoreError::Other(Box::new(err)),
            }
        }
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => StoreError::NotFound,
        _ if is_unavailable(&err) => StoreError::Unavailable(Box::new(err)),
        _ => StoreError::Other(Box::new(err)),
    }
}

/// Whether `err` is a unique-key violation, of any key.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether the error is a foreign-key violation (a row naming a user that is gone).
pub(crate) fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

/// Database error codes that mean "cannot do this now, retry later": SQLite's BUSY,
/// BUSY_SNAPSHOT, LOCKED and FULL (the disk is full: the write is rolled back, and works
/// again once there is room); PostgreSQL's serialization failure and deadlock.
const RETRYABLE_CODES: [&str; 6] = ["5", "517", "6", "13", "40001", "40P01"];

/// Whether the error means "the database cannot serve this now" rather than "this
/// statement is wrong".
fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => {
                    session_ended(db.as_ref())
                        || db
                            .code()
                            .is_some_and(|code| RETRYABLE_CODES.contains(&code.as_ref()))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// SQLite's BUSY (any extended form) when opening a connection: the file is locked by
/// another connection in a way the busy timeout does not wait out.
pub(crate) fn sqlite_busy_at_connect(err: &DbErr) -> bool {
    let DbErr::Conn(RuntimeErr::SqlxError(e)) = err else {
        return false;
    };
    let sqlx::Error::Database(db) = &**e else {
        return false;
    };
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
        && db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == SQLITE_BUSY)
}

/// SQLite's primary result code for "the database file is locked".
const SQLITE_BUSY: i32 = 5;

/// Whether the connection that returned the error cannot be used again: it broke, its
/// protocol state is unknown, or the server ended the session.
pub(crate) fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => session_ended(db.as_ref()),
        _ => false,
    }
}

/// A PostgreSQL error of severity FATAL or PANIC: the server closes the session after it
/// (a terminated backend, a shutdown), unlike an ERROR, after which the connection
/// goes on.
fn session_ended(error: &dyn sqlx::error::DatabaseError) -> bool {
    error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some_and(|pg| {
            matches!(
                pg.severity(),
                sqlx::postgres::PgSeverity::Fatal | sqlx::postgres::PgSeverity::Panic
            )
        })
}

/// Begins a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`BEGIN IMMEDIATE`), so a transaction that reads first cannot fail to upgrade to a
/// writer under concurrency; the busy timeout makes it queue instead. Other backends
/// ignore the option.
pub(crate) async fn begin_write(
    db: &DatabaseConnection,
) -> Result<DatabaseTransaction, StoreError> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    db.begin_with_options(options).await.store()
}

/// A stored value that does not fit its port type (a corrupt row).
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("corrupt {what}: {detail}").into())
}

/// Shorthand for `map_err(store_error)`.
pub(crate) trait DbResultExt<T> {
    /// Classifies the error, if any.
    fn store(self) -> Result<T, StoreError>;
}

impl<T> DbResultExt<T> for Result<T, DbErr> {
    fn store(self) -> Result<T, StoreError> {
        self.map_err(store_error)
    }
}
