//! Counting failed logins: per source in `login_failures` and for the account on the
//! user row, each in one statement, in the order a login locks them (source first).

use crate::entities::{login_failures, users};
use crate::error::{DbResultExt, is_foreign_key_violation, store_error};
use crate::login::not_locked_at;
use crate::shared_writes::not_recorded;
use auth_ports::{StoreError, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryTrait, Set,
};

/// Counts a failure from `source` in one upsert: a new record starts at 1; an existing
/// one goes up by 1 (again from 1 after its lock expired) unless its lock is in force,
/// and reaching `threshold` sets the lock to `lock_end`. The record as written, or
/// `None` (nothing written) when the source is locked at `at`.
pub(super) async fn count_source_failure(
    conn: &impl ConnectionTrait,
    id: UserId,
    source: &str,
    threshold: u32,
    lock_end: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<Option<login_failures::Model>, StoreError> {
    use login_failures::Column as F;
    let threshold = i64::from(threshold);
    let table = login_failures::Entity;
    // Columns of the stored row (not `excluded`); all see it as it was before.
    let stored = |column: F| Expr::col((table, column));
    let lock_expired = stored(F::LockedUntil)
        .is_not_null()
        .and(stored(F::LockedUntil).lte(at));
    let attempts = Expr::case(lock_expired, 1).finally(stored(F::Attempts).add(1));
    let lock_at = |attempts: Expr| {
        Expr::case(attempts.gte(threshold), lock_end)
            .finally(Expr::val(Option::<DateTime<Utc>>::None))
    };
    let first_lock = if threshold <= 1 { Some(lock_end) } else { None };
    let row = login_failures::ActiveModel {
        user_id: Set(id.0),
        source: Set(source.to_owned()),
        attempts: Set(1),
        last_failed_at: Set(at),
        locked_until: Set(first_lock),
    };
    let not_locked = stored(F::LockedUntil)
        .is_null()
        .or(stored(F::LockedUntil).lte(at));
    let on_conflict = OnConflict::columns([F::UserId, F::Source])
        .value(F::Attempts, Expr::expr(attempts.clone()))
        .value(F::LockedUntil, lock_at(attempts.into()))
        .value(F::LastFailedAt, Expr::val(at))
        .action_and_where(not_locked)
        .to_owned();
    let mut insert = login_failures::Entity::insert(row)
        .on_conflict(on_conflict)
        .into_query();
    insert.returning_all();
    let statement = conn.get_database_backend().build(&insert);
    match conn.query_one_raw(statement).await {
        Ok(Some(row)) => Ok(Some(
            login_failures::Model::from_query_result(&row, "").store()?,
        )),
        Ok(None) => Ok(None),
        Err(err) if is_foreign_key_violation(&err) => Err(StoreError::NotFound),
        Err(err) => Err(store_error(err)),
    }
}

/// When the lock of `source` on the user ends, as found after an upsert refused to count;
/// `Unavailable` if it was lifted since (the caller may simply try again).
pub(super) async fn source_lock(
    conn: &impl ConnectionTrait,
    id: UserId,
    source: &str,
    at: DateTime<Utc>,
) -> Result<DateTime<Utc>, StoreError> {
    login_failures::Entity::find_by_id((id.0, source.to_owned()))
        .one(conn)
        .await
        .store()?
        .and_then(|row| row.locked_until)
        .filter(|until| *until > at)
        .ok_or_else(|| StoreError::Unavailable("source unlocked concurrently".into()))
}

/// Counts a failure on the user row in one conditional update, as the source's count:
/// the row as written, or `None` when the account is locked at `at`; `NotFound` when
/// there is no user. The count starts again after an expired lock, and after a quiet
/// `window` since the last failure: only failures that follow each other within the
/// lockout duration add up to the global cap, so one source that waits out its own lock
/// again and again never reaches it.
pub(super) async fn count_account_failure(
    conn: &impl ConnectionTrait,
    id: UserId,
    threshold: u32,
    window: chrono::Duration,
    at: DateTime<Utc>,
) -> Result<Option<users::Model>, StoreError> {
    let threshold = i64::from(threshold);
    let lock_end = at + window;
    // All right-hand sides see the row as it was before this statement.
    let lock_expired = Expr::col(users::Column::LockedUntil)
        .is_not_null()
        .and(Expr::col(users::Column::LockedUntil).lte(at));
    let quiet = Expr::col(users::Column::LastFailedLoginAt).lte(at - window);
    let attempts = Expr::case(lock_expired.or(quiet), 1)
        .finally(Expr::col(users::Column::FailedLoginAttempts).add(1));
    let lock = Expr::case(Expr::expr(attempts.clone()).gte(threshold), lock_end)
        .finally(Expr::val(Option::<DateTime<Utc>>::None));
    let updated = users::Entity::update_many()
        .col_expr(users::Column::FailedLoginAttempts, attempts.into())
        .col_expr(users::Column::LockedUntil, lock.into())
        .col_expr(users::Column::LastFailedLoginAt, Expr::val(at))
        .filter(users::Column::Id.eq(id.0))
        .filter(not_locked_at(at))
        .exec_with_returning(conn)
        .await
        .store()?;
    match updated.into_iter().next() {
        Some(row) => Ok(Some(row)),
        None => not_recorded(conn, id).await,
    }
}
