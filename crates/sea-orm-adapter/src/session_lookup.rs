//! The session lookup every authenticated request makes: one statement joining the
//! session, its user and the user's roles. On PostgreSQL, lookups that arrive while
//! others are in flight are asked together, in one statement for up to
//! [`MAX_BATCH`] tokens: the server starts one executor instead of one per request,
//! and one round trip wakes both sides once. Nothing is cached: every lookup reads
//! the database after it was asked, so a revocation counts at once on every instance.

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

/// Looks sessions up, batching concurrent lookups on PostgreSQL.
#[derive(Clone, Debug)]
pub(crate) struct SessionLookups {
    lane: HotLane,
    /// The statement for one token, built once (building it per request had cost a
    /// third of `me`'s throughput).
    single: String,
    backend: DbBackend,
    /// Where lookups wait for a batch; `None` on SQLite, whose lookups run in this
    /// process and have no round trip to share.
    batches: Option<flume::Sender<Waiting>>,
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
    /// Lookups through `lane`, which keeps `kept` connections; on PostgreSQL up to
    /// [`ASKERS`] tasks (no more than `kept`, so each batch has a kept connection) each
    /// ask one batch at a time. Call inside a Tokio runtime; the tasks end when the last
    /// clone is dropped.
    pub(crate) fn new(lane: HotLane, backend: DbBackend, kept: usize) -> Self {
        let single = single_sql(backend);
        let batches = (backend == DbBackend::Postgres).then(|| {
            let (sender, receiver) = flume::unbounded();
            let sql = batch_sql();
            for _ in 0..ASKERS.min(kept).max(1) {
                tokio::spawn(ask_batches(receiver.clone(), lane.clone(), sql.clone()));
            }
            sender
        });
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
        if let Some(batches) = &self.batches {
            let (answer, answered) = oneshot::channel();
            let waiting = Waiting {
                token_hash: *token_hash,
                now,
                answer,
            };
            if batches.send(waiting).is_ok()
                && let Ok(found) = answered.await
            {
                return Ok(found);
            }
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

/// The lookup's SQL on PostgreSQL for many tokens: `token_hash = ANY($1)`.
fn batch_sql() -> String {
    lookup_query(any_token_hash(Vec::new()), DateTime::UNIX_EPOCH)
        .build(DbBackend::Postgres)
        .sql
}

fn any_token_hash(token_hashes: Vec<Vec<u8>>) -> Expr {
    Expr::col((sessions::Entity, sessions::Column::TokenHash))
        .eq(PgFunc::any(Expr::val(Value::from(token_hashes))))
}

/// Asks the waiting lookups, up to [`MAX_BATCH`] at a time, until every sender is gone.
async fn ask_batches(queue: flume::Receiver<Waiting>, lane: HotLane, sql: String) {
    while let Ok(first) = queue.recv_async().await {
        // The latest clock of the batch: a session that expired before any of its
        // lookups were answered is not found.
        let mut now = first.now;
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        for waiting in &batch {
            now = Ord::max(now, waiting.now);
        }
        let hashes: Vec<Vec<u8>> = batch.iter().map(|w| w.token_hash.0.to_vec()).collect();
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql.clone(),
            [Value::from(hashes), true.into(), now.into()],
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

    #[test]
    fn the_statements_built_once_are_the_lookup_with_this_requests_values() {
        let now = DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
        let token_hash = TokenHash([7; 32]);
        let hash = token_hash.0.to_vec();
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            assert_eq!(
                single_statement(backend, &single_sql(backend), &token_hash, now),
                lookup_query(sessions::Column::TokenHash.eq(hash.clone()), now).build(backend),
            );
        }
        let batch =
            lookup_query(any_token_hash(vec![hash.clone(), hash]), now).build(DbBackend::Postgres);
        assert_eq!(batch.sql, batch_sql());
        assert!(batch.sql.contains(r#""sessions"."token_hash" = ANY($1)"#));
    }

    #[test]
    fn the_token_hash_is_the_third_column_of_a_lookup_row() {
        let sql = batch_sql();
        let columns = sql.split(" FROM ").next().unwrap_or_default();
        assert_eq!(
            columns.split(", ").nth(TOKEN_HASH_AT),
            Some(r#""sessions"."token_hash" AS "A_token_hash""#)
        );
    }
}
