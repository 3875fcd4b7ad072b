//! SQLite's own statements: a login and an account creation as transactions (SQLite has
//! no data-modifying CTEs), and the batched session lookup over a JSON array of tokens
//! (it has no arrays).

use super::session_rows::lookup_query;
use crate::audit::commit_with;
use crate::error::{DbResultExt, begin_write};
use crate::login::{clear_source, login_update, session_row};
use crate::new_account::NewAccount;
use crate::shared_writes::not_recorded;
use auth_ports::{
    AuditWith, LoginSource, PasswordHash, Session, StoreError, TokenHash, User, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, QueryTrait, Value,
};
use std::fmt::Write as _;

/// SQLite's current time as the `updated_at` trigger of migration 000001 writes it.
const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')";

/// SQLite searches the unique index for `IN (…)` itself.
pub(super) fn batch_sql() -> String {
    let in_set = r#""sessions"."token_hash" IN (SELECT unhex("value") FROM json_each(?))"#;
    lookup_query(Expr::cust(in_set))
        .build(DbBackend::Sqlite)
        .sql
}

/// The tokens of a batch as a JSON array of hex strings.
pub(super) fn token_set(hashes: &[TokenHash]) -> Value {
    let hex = hashes.iter().map(|hash| {
        hash.0
            .iter()
            .fold(String::with_capacity(64), |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    });
    serde_json::Value::from(hex.collect::<Vec<_>>())
        .to_string()
        .into()
}

/// An account creation in one write transaction.
pub(super) async fn create_account(
    db: &DatabaseConnection,
    account: NewAccount,
    audit: AuditWith<User>,
) -> Result<User, StoreError> {
    let txn = begin_write(db).await?;
    let created: User = account.insert(&txn).await?.try_into()?;
    commit_with(txn, audit, &created).await?;
    Ok(created)
}

/// A login in one write transaction: the user as written, or `None` (nothing written)
/// when the login update matched no row.
pub(super) async fn open_at_login(
    db: &DatabaseConnection,
    created: &Session,
    verified: &PasswordHash,
    source: &LoginSource,
    audit: AuditWith<Session>,
) -> Result<Option<User>, StoreError> {
    let txn = begin_write(db).await?;
    let (id, at) = (created.user_id, created.created_at);
    let recorded = record_login(&txn, id, verified, &source.key, at).await?;
    // Dropped uncommitted, the transaction rolls back.
    let Some(user) = recorded else {
        return Ok(None);
    };
    if source.failures > 0 {
        clear_source(id, &source.key).exec(&txn).await.store()?;
    }
    session_row(created).insert(&txn).await.store()?;
    commit_with(txn, audit, created).await?;
    Ok(Some(user))
}

/// Runs [`login_update`] on the caller's transaction and returns the row as written, in
/// the same round trip; `None` when it matched no row (`NotFound` when there is no user).
async fn record_login(
    conn: &impl ConnectionTrait,
    id: UserId,
    verified: &PasswordHash,
    source: &str,
    at: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    // RETURNING does not show what SQLite's AFTER UPDATE trigger writes, so the statement
    // writes what the trigger would.
    let updated_at = Expr::cust(SQLITE_NOW);
    let updated = login_update(updated_at, id, verified, source, at)
        .exec_with_returning(conn)
        .await
        .store()?;
    match updated.into_iter().next() {
        Some(user) => Ok(Some(user.try_into()?)),
        None => not_recorded(conn, id).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Statement;

    #[test]
    fn sqlite_gets_the_tokens_of_a_batch_as_a_json_array_of_hex() {
        let set = token_set(&[TokenHash([0xab; 32]), TokenHash([1; 32])]);
        let expected = format!(r#"["{}","{}"]"#, "ab".repeat(32), "01".repeat(32));
        assert_eq!(set, Value::from(expected));
    }

    /// The batch statement searches the unique index for each token.
    #[tokio::test]
    async fn a_batch_finds_its_sessions_through_the_token_hash_index_on_sqlite() {
        let database = auth_testing::TestDatabase::sqlite();
        let store = crate::test_support::migrated(&database).await;
        let set = token_set(&[TokenHash([1; 32]), TokenHash([2; 32])]);
        let plan = store
            .db()
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {}", batch_sql()),
                [set],
            ))
            .await
            .unwrap();
        let steps: Vec<String> = plan
            .iter()
            .map(|row| row.try_get::<String>("", "detail").unwrap())
            .collect();
        assert!(
            steps
                .iter()
                .any(|step| step.starts_with("SEARCH sessions USING INDEX")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|step| step.starts_with("SCAN sessions")),
            "{steps:?}"
        );
    }
}
