//! Translation of database errors into [`StoreError`]: constraint names become
//! [`Constraint`]s, connection trouble becomes `Unavailable`, the rest `Other`.

use auth_ports::{Constraint, StoreError};
use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};

/// Each unique constraint by its PostgreSQL name and by the column list SQLite reports.
const UNIQUE_CONSTRAINTS: [(&str, &str, Constraint); 5] = [
    ("users_email_key", "users.email", Constraint::UserEmail),
    ("roles_name_key", "roles.name", Constraint::RoleName),
    (
        "sessions_token_hash_key",
        "sessions.token_hash",
        Constraint::SessionToken,
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

/// Whether the error means "the database cannot be reached now" rather than "this
/// statement is wrong".
fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                **e,
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            )
        }
        _ => false,
    }
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
