//! [`UserRepository`] on sea-orm. Login bookkeeping is done in single conditional
//! `UPDATE … RETURNING` statements so concurrent requests never lose a count; the
//! failure counting is in [`lockout`].

mod erasure;
mod lockout;

use crate::audit::commit_with;
use crate::backend::Backend;
use crate::entities::{login_failures, mfa_totp, passkeys, users};
use crate::error::{DbResultExt, begin_write, corrupt};
use crate::keyset;
use crate::new_account::NewAccount;
use crate::oauth::insert_account;
use crate::roles::refuse_last_active_holder;
use crate::shared_writes::{
    apply_password_change, clear_sources, fetch, lock, mark_verified, revoke_all, update_one,
    use_up,
};
use auth_ports::{
    AuditWith, Constraint, Email, FailedLogin, LockScope, LockoutPolicy, LoginAccount, NewUser,
    OAuthAccount, OAuthLink, PasswordChange, PasswordHash, StoreError, User, UserId, UserQuery,
    UserRepository, UserStatus, UserUpdate,
};
use chrono::{DateTime, Utc};
use lockout::{count_account_failure, count_source_failure, source_lock};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};

/// Stores users in the `users` table.
#[derive(Clone, Debug)]
pub struct SeaOrmUserRepository {
    db: DatabaseConnection,
    /// For account creation and the account lookup every login makes.
    backend: Backend,
}

impl SeaOrmUserRepository {
    pub(crate) fn new(db: DatabaseConnection, backend: Backend) -> Self {
        Self { db, backend }
    }
}

impl TryFrom<users::Model> for User {
    type Error = StoreError;

    fn try_from(m: users::Model) -> Result<Self, StoreError> {
        Ok(User {
            id: UserId(m.id),
            email: Email::parse(&m.email).map_err(|e| corrupt("users.email", e))?,
            password_hash: m.password_hash.map(PasswordHash::new),
            status: m.status.parse().map_err(|e| corrupt("users.status", e))?,
            email_verified: m.email_verified,
            email_verified_at: m.email_verified_at,
            failed_login_attempts: u32::try_from(m.failed_login_attempts)
                .map_err(|e| corrupt("users.failed_login_attempts", e))?,
            last_failed_login_at: m.last_failed_login_at,
            locked_until: m.locked_until,
            first_name: m.first_name,
            last_name: m.last_name,
            oauth_providers: serde_json::from_value(m.oauth_providers)
                .map_err(|e| corrupt("users.oauth_providers", e))?,
            last_login_at: m.last_login_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// `EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = users.id AND confirmed_at IS NOT NULL)
/// OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = users.id)`: whether the user's logins
/// need a second factor (as `MfaFactors::enabled` decides), read with the login lookup.
fn second_factor_of_user() -> Expr {
    let user_id = || Expr::col((users::Entity, users::Column::Id));
    let totp = Query::select()
        .expr(Expr::val(1))
        .from(mfa_totp::Entity)
        .and_where(Expr::col((mfa_totp::Entity, mfa_totp::Column::UserId)).eq(user_id()))
        .and_where(Expr::col((mfa_totp::Entity, mfa_totp::Column::ConfirmedAt)).is_not_null())
        .to_owned();
    let passkey = Query::select()
        .expr(Expr::val(1))
        .from(passkeys::Entity)
        .and_where(Expr::col((passkeys::Entity, passkeys::Column::UserId)).eq(user_id()))
        .to_owned();
    Expr::exists(totp).or(Expr::exists(passkey))
}

/// Escapes `%`, `_` and `\` so user input matches literally inside a `LIKE` pattern.
fn like_literal(needle: &str) -> String {
    let mut escaped = String::with_capacity(needle.len());
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[async_trait::async_trait]
impl UserRepository for SeaOrmUserRepository {
    async fn create(&self, user: NewUser, audit: AuditWith<User>) -> Result<User, StoreError> {
        let account = NewAccount::new(user, &[])?;
        self.backend.create_account(account, audit).await
    }

    async fn create_with_oauth(
        &self,
        user: NewUser,
        link: OAuthLink,
        audit: AuditWith<(User, OAuthAccount)>,
    ) -> Result<(User, OAuthAccount), StoreError> {
        let txn = begin_write(&self.db).await?;
        let account = NewAccount::new(user, &[link.provider.as_str()])?;
        let created: User = account.insert(&txn).await?.try_into()?;
        let account = insert_account(&txn, created.id, link).await?;
        let created = (created, account);
        commit_with(txn, audit, &created).await?;
        Ok(created)
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        users::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .store()?
            .map(User::try_from)
            .transpose()
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let select = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .into_query();
        let rows = self.backend.read_hot(&select).await?;
        rows.first()
            .map(|row| users::Model::from_query_result(row, "").store()?.try_into())
            .transpose()
    }

    async fn find_for_login(
        &self,
        email: &Email,
        source: &str,
    ) -> Result<Option<LoginAccount>, StoreError> {
        // `SELECT users.*, f.attempts, f.locked_until, EXISTS (…mfa_totp…) OR EXISTS
        // (…passkeys…) FROM users LEFT JOIN login_failures f ON f.user_id = users.id AND
        // f.source = ? WHERE email = ?`: the lookup every login makes, so still one
        // statement of indexed reads.
        let failures = login_failures::Entity;
        let mut select = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .into_query();
        select
            .expr_as(
                Expr::col((failures, login_failures::Column::Attempts)),
                "source_attempts",
            )
            .expr_as(
                Expr::col((failures, login_failures::Column::LockedUntil)),
                "source_locked_until",
            )
            .expr_as(second_factor_of_user(), "has_second_factor")
            .left_join(
                failures,
                Condition::all()
                    .add(
                        Expr::col((failures, login_failures::Column::UserId))
                            .equals((users::Entity, users::Column::Id)),
                    )
                    .add(Expr::col((failures, login_failures::Column::Source)).eq(source)),
            );
        let rows = self.backend.read_hot(&select).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let user: User = users::Model::from_query_result(row, "")
            .store()?
            .try_into()?;
        let attempts: Option<i32> = row.try_get("", "source_attempts").store()?;
        Ok(Some(LoginAccount {
            user,
            source_failures: u32::try_from(attempts.unwrap_or(0))
                .map_err(|e| corrupt("login_failures.attempts", e))?,
            source_locked_until: row.try_get("", "source_locked_until").store()?,
            has_second_factor: row.try_get("", "has_second_factor").store()?,
        }))
    }

    async fn list(&self, query: UserQuery) -> Result<Vec<User>, StoreError> {
        let mut select = users::Entity::find();
        if let Some(status) = query.status {
            select = select.filter(users::Column::Status.eq(status.as_str()));
        }
        if let Some(needle) = query.email_contains {
            // Emails are stored lower-cased, so lower-casing the needle is enough.
            let pattern = format!("%{}%", like_literal(&needle.to_lowercase()));
            select = select.filter(users::Column::Email.like(LikeExpr::new(pattern).escape('\\')));
        }
        if let Some(after) = query.after {
            select = select.filter(keyset::after(
                users::Column::CreatedAt,
                users::Column::Id,
                after.created_at,
                after.id.0,
            ));
        }
        select
            .order_by_desc(users::Column::CreatedAt)
            .order_by_desc(users::Column::Id)
            .limit(u64::from(query.limit))
            .all(&self.db)
            .await
            .store()?
            .into_iter()
            .map(User::try_from)
            .collect()
    }

    async fn update(
        &self,
        id: UserId,
        update: UserUpdate,
        at: DateTime<Utc>,
        audit: AuditWith<(User, User)>,
    ) -> Result<User, StoreError> {
        let txn = begin_write(&self.db).await?;
        // Locked, so concurrent changes of this user see each other's outcome: a
        // delete stays final and "leaves active" is judged on the committed status.
        let current = lock(&txn, id).await?;
        if current.status == UserStatus::Deleted.as_str() {
            return Err(StoreError::Conflict(Constraint::DeletedUser));
        }
        let before: User = current.clone().try_into()?;
        let leaves_active = before.status == UserStatus::Active
            && update.status.is_some_and(|s| s != UserStatus::Active);
        if leaves_active && let Some(role_id) = update.keep_an_active_holder_of {
            refuse_last_active_holder(&txn, role_id, id).await?;
        }
        let mut row: users::ActiveModel = current.into();
        if let Some(first_name) = update.first_name {
            row.first_name = Set(first_name);
        }
        if let Some(last_name) = update.last_name {
            row.last_name = Set(last_name);
        }
        if let Some(status) = update.status {
            row.status = Set(status.as_str().to_owned());
            if status != UserStatus::Active {
                revoke_all(&txn, id, None, at).await?;
                use_up(&txn, id, None, at).await?;
            }
        }
        if row.is_changed() {
            row.update(&txn).await.store()?;
        }
        // Read back: on SQLite the `updated_at` trigger runs after RETURNING is computed.
        let updated: User = fetch(&txn, id).await?.try_into()?;
        let change = (before, updated);
        commit_with(txn, audit, &change).await?;
        Ok(change.1)
    }

    async fn erase(
        &self,
        id: UserId,
        placeholder: Email,
        guarded: &str,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError> {
        let txn = begin_write(&self.db).await?;
        erasure::erase(&txn, id, placeholder, guarded).await?;
        commit_with(txn, audit, &()).await
    }

    async fn delete(&self, id: UserId) -> Result<(), StoreError> {
        match users::Entity::delete_by_id(id.0)
            .exec(&self.db)
            .await
            .store()?
            .rows_affected
        {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn change_password(
        &self,
        id: UserId,
        change: PasswordChange,
        at: DateTime<Utc>,
        audit: AuditWith<u64>,
    ) -> Result<u64, StoreError> {
        let txn = begin_write(&self.db).await?;
        if change.clear_lockout {
            clear_sources(&txn, id).await?;
        }
        let revoked = apply_password_change(&txn, id, change, at).await?;
        commit_with(txn, audit, &revoked).await?;
        self.backend.mail().mail_committed();
        Ok(revoked)
    }

    async fn rehash_password(
        &self,
        id: UserId,
        expected: PasswordHash,
        new: PasswordHash,
    ) -> Result<bool, StoreError> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::val(new.expose()))
            .filter(users::Column::Id.eq(id.0))
            .filter(users::Column::PasswordHash.eq(expected.expose()))
            .exec(&self.db)
            .await
            .store()?;
        Ok(result.rows_affected > 0)
    }

    async fn record_failed_login(
        &self,
        id: UserId,
        source: &str,
        policy: LockoutPolicy,
        at: DateTime<Utc>,
        audit: AuditWith<FailedLogin>,
    ) -> Result<FailedLogin, StoreError> {
        let window = chrono::Duration::from_std(policy.duration)
            .map_err(|e| corrupt("lockout duration", e))?;
        let lock_end = at + window;
        let txn = begin_write(&self.db).await?;
        // The source first, the user row second: the order a login locks them in.
        let counted = count_source_failure(&txn, id, source, policy.threshold, lock_end, at);
        let Some(counted) = counted.await? else {
            let until = source_lock(&txn, id, source, at).await?;
            let outcome = FailedLogin::AlreadyLocked { until };
            commit_with(txn, audit, &outcome).await?;
            return Ok(outcome);
        };
        let Some(account) =
            count_account_failure(&txn, id, policy.global_threshold, window, at).await?
        else {
            // Locked for every source: the source's count is rolled back with the rest.
            let until = fetch(&txn, id)
                .await?
                .locked_until
                .filter(|until| *until > at)
                .ok_or_else(|| StoreError::Unavailable("account unlocked concurrently".into()))?;
            txn.rollback().await.store()?;
            let outcome = FailedLogin::AlreadyLocked { until };
            commit_with(begin_write(&self.db).await?, audit, &outcome).await?;
            return Ok(outcome);
        };
        let locked = match (account.locked_until, counted.locked_until) {
            (Some(until), _) => Some((LockScope::Account, until)),
            (None, Some(until)) => Some((LockScope::Source, until)),
            (None, None) => None,
        };
        let outcome = FailedLogin::Counted {
            attempts: u32::try_from(counted.attempts)
                .map_err(|e| corrupt("login_failures.attempts", e))?,
            account_attempts: u32::try_from(account.failed_login_attempts)
                .map_err(|e| corrupt("users.failed_login_attempts", e))?,
            locked,
        };
        commit_with(txn, audit, &outcome).await?;
        Ok(outcome)
    }

    async fn unlock(&self, id: UserId, audit: AuditWith<()>) -> Result<(), StoreError> {
        let txn = begin_write(&self.db).await?;
        clear_sources(&txn, id).await?;
        update_one(
            &txn,
            id,
            vec![
                (
                    users::Column::LockedUntil,
                    Expr::val(Option::<DateTime<Utc>>::None),
                ),
                (users::Column::FailedLoginAttempts, Expr::val(0)),
            ],
        )
        .await?;
        commit_with(txn, audit, &()).await
    }

    async fn delete_stale_login_failures(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let no_lock_then = Condition::any()
            .add(login_failures::Column::LockedUntil.is_null())
            .add(login_failures::Column::LockedUntil.lt(before));
        let deleted = login_failures::Entity::delete_many()
            .filter(login_failures::Column::LastFailedAt.lt(before))
            .filter(no_lock_then)
            .exec(&self.db)
            .await
            .store()?;
        Ok(deleted.rows_affected)
    }

    async fn mark_email_verified(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError> {
        let txn = begin_write(&self.db).await?;
        mark_verified(&txn, id, at).await?;
        commit_with(txn, audit, &()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_literal_escapes_wildcards() {
        assert_eq!(like_literal("a%b_c\\d"), "a\\%b\\_c\\\\d");
        assert_eq!(like_literal("plain"), "plain");
    }
}
