//! The session lookup every authenticated request makes: one statement joining the
//! session, its user and the user's roles, for one token or, through
//! [`Batches`](crate::lookup_batches::Batches), for every token whose lookup arrived
//! while others were in flight. Nothing is cached: every lookup reads the database
//! after it was asked, so a revocation counts at once on every instance.
//!
//! The statements filter on the token alone, so the database always finds sessions
//! through the unique `token_hash` index (PostgreSQL's generic plan for
//! `token_hash = ANY($1) AND expires_at > $2` scanned every unexpired session);
//! whether a session is active and unexpired at the request's clock is checked here.

use crate::entities::{roles, sessions, user_roles, users};
use crate::error::{DbResultExt, corrupt};
use crate::hot_lane::HotLane;
use crate::lookup_batches::Batches;
use auth_ports::{ActiveSession, StoreError, TokenHash};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, DbBackend, DbErr, EntityTrait, JoinType, QueryFilter, QueryResult, QuerySelect,
    QueryTrait, RelationDef, RelationTrait, SelectTwo, Statement, TryGetable, Value,
};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Looks sessions up, batching concurrent lookups.
#[derive(Clone, Debug)]
pub(crate) struct SessionLookups {
    lane: HotLane,
    backend: DbBackend,
    /// The statement for one token, built once (building it per request had cost a
    /// third of `me`'s throughput).
    single: String,
    batches: Batches,
}

impl SessionLookups {
    /// Lookups asked in `batches`, or alone through `lane`.
    pub(crate) fn new(lane: HotLane, batches: Batches) -> Self {
        let backend = lane.backend();
        Self {
            single: lookup_query(sessions::Column::TokenHash.eq(Vec::<u8>::new()))
                .build(backend)
                .sql,
            lane,
            backend,
            batches,
        }
    }

    /// The active, unexpired session of `token_hash` at `now`, with its user and roles.
    pub(crate) async fn find(
        &self,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, StoreError> {
        let found = match self.batches.ask(*token_hash).await {
            Some(found) => found,
            // Batches failed or paused, or no answer in time: this lookup runs alone and
            // meets any failure itself.
            None => {
                let statement = Statement::from_sql_and_values(
                    self.backend,
                    &self.single,
                    [token_hash.0.to_vec().into()],
                );
                active_session(&self.lane.query_all(statement).await.store()?)?
            }
        };
        Ok(found.filter(|found| found.session.is_active && found.session.expires_at > now))
    }
}

/// The lookup's SQL for a batch of tokens, given as one [`token_set`]. On PostgreSQL
/// the lookup of one token runs for each of them (a lateral join, kept apart by
/// `OFFSET 0` so the planner cannot merge it into a hash join): each probes the unique
/// index, whatever the planner thinks of the table's size (for `token_hash = ANY($1)`
/// its generic plan scanned a small `sessions` table whole, at a core of CPU). SQLite
/// searches the index for `IN (…)` itself.
pub(crate) fn batch_sql(backend: DbBackend) -> String {
    match backend {
        DbBackend::Sqlite => {
            let in_set = r#""sessions"."token_hash" IN (SELECT unhex("value") FROM json_each(?))"#;
            lookup_query(Expr::cust(in_set)).build(backend).sql
        }
        _ => {
            let token = (Alias::new("t"), Alias::new("token_hash"));
            let per_token =
                Expr::col((sessions::Entity, sessions::Column::TokenHash)).equals(token);
            let per_token = lookup_query(per_token).build(backend).sql;
            format!(
                r#"SELECT "x".* FROM unnest($1) AS "t"("token_hash") CROSS JOIN LATERAL ({per_token} OFFSET 0) AS "x""#
            )
        }
    }
}

/// The tokens of a batch as one value, so the batch's SQL is the same for any number of
/// them: a `bytea[]` on PostgreSQL; on SQLite, which has no arrays, a JSON array of hex
/// strings.
pub(crate) fn token_set(backend: DbBackend, hashes: &[TokenHash]) -> Value {
    match backend {
        DbBackend::Sqlite => {
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
        _ => Value::from(
            hashes
                .iter()
                .map(|hash| hash.0.to_vec())
                .collect::<Vec<_>>(),
        ),
    }
}

/// The sessions (in whatever state) among the rows of a batch, one per token found.
pub(crate) fn sessions_in(rows: &[QueryResult]) -> Result<Vec<ActiveSession>, StoreError> {
    let mut by_token: Vec<(Vec<u8>, Vec<&QueryResult>)> = Vec::new();
    for row in rows {
        let token: Vec<u8> = row.try_get_by_index(TOKEN_HASH_AT).store()?;
        match by_token.iter_mut().find(|(seen, _)| *seen == token) {
            Some((_, of_token)) => of_token.push(row),
            None => by_token.push((token, vec![row])),
        }
    }
    let mut found = Vec::with_capacity(by_token.len());
    for (_, of_token) in by_token {
        found.extend(active_session(&of_token)?);
    }
    Ok(found)
}

/// The lookup: one row per role of the user (one with NULL role columns for a user
/// without roles), holding the session's columns, then its user's, then the role's
/// name and permissions.
fn lookup_query(token: impl Into<Expr>) -> SelectTwo<sessions::Entity, users::Entity> {
    let user_of_session: RelationDef = sessions::Entity::belongs_to(users::Entity)
        .from(sessions::Column::UserId)
        .to(users::Column::Id)
        .into();
    sessions::Entity::find()
        .select_also(users::Entity)
        .join(JoinType::InnerJoin, user_of_session)
        .join(JoinType::LeftJoin, user_roles::Relation::User.def().rev())
        .join(JoinType::LeftJoin, user_roles::Relation::Role.def())
        .column(roles::Column::Name)
        .column(roles::Column::Permissions)
        .filter(token.into())
}

/// The position of `sessions.token_hash` in a lookup row.
const TOKEN_HASH_AT: usize = 2;

/// The session in the rows of one token (in whatever state), if any.
fn active_session<R: std::borrow::Borrow<QueryResult>>(
    rows: &[R],
) -> Result<Option<ActiveSession>, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut columns = Columns::of(first.borrow());
    let session = columns.session().store()?;
    let user = columns.user().store()?;
    let role_at = columns.at;
    let (mut names, mut permissions) = (BTreeSet::new(), BTreeSet::new());
    for row in rows {
        let mut columns = Columns {
            row: row.borrow(),
            at: role_at,
        };
        if let Some(name) = columns.next::<Option<String>>().store()? {
            let granted: Option<serde_json::Value> = columns.next().store()?;
            let granted: Vec<String> = serde_json::from_value(granted.unwrap_or_default())
                .map_err(|e| corrupt("roles.permissions", e))?;
            names.insert(name);
            permissions.extend(granted);
        }
    }
    Ok(Some(ActiveSession {
        session: session.try_into()?,
        user: user.try_into()?,
        roles: names.into_iter().collect(),
        permissions: permissions.into_iter().collect(),
    }))
}

/// Reads a lookup row's columns by position, in the order they were selected (by name,
/// each read would format and search for its prefixed name).
struct Columns<'r> {
    row: &'r QueryResult,
    at: usize,
}

impl<'r> Columns<'r> {
    fn of(row: &'r QueryResult) -> Self {
        Self { row, at: 0 }
    }

    fn next<T: TryGetable>(&mut self) -> Result<T, DbErr> {
        let value = self.row.try_get_by_index(self.at);
        self.at += 1;
        value
    }

    /// The fields in the order of the entity's columns, as `select_also` selects them.
    fn session(&mut self) -> Result<sessions::Model, DbErr> {
        Ok(sessions::Model {
            id: self.next()?,
            user_id: self.next()?,
            token_hash: self.next()?,
            expires_at: self.next()?,
            ip_address: self.next()?,
            user_agent: self.next()?,
            is_active: self.next()?,
            last_accessed_at: self.next()?,
            created_at: self.next()?,
            revoked_at: self.next()?,
        })
    }

    fn user(&mut self) -> Result<users::Model, DbErr> {
        Ok(users::Model {
            id: self.next()?,
            email: self.next()?,
            password_hash: self.next()?,
            status: self.next()?,
            email_verified: self.next()?,
            email_verified_at: self.next()?,
            failed_login_attempts: self.next()?,
            last_failed_login_at: self.next()?,
            locked_until: self.next()?,
            first_name: self.next()?,
            last_name: self.next()?,
            oauth_providers: self.next()?,
            last_login_at: self.next()?,
            created_at: self.next()?,
            updated_at: self.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_the_tokens_of_a_batch_as_a_json_array_of_hex() {
        let set = token_set(
            DbBackend::Sqlite,
            &[TokenHash([0xab; 32]), TokenHash([1; 32])],
        );
        let expected = format!(r#"["{}","{}"]"#, "ab".repeat(32), "01".repeat(32));
        assert_eq!(set, Value::from(expected));
    }

    #[test]
    fn the_token_hash_is_the_third_column_of_a_lookup_row() {
        let sql = lookup_query(Expr::cust("true"))
            .build(DbBackend::Postgres)
            .sql;
        let columns = sql.split(" FROM ").next().unwrap_or_default();
        assert_eq!(
            columns.split(", ").nth(TOKEN_HASH_AT),
            Some(r#""sessions"."token_hash" AS "A_token_hash""#)
        );
    }

    /// PostgreSQL's generic plan of the batch (the one a kept connection settles on)
    /// probes the unique index once per token, even on a table never analyzed, where
    /// the planner guesses hundreds of rows.
    #[tokio::test]
    async fn a_batch_probes_the_token_hash_index_for_each_token_on_postgres() {
        use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
        let Some((_database, store)) = crate::store::migrated_postgres().await else {
            return;
        };
        let txn = store.db.begin().await.unwrap();
        txn.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan")
            .await
            .unwrap();
        let sql = batch_sql(DbBackend::Postgres).replace("$1", "$1::bytea[]");
        txn.execute_unprepared(&format!("PREPARE batch AS {sql}"))
            .await
            .unwrap();
        let plan = txn
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "EXPLAIN EXECUTE batch('{}')",
            ))
            .await
            .unwrap();
        let plan: Vec<String> = plan
            .iter()
            .map(|row| row.try_get_by_index::<String>(0).unwrap())
            .collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains("Index Cond: (token_hash = t.token_hash)"),
            "{plan}"
        );
        assert!(plan.contains("Function Scan on unnest t"), "{plan}");
        assert!(!plan.contains("Seq Scan on sessions"), "{plan}");
    }

    /// The batch statement searches the unique index for each token.
    #[tokio::test]
    async fn a_batch_finds_its_sessions_through_the_token_hash_index_on_sqlite() {
        use sea_orm::ConnectionTrait as _;
        let database = auth_testing::TestDatabase::sqlite();
        let store = crate::store::migrated(&database).await;
        let backend = DbBackend::Sqlite;
        let set = token_set(backend, &[TokenHash([1; 32]), TokenHash([2; 32])]);
        let plan = store
            .db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                format!("EXPLAIN QUERY PLAN {}", batch_sql(backend)),
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
