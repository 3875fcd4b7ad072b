//! Reads and writes that several repositories run on the caller's transaction, so that a
//! change and its consequences commit together (a status change revokes the sessions
//! and uses up the tokens of the user). Kept below the repositories, so none of them
//! imports another. Writers that touch several tables lock in one order:
//! `login_failures`, then `users`, then `one_time_tokens`.

use crate::entities::{login_failures, one_time_tokens, sessions, users};
use crate::error::DbResultExt;
use crate::mail_outbox::enqueue;
use auth_ports::{
    NewOneTimeToken, PasswordChange, RevokeSessions, SessionId, StoreError, TokenPurpose, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QuerySelect, QueryTrait, Select, Set,
};

/// The user row; `NotFound` if there is none. Also tells "no such user" from "condition
/// not met" after a conditional update matched no row.
pub(crate) async fn fetch(
    conn: &impl ConnectionTrait,
    id: UserId,
) -> Result<users::Model, StoreError> {
    users::Entity::find_by_id(id.0)
        .one(conn)
        .await
        .store()?
        .ok_or(StoreError::NotFound)
}

/// Why a conditional update of the user row matched no row: `NotFound` without a user,
/// else `None`.
pub(crate) async fn not_recorded<T>(
    conn: &impl ConnectionTrait,
    id: UserId,
) -> Result<Option<T>, StoreError> {
    fetch(conn, id).await.map(|_| None)
}

/// The user row, locked for the rest of the transaction; `NotFound` if none.
pub(crate) async fn lock(
    txn: &DatabaseTransaction,
    id: UserId,
) -> Result<users::Model, StoreError> {
    lock_one(txn, users::Entity::find_by_id(id.0)).await
}

/// The user row `row` selects, locked for the rest of the transaction (`FOR UPDATE` on
/// PostgreSQL; SQLite's write transaction holds the database lock already); `NotFound`
/// if none.
pub(crate) async fn lock_one(
    txn: &DatabaseTransaction,
    row: Select<users::Entity>,
) -> Result<users::Model, StoreError> {
    row.lock_exclusive()
        .one(txn)
        .await
        .store()?
        .ok_or(StoreError::NotFound)
}

/// Runs an unconditional single-row update and maps "no row" to `NotFound`.
pub(crate) async fn update_one(
    conn: &impl ConnectionTrait,
    id: UserId,
    sets: Vec<(users::Column, Expr)>,
) -> Result<(), StoreError> {
    let mut update = users::Entity::update_many().filter(users::Column::Id.eq(id.0));
    for (column, value) in sets {
        update = update.col_expr(column, value);
    }
    match update.exec(conn).await.store()?.rows_affected {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// Marks the email verified at `at` (the first time is kept), on the caller's connection
/// or transaction.
pub(crate) async fn mark_verified(
    conn: &impl ConnectionTrait,
    id: UserId,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    update_one(
        conn,
        id,
        vec![
            (users::Column::EmailVerified, Expr::val(true)),
            (
                users::Column::EmailVerifiedAt,
                Expr::col(users::Column::EmailVerifiedAt).if_null(at),
            ),
        ],
    )
    .await
}

/// Replaces the hash, revokes sessions and mails the notice as `change` says, on the
/// caller's transaction.
/// Returns how many sessions were revoked. With `clear_lockout`, the caller has cleared
/// the sources' failure records already ([`clear_sources`]), before it locked the user
/// row: the order logins and failures lock them in.
pub(crate) async fn apply_password_change(
    txn: &impl ConnectionTrait,
    id: UserId,
    change: PasswordChange,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut update = users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::val(change.hash.expose()))
        .filter(users::Column::Id.eq(id.0));
    if change.clear_lockout {
        update = update
            .col_expr(users::Column::FailedLoginAttempts, Expr::val(0))
            .col_expr(
                users::Column::LockedUntil,
                Expr::val(Option::<DateTime<Utc>>::None),
            );
    }
    if update.exec(txn).await.store()?.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    // A reset link mailed before the change must not undo it.
    use_up(txn, id, Some(TokenPurpose::PasswordReset), at).await?;
    if let Some(notice) = change.notice {
        enqueue(txn, notice, at).await?;
    }
    match change.revoke {
        RevokeSessions::AllExcept(keep) => revoke_all(txn, id, Some(keep), at).await,
        RevokeSessions::All => revoke_all(txn, id, None, at).await,
    }
}

/// Deletes every per-source failure record of the user, on the caller's transaction.
pub(crate) async fn clear_sources(
    conn: &impl ConnectionTrait,
    id: UserId,
) -> Result<u64, StoreError> {
    let deleted = login_failures::Entity::delete_many()
        .filter(login_failures::Column::UserId.eq(id.0))
        .exec(conn)
        .await
        .store()?;
    Ok(deleted.rows_affected)
}

/// Revokes the user's active sessions but `keep` at `at`, on the caller's connection or
/// transaction (so a status or password change and the revocation commit together).
pub(crate) async fn revoke_all(
    conn: &impl ConnectionTrait,
    user_id: UserId,
    keep: Option<SessionId>,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut update = sessions::Entity::update_many()
        .col_expr(sessions::Column::IsActive, Expr::val(false))
        .col_expr(sessions::Column::RevokedAt, Expr::val(at))
        .filter(sessions::Column::UserId.eq(user_id.0))
        .filter(sessions::Column::IsActive.eq(true));
    if let Some(keep) = keep {
        update = update.filter(sessions::Column::Id.ne(keep.0));
    }
    Ok(update.exec(conn).await.store()?.rows_affected)
}

/// The row of a new one-time token.
pub(crate) fn token_row(token: NewOneTimeToken) -> one_time_tokens::ActiveModel {
    one_time_tokens::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(token.user_id.0),
        purpose: Set(token.purpose.as_str().to_owned()),
        token_hash: Set(token.token_hash.0.to_vec()),
        expires_at: Set(token.expires_at),
        used_at: Set(None),
        created_at: Set(token.created_at),
    }
}

/// Uses up, at `at`, the user's live tokens of `purpose` (of every purpose for `None`),
/// on the caller's transaction.
pub(crate) async fn use_up(
    conn: &impl ConnectionTrait,
    user: UserId,
    purpose: Option<TokenPurpose>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    one_time_tokens::Entity::update_many()
        .col_expr(one_time_tokens::Column::UsedAt, Expr::val(at))
        .filter(one_time_tokens::Column::UserId.eq(user.0))
        .apply_if(purpose, |update, purpose| {
            update.filter(one_time_tokens::Column::Purpose.eq(purpose.as_str()))
        })
        .filter(live_at(at))
        .exec(conn)
        .await
        .store()?;
    Ok(())
}

/// Condition "unused and unexpired at `now`" on one-time tokens.
pub(crate) fn live_at(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(one_time_tokens::Column::UsedAt.is_null())
        .add(one_time_tokens::Column::ExpiresAt.gt(now))
}
