//! SQLite's own statements: an account creation as a transaction (SQLite has no
//! data-modifying CTEs; its login is the transaction of
//! [`record_login`](crate::login::record_login)), the batched session lookup over a JSON
//! array of tokens (it has no arrays), and its clock.

use super::session_rows::lookup_query;
use crate::audit::commit_with;
use crate::error::begin_write;
use crate::new_account::NewAccount;
use auth_ports::{AuditWith, StoreError, TokenHash, User};
use sea_orm::sea_query::Expr;
use sea_orm::{DatabaseConnection, DbBackend, QueryTrait, Value};
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

/// SQLite's current time as the `updated_at` triggers write it.
pub(super) fn now() -> Expr {
    Expr::cust(SQLITE_NOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectionTrait, Statement};

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
