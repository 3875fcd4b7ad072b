//! What a successful login writes, for both backends' password login paths and the login
//! without a password: the conditional update of the user row, the cleared failure
//! record of its source and the new session's row; and [`record_login`], which writes
//! them on a transaction.

use crate::entities::{Inet, login_failures, sessions, users};
use crate::error::DbResultExt;
use crate::shared_writes::not_recorded;
use auth_ports::{LoginSource, PasswordHash, Session, StoreError, User, UserId, UserStatus};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, Set,
    UpdateMany,
};

/// Records the login of `created`'s user at its creation time and stores `created`, on
/// the caller's transaction: with `first_factor` (the hash the password matched and the
/// client's source) [`login_update`] and the clearing of the source's failures when it
/// has some; without, [`active_login_update`]. `updated_at` is what the update writes to
/// `users.updated_at` (the backend's own "now": RETURNING does not show what SQLite's
/// AFTER UPDATE trigger writes). The user as written; `None` when the update matched no
/// row (the caller drops the transaction, which then writes nothing); `NotFound` when
/// there is no user.
pub(crate) async fn record_login(
    txn: &DatabaseTransaction,
    created: &Session,
    first_factor: Option<(&PasswordHash, &LoginSource)>,
    updated_at: Expr,
) -> Result<Option<User>, StoreError> {
    let (id, at) = (created.user_id, created.created_at);
    let update = match first_factor {
        Some((verified, source)) => login_update(updated_at, id, verified, &source.key, at),
        None => active_login_update(id, at).col_expr(users::Column::UpdatedAt, updated_at),
    };
    let updated = update.exec_with_returning(txn).await.store()?;
    let Some(user) = updated.into_iter().next() else {
        return not_recorded(txn, id).await;
    };
    if let Some((_, source)) = first_factor
        && source.failures > 0
    {
        clear_source(id, &source.key).exec(txn).await.store()?;
    }
    session_row(created).insert(txn).await.store()?;
    Ok(Some(user.try_into()?))
}

/// The update that records a successful login from `source` at `at`: clears the
/// account's failure count and sets `last_login_at` (and `updated_at` to
/// `updated_at`), unless a lock of the account or of `source` is in force at `at`, the
/// account is no longer active (suspended since the check), or the password hash is no
/// longer `verified` (a password change landed since the check); then it matches no
/// row.
pub(crate) fn login_update(
    updated_at: Expr,
    id: UserId,
    verified: &PasswordHash,
    source: &str,
    at: DateTime<Utc>,
) -> UpdateMany<users::Entity> {
    active_login_update(id, at)
        .col_expr(users::Column::FailedLoginAttempts, Expr::val(0))
        .col_expr(
            users::Column::LockedUntil,
            Expr::val(Option::<DateTime<Utc>>::None),
        )
        .col_expr(users::Column::UpdatedAt, updated_at)
        .filter(users::Column::PasswordHash.eq(verified.expose()))
        .filter(not_locked_at(at))
        .filter(source_not_locked_at(id, source, at))
}

/// The update that records a login at `at`: sets `last_login_at` unless the account is
/// no longer active; then it matches no row. A login without a password runs it as it
/// is (failure counts and locks are the password's business); [`login_update`] adds the
/// password login's conditions and bookkeeping.
pub(crate) fn active_login_update(id: UserId, at: DateTime<Utc>) -> UpdateMany<users::Entity> {
    users::Entity::update_many()
        .col_expr(users::Column::LastLoginAt, Expr::val(at))
        .filter(users::Column::Id.eq(id.0))
        .filter(users::Column::Status.eq(UserStatus::Active.as_str()))
}

/// Condition "no lock of the account is in force at `at`".
pub(crate) fn not_locked_at(at: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(users::Column::LockedUntil.is_null())
        .add(users::Column::LockedUntil.lte(at))
}

/// Condition "`source` is not locked out of user `id` at `at`":
/// `COALESCE((SELECT locked_until FROM login_failures WHERE user_id = ? AND source = ?
/// FOR UPDATE), at) <= at`. On PostgreSQL the row lock makes a login wait for a
/// concurrent failure from the same source and then read the lock it committed, as the
/// account's lock is read from the user row the login updates. `FOR UPDATE`, not
/// `FOR SHARE`: two logins from one source would both hold a share lock, and each
/// then wait for the other's, one on the user row, one to delete this row (a
/// deadlock). SQLite's single writer has no such race (and no lock clause).
fn source_not_locked_at(id: UserId, source: &str, at: DateTime<Utc>) -> Expr {
    let locked_until = Query::select()
        .column(login_failures::Column::LockedUntil)
        .from(login_failures::Entity)
        .and_where(login_failures::Column::UserId.eq(id.0))
        .and_where(login_failures::Column::Source.eq(source))
        .lock_exclusive()
        .to_owned();
    let locked_until = Expr::SubQuery(None, Box::new(locked_until.into()));
    Expr::expr(Func::coalesce([locked_until, Expr::val(at)])).lte(at)
}

/// Deletes the failure record of `source` on the user, on the caller's connection.
pub(crate) fn clear_source(
    id: UserId,
    source: &str,
) -> sea_orm::DeleteMany<login_failures::Entity> {
    login_failures::Entity::delete_many()
        .filter(login_failures::Column::UserId.eq(id.0))
        .filter(login_failures::Column::Source.eq(source))
}

/// The row of a session.
pub(crate) fn session_row(session: &Session) -> sessions::ActiveModel {
    sessions::ActiveModel {
        id: Set(session.id.0),
        user_id: Set(session.user_id.0),
        token_hash: Set(session.token_hash.0.to_vec()),
        expires_at: Set(session.expires_at),
        ip_address: Set(session.ip_address.map(Inet::from)),
        user_agent: Set(session.user_agent.clone()),
        is_active: Set(session.is_active),
        last_accessed_at: Set(session.last_accessed_at),
        created_at: Set(session.created_at),
        revoked_at: Set(session.revoked_at),
        authenticated_at: Set(Some(session.authenticated_at)),
        auth_methods: Set(sessions::methods_text(&session.auth_methods)),
    }
}
