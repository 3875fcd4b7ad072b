//! PostgreSQL's own statements: a login and an account creation as one statement each
//! on the hot lane, the batched session lookup as a lateral join, the batch pool on the
//! generic plan, and the advisory lock of a migration run.

use super::hot_lane::HotLane;
use super::one_statement::{cte, insert_for_each};
use super::session_rows::lookup_query;
use crate::audit;
use crate::entities::{roles, sessions, users};
use crate::error::{DbResultExt, is_unique_violation, store_error};
use crate::login::{clear_source, login_update, session_row};
use crate::new_account::NewAccount;
use crate::shared_writes::{fetch, not_recorded};
use auth_ports::{
    AuditWith, Constraint, LoginSource, NewAuditEntry, PasswordHash, Session, StoreError,
    TokenHash, User,
};
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait as _, Query, WithClause};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, FromQueryResult, Insert, Iterable, QueryFilter, QueryTrait,
    Statement, TryIntoModel, Value,
};
use std::time::Duration;

/// Key of the PostgreSQL advisory lock held while migrating ("authd" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x0061_7574_6864;

/// Holds the migration lock until `txn` ends, so instances starting together migrate
/// once.
pub(super) async fn lock_migrations(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [MIGRATION_LOCK_KEY.into()],
    ))
    .await?;
    Ok(())
}

/// The settings of the batched lookups' own connections, on PostgreSQL's generic plan: a
/// batch of fewer than ten tokens looks cheaper to plan anew (the generic plan guesses
/// ten), so PostgreSQL re-planned the six-table join for nearly every batch, at most of
/// a core.
pub(super) fn batch_pool(
    main: &ConnectOptions,
    askers: usize,
    connect_timeout: Duration,
) -> ConnectOptions {
    let mut options = main.clone();
    options
        .max_connections(askers as u32)
        .min_connections(0)
        // A batch that gets no connection soon leaves its lookups to run alone on the
        // main pool, so an outage answers about as fast as without batches.
        .acquire_timeout(connect_timeout / 4)
        // Connected by the first batch, so start-up waits for one pool only.
        .connect_lazy(true)
        .map_sqlx_postgres_opts(|opts| opts.options([("plan_cache_mode", "force_generic_plan")]));
    options
}

/// The lookup of one token runs for each token of the batch (a lateral join, kept apart
/// by `OFFSET 0` so the planner cannot merge it into a hash join): each probes the
/// unique index, whatever the planner thinks of the table's size (for
/// `token_hash = ANY($1)` its generic plan scanned a small `sessions` table whole, at a
/// core of CPU).
pub(super) fn batch_sql() -> String {
    let token = (Alias::new("t"), Alias::new("token_hash"));
    let per_token = Expr::col((sessions::Entity, sessions::Column::TokenHash)).equals(token);
    let per_token = lookup_query(per_token).build(DbBackend::Postgres).sql;
    format!(
        r#"SELECT "x".* FROM unnest($1) AS "t"("token_hash") CROSS JOIN LATERAL ({per_token} OFFSET 0) AS "x""#
    )
}

/// The tokens of a batch as a `bytea[]`.
pub(super) fn token_set(hashes: &[TokenHash]) -> Value {
    Value::from(
        hashes
            .iter()
            .map(|hash| hash.0.to_vec())
            .collect::<Vec<_>>(),
    )
}

/// An account creation: [`account_statement`] on the hot lane; the user as written,
/// `NotFound` when the role does not exist.
///
/// The lane runs the statement again if its connection was lost. When the first run
/// had committed, the second fails on a unique key and the account already stands: the
/// user's id is new, so finding it stored means this very call wrote it.
pub(super) async fn create_account(
    db: &DatabaseConnection,
    lane: &HotLane,
    account: NewAccount,
    audit: AuditWith<User>,
) -> Result<User, StoreError> {
    // Every column of the new user is known before it is written.
    let created: User = account.user.clone().try_into_model().store()?.try_into()?;
    let statement = account_statement(account, audit(&created)).store()?;
    match lane.query_all(statement).await {
        Ok(rows) if rows.is_empty() => {
            // No such role, so nothing was inserted and the email went unchecked; a
            // taken email is still the first answer, as in the transaction.
            let email = created.email.as_str();
            let taken = users::Entity::find().filter(users::Column::Email.eq(email));
            if taken.one(db).await.store()?.is_some() {
                return Err(StoreError::Conflict(Constraint::UserEmail));
            }
            Err(StoreError::NotFound)
        }
        Ok(_) => Ok(created),
        Err(err) if is_unique_violation(&err) => {
            let stored = users::Entity::find_by_id(created.id.0).one(db);
            if stored.await.store()?.is_some() {
                return Ok(created);
            }
            Err(store_error(err))
        }
        Err(err) => Err(store_error(err)),
    }
}

/// The account's rows and `audit`'s entries as one statement, which returns the new
/// user's id, or no row (and writes nothing) when the role does not exist:
///
/// `WITH role AS (SELECT id FROM roles WHERE name = ?),
///       created AS (INSERT INTO users … SELECT … FROM role RETURNING id),
///       verification AS (INSERT INTO one_time_tokens … SELECT … FROM created),
///       mailed AS (INSERT INTO mail_outbox … SELECT … FROM created),
///       assigned AS (INSERT INTO user_roles … FROM roles WHERE name = ?),
///       audited_0 AS (INSERT INTO audit_logs … SELECT … FROM created), …
///  SELECT id FROM created`
fn account_statement(account: NewAccount, audit: Vec<NewAuditEntry>) -> Result<Statement, DbErr> {
    let mut with = WithClause::new();
    let mut create = match &account.role {
        Some((name, _)) => {
            let role = Query::select()
                .column(roles::Column::Id)
                .from(roles::Entity)
                .and_where(roles::Column::Name.eq(name.as_str()))
                .to_owned();
            with.cte(cte("role", role));
            insert_for_each(account.user, "role")?
        }
        None => Insert::one(account.user).into_query(),
    };
    create.returning_col(users::Column::Id);
    with.cte(cte("created", create));
    if let Some(token) = account.verification {
        with.cte(cte("verification", insert_for_each(token, "created")?));
    }
    if let Some(mail) = account.mail {
        with.cte(cte("mailed", insert_for_each(mail, "created")?));
    }
    if let Some((_, assign)) = account.role {
        with.cte(cte("assigned", assign));
    }
    for (i, entry) in audit.into_iter().enumerate() {
        with.cte(cte(
            format!("audited_{i}"),
            insert_for_each(audit::row(entry), "created")?,
        ));
    }
    let select = Query::select()
        .column(users::Column::Id)
        .from("created")
        .to_owned();
    Ok(DbBackend::Postgres.build(&select.with(with)))
}

/// A login: [`login_statement`] on the hot lane; the user as written, or `None` when the
/// login update matched no row.
///
/// The lane runs the statement again if its connection was lost. When the first run had
/// committed, the second fails on a unique key and the login already stands: the
/// session's id is new, so finding it stored means this very login wrote it.
pub(super) async fn open_at_login(
    db: &DatabaseConnection,
    lane: &HotLane,
    created: &Session,
    verified: &PasswordHash,
    source: &LoginSource,
    audit: Vec<NewAuditEntry>,
) -> Result<Option<User>, StoreError> {
    let statement = login_statement(verified, source, created, audit).store()?;
    match lane.query_all(statement).await {
        Ok(rows) => match rows.first() {
            Some(row) => Ok(Some(
                users::Model::from_query_result(row, "")
                    .store()?
                    .try_into()?,
            )),
            None => not_recorded(db, created.user_id).await,
        },
        Err(err) if is_unique_violation(&err) => {
            let stored = sessions::Entity::find_by_id(created.id.0).one(db);
            if stored.await.store()?.is_some() {
                return Ok(Some(fetch(db, created.user_id).await?.try_into()?));
            }
            Err(store_error(err))
        }
        Err(err) => Err(store_error(err)),
    }
}

/// A login as one statement, which returns the user row as written, or no row when the
/// login update matched none (and then writes nothing):
///
/// `WITH recorded AS (UPDATE users … WHERE … AND COALESCE((SELECT locked_until FROM
///                    login_failures WHERE user_id = ? AND source = ? FOR UPDATE), ?) <= ?
///                    RETURNING …),
///       cleared AS (DELETE FROM login_failures WHERE user_id = ? AND source = ?
///                   AND EXISTS (SELECT 1 FROM recorded)),  -- when it had failures
///       opened AS (INSERT INTO sessions … SELECT … FROM recorded),
///       audited_0 AS (INSERT INTO audit_logs … SELECT … FROM recorded), …
///  SELECT * FROM recorded`
fn login_statement(
    verified: &PasswordHash,
    source: &LoginSource,
    session: &Session,
    audit: Vec<NewAuditEntry>,
) -> Result<Statement, DbErr> {
    let backend = DbBackend::Postgres;
    let at = session.created_at;
    // PostgreSQL's BEFORE trigger sets `updated_at` either way.
    let update = login_update(Expr::val(at), session.user_id, verified, &source.key, at);
    let mut update = update.into_query();
    update.returning(
        Query::returning()
            .exprs(users::Column::iter().map(|c| c.select_as(c.into_returning_expr(backend)))),
    );
    let mut with = WithClause::new();
    with.cte(cte("recorded", update));
    if source.failures > 0 {
        let recorded = Query::select()
            .expr(Expr::val(1))
            .from("recorded")
            .to_owned();
        let clear = clear_source(session.user_id, &source.key)
            .filter(Expr::exists(recorded))
            .into_query();
        with.cte(cte("cleared", clear));
    }
    with.cte(cte(
        "opened",
        insert_for_each(session_row(session), "recorded")?,
    ));
    for (i, entry) in audit.into_iter().enumerate() {
        let insert = insert_for_each(audit::row(entry), "recorded")?;
        with.cte(cte(format!("audited_{i}"), insert));
    }
    let select = Query::select().column(Asterisk).from("recorded").to_owned();
    Ok(backend.build(&select.with(with)))
}

#[cfg(test)]
mod tests;
