//! The session lookup every authenticated request makes: one statement joining the
//! session, its user and the user's roles. Lookups that arrive while others are in
//! flight are asked together, in one statement for up to [`MAX_BATCH`] tokens: the
//! database prepares and starts one query instead of one per request, and one round
//! trip (on SQLite one hand-off to the connection's thread) wakes both sides once.
//! Nothing is cached: every lookup reads the database after it was asked, so a
//! revocation counts at once on every instance.

use crate::entities::{roles, sessions, user_roles, users};
use crate::error::{DbResultExt, corrupt};
use crate::hot_lane::HotLane;
use auth_ports::{ActiveSession, StoreError, TokenHash};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, extension::postgres::PgFunc};
use sea_orm::{
    ColumnTrait, DbBackend, DbErr, EntityTrait, JoinType, QueryFilter, QueryResult, QuerySelect,
    QueryTrait, RelationDef, RelationTrait, SelectTwo, Statement, TryGetable, Value,
};
use std::collections::BTreeSet;
use tokio::sync::oneshot;

/// Most tokens one batched statement asks for.
const MAX_BATCH: usize = 64;

/// How many batches may be in flight at once. Fewer make bigger batches, and the
/// server's cost is mostly per statement: on the bench machine one asker answered 27k
/// lookups/s at a third of a core of PostgreSQL, ten 14k at a whole core. Two keep
/// lookups flowing while one connection stalls.
const ASKERS: usize = 2;

/// Looks sessions up, batching concurrent lookups.
#[derive(Clone, Debug)]
pub(crate) struct SessionLookups {
    lane: HotLane,
    /// The statement for one token, built once (building it per request had cost a
    /// third of `me`'s throughput).
    single: String,
    backend: DbBackend,
    /// Where lookups wait for a batch.
    batches: flume::Sender<Waiting>,
}

/// A lookup waiting to be asked in a batch.
#[derive(Debug)]
struct Waiting {
    token_hash: TokenHash,
    now: DateTime<Utc>,
    /// Dropped unanswered when the batch failed: the lookup then runs alone and meets
    /// the failure itself.
    answer: oneshot::Sender<Option<ActiveSession>>,
}

impl SessionLookups {
    /// Lookups through `lane`, which keeps `kept` connections; up to [`ASKERS`] tasks (no more than `kept`, so each batch has a kept connection) each
    /// ask one batch at a time. Call inside a Tokio runtime; the tasks end when the last
    /// clone is dropped.
    pub(crate) fn new(lane: HotLane, backend: DbBackend, kept: usize) -> Self {
        let single = single_sql(backend);
        let (batches, queue) = flume::unbounded();
        let sql = batch_sql(backend);
        for _ in 0..ASKERS.min(kept).max(1) {
            let asker = ask_batches(queue.clone(), lane.clone(), backend, sql.clone());
            tokio::spawn(asker);
        }
        Self {
            lane,
            single,
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
        let (answer, answered) = oneshot::channel();
        let waiting = Waiting {
            token_hash: *token_hash,
            now,
            answer,
        };
        if self.batches.send(waiting).is_ok()
            && let Ok(found) = answered.await
        {
            return Ok(found);
        }
        let statement = single_statement(self.backend, &self.single, token_hash, now);
        let rows = self.lane.query_all(statement).await.store()?;
        active_session(&rows)
    }
}

/// The lookup's SQL for one token.
fn single_sql(backend: DbBackend) -> String {
    let token = sessions::Column::TokenHash.eq(Vec::<u8>::new());
    lookup_query(token, DateTime::UNIX_EPOCH).build(backend).sql
}

/// The lookup of one token: `sql` (from [`single_sql`]) with this request's values.
fn single_statement(
    backend: DbBackend,
    sql: &str,
    token_hash: &TokenHash,
    now: DateTime<Utc>,
) -> Statement {
    Statement::from_sql_and_values(
        backend,
        sql,
        [token_hash.0.to_vec().into(), true.into(), now.into()],
    )
}

/// The lookup's SQL for a batch of tokens.
fn batch_sql(backend: DbBackend) -> String {
    lookup_query(
        in_token_set(backend, token_set(backend, &[])),
        DateTime::UNIX_EPOCH,
    )
    .build(backend)
    .sql
}

/// The tokens of a batch as one value, so the batch's SQL is the same for any number of
/// them: a `bytea[]` on PostgreSQL; on SQLite, which has no arrays, a JSON array of hex
/// strings.
fn token_set(backend: DbBackend, hashes: &[&TokenHash]) -> Value {
    match backend {
        DbBackend::Sqlite => {
            let hex = hashes.iter().map(|hash| {
                hash.0
                    .iter()
                    .fold(String::with_capacity(64), |mut hex, byte| {
                        hex.push_str(&format!("{byte:02x}"));
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

/// `sessions.token_hash` is one of the [`token_set`].
fn in_token_set(backend: DbBackend, set: Value) -> Expr {
    match backend {
        DbBackend::Sqlite => Expr::cust_with_values(
            r#""sessions"."token_hash" IN (SELECT unhex("value") FROM json_each(?))"#,
            [set],
        ),
        _ => Expr::col((sessions::Entity, sessions::Column::TokenHash))
            .eq(PgFunc::any(Expr::val(set))),
    }
}

/// Asks the waiting lookups, up to [`MAX_BATCH`] at a time, until every sender is gone.
async fn ask_batches(
    queue: flume::Receiver<Waiting>,
    lane: HotLane,
    backend: DbBackend,
    sql: String,
) {
    while let Ok(first) = queue.recv_async().await {
        // The latest clock of the batch: a session that expired before any of its
        // lookups were answered is not found.
        let mut now = first.now;
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        for waiting in &batch {
            now = Ord::max(now, waiting.now);
        }
        let hashes: Vec<&TokenHash> = batch.iter().map(|w| &w.token_hash).collect();
        let statement = Statement::from_sql_and_values(
            backend,
            sql.clone(),
            [token_set(backend, &hashes), true.into(), now.into()],
        );
        // On a failure the senders drop with the batch, and each lookup runs alone.
        let Ok(rows) = lane.query_all(statement).await else {
            continue;
        };
        let Ok(found) = answers(&batch, &rows) else {
            continue;
        };
        for (waiting, found) in batch.into_iter().zip(found) {
            // A lookup whose request has gone no longer listens.
            let _ = waiting.answer.send(found);
        }
    }
}

/// What each lookup of `batch` found among `rows` (several lookups may share a token).
fn answers(
    batch: &[Waiting],
    rows: &[QueryResult],
) -> Result<Vec<Option<ActiveSession>>, StoreError> {
    let mut by_token: Vec<(TokenHash, Vec<&QueryResult>)> = Vec::new();
    for row in rows {
        let hash: Vec<u8> = row.try_get_by_index(TOKEN_HASH_AT).store()?;
        let hash = TokenHash(
            hash.as_slice()
                .try_into()
                .map_err(|e| corrupt("sessions.token_hash", e))?,
        );
        match by_token.iter_mut().find(|(token, _)| *token == hash) {
            Some((_, of_token)) => of_token.push(row),
            None => by_token.push((hash, vec![row])),
        }
    }
    let mut found = Vec::with_capacity(by_token.len());
    for (token, of_token) in &by_token {
        found.push((*token, active_session(of_token)?));
    }
    Ok(batch
        .iter()
        .map(|waiting| {
            found
                .iter()
                .find(|(token, _)| *token == waiting.token_hash)
                .and_then(|(_, session)| session.clone())
        })
        .collect())
}

/// The lookup: one row per role of the user (one with NULL role columns for a user
/// without roles), holding the session's columns, then its user's, then the role's
/// name and permissions.
fn lookup_query(
    token: impl Into<Expr>,
    now: DateTime<Utc>,
) -> SelectTwo<sessions::Entity, users::Entity> {
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
        .filter(sessions::Column::IsActive.eq(true))
        .filter(sessions::Column::ExpiresAt.gt(now))
}

/// The position of `sessions.token_hash` in a lookup row.
const TOKEN_HASH_AT: usize = 2;

/// The session in the rows of one token, if any.
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

    const BACKENDS: [DbBackend; 2] = [DbBackend::Postgres, DbBackend::Sqlite];

    #[test]
    fn the_statements_built_once_are_the_lookup_with_this_requests_values() {
        let now = DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
        let (one, two) = (TokenHash([7; 32]), TokenHash([8; 32]));
        for backend in BACKENDS {
            assert_eq!(
                single_statement(backend, &single_sql(backend), &one, now),
                lookup_query(sessions::Column::TokenHash.eq(one.0.to_vec()), now).build(backend),
            );
            let set = || token_set(backend, &[&one, &two]);
            assert_eq!(
                Statement::from_sql_and_values(
                    backend,
                    batch_sql(backend),
                    [set(), true.into(), now.into()]
                ),
                lookup_query(in_token_set(backend, set()), now).build(backend),
            );
        }
    }

    #[test]
    fn sqlite_gets_the_tokens_of_a_batch_as_a_json_array_of_hex() {
        let set = token_set(
            DbBackend::Sqlite,
            &[&TokenHash([0xab; 32]), &TokenHash([1; 32])],
        );
        let expected = format!(r#"["{}","{}"]"#, "ab".repeat(32), "01".repeat(32));
        assert_eq!(set, Value::from(expected));
    }

    #[test]
    fn the_token_hash_is_the_third_column_of_a_lookup_row() {
        for backend in BACKENDS {
            let sql = batch_sql(backend);
            let columns = sql.split(" FROM ").next().unwrap_or_default();
            assert_eq!(
                columns.split(", ").nth(TOKEN_HASH_AT),
                Some(r#""sessions"."token_hash" AS "A_token_hash""#)
            );
        }
    }

    #[tokio::test]
    async fn a_batch_finds_its_sessions_through_the_token_hash_index_on_sqlite() {
        use sea_orm::ConnectionTrait as _;
        let database = auth_testing::TestDatabase::sqlite();
        let store = crate::store::migrated(&database).await;
        let backend = DbBackend::Sqlite;
        let set = token_set(backend, &[&TokenHash([1; 32]), &TokenHash([2; 32])]);
        let plan = store
            .db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                format!("EXPLAIN QUERY PLAN {}", batch_sql(backend)),
                [set, true.into(), DateTime::UNIX_EPOCH.into()],
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
