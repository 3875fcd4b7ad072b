//! [`UserRepository`] on sea-orm. Login bookkeeping is done in single conditional
//! `UPDATE … RETURNING` statements so concurrent requests never lose a count.

use crate::audit::commit_with;
use crate::entities::{one_time_tokens as tokens, roles, user_roles, users};
use crate::error::{DbResultExt, begin_write, corrupt, is_unique_violation, store_error};
use crate::hot_lane::HotLane;
use crate::keyset;
use crate::one_statement::{cte, insert_for_each};
use crate::{audit, oauth, one_time_tokens, roles as role_rules, sessions};
use auth_ports::{
    AuditWith, Constraint, Email, FailedLogin, LockoutPolicy, NewAuditEntry, NewOneTimeToken,
    NewUser, OAuthAccount, OAuthLink, PasswordChange, PasswordHash, RevokeSessions, StoreError,
    TokenPurpose, User, UserId, UserQuery, UserRepository, UserStatus, UserUpdate,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, InsertStatement, LikeExpr, Query, WithClause};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, FromQueryResult, Insert, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set, Statement, TryIntoModel, UpdateMany,
};

/// Stores users in the `users` table.
#[derive(Clone, Debug)]
pub struct SeaOrmUserRepository {
    db: DatabaseConnection,
    /// For the account lookup every login makes.
    lane: HotLane,
}

impl SeaOrmUserRepository {
    pub(crate) fn new(db: DatabaseConnection, lane: HotLane) -> Self {
        Self { db, lane }
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

/// A new account's rows, built once for either way of writing them.
#[derive(Clone)]
struct NewAccount {
    user: users::ActiveModel,
    verification: Option<tokens::ActiveModel>,
    /// The role named by the insert itself (`… SELECT …, roles.id, … FROM roles WHERE
    /// name = ?`): one statement, no lookup before it.
    role: Option<(String, InsertStatement)>,
}

impl NewAccount {
    fn new(user: NewUser, oauth_providers: &[&str]) -> Result<Self, StoreError> {
        let id = UserId::new();
        let verification = user.verification.map(|(token_hash, expires_at)| {
            one_time_tokens::row(NewOneTimeToken {
                user_id: id,
                purpose: TokenPurpose::EmailVerification,
                token_hash,
                expires_at,
                created_at: user.created_at,
            })
        });
        let role = match user.role {
            Some(name) => {
                let assign = Query::insert()
                    .into_table(user_roles::Entity)
                    .columns([
                        user_roles::Column::UserId,
                        user_roles::Column::RoleId,
                        user_roles::Column::AssignedAt,
                    ])
                    .select_from(
                        Query::select()
                            .expr(Expr::val(id.0))
                            .column(roles::Column::Id)
                            .expr(Expr::val(user.created_at))
                            .from(roles::Entity)
                            .and_where(roles::Column::Name.eq(name.as_str()))
                            .to_owned(),
                    )
                    .map_err(|e| StoreError::Other(e.into()))?
                    .to_owned();
                Some((name, assign))
            }
            None => None,
        };
        let user = users::ActiveModel {
            id: Set(id.0),
            email: Set(user.email.as_str().to_owned()),
            password_hash: Set(user.password_hash.map(|h| h.expose().to_owned())),
            status: Set(UserStatus::Active.as_str().to_owned()),
            email_verified: Set(user.email_verified),
            email_verified_at: Set(user.email_verified.then_some(user.created_at)),
            failed_login_attempts: Set(0),
            last_failed_login_at: Set(None),
            locked_until: Set(None),
            first_name: Set(user.first_name),
            last_name: Set(user.last_name),
            oauth_providers: Set(serde_json::json!(oauth_providers)),
            last_login_at: Set(None),
            created_at: Set(user.created_at),
            updated_at: Set(user.created_at),
        };
        Ok(Self {
            user,
            verification,
            role,
        })
    }

    /// Inserts the rows on the caller's transaction; `NotFound` when the role does not
    /// exist.
    async fn insert(self, txn: &impl ConnectionTrait) -> Result<users::Model, StoreError> {
        let created = self.user.insert(txn).await.store()?;
        if let Some(token) = self.verification {
            token.insert(txn).await.store()?;
        }
        if let Some((_, assign)) = self.role {
            let assigned = txn.execute(&assign).await.store()?;
            if assigned.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        Ok(created)
    }

    /// The rows and `audit`'s entries as one PostgreSQL statement, which returns the new
    /// user's id, or no row (and writes nothing) when the role does not exist:
    ///
    /// `WITH role AS (SELECT id FROM roles WHERE name = ?),
    ///       created AS (INSERT INTO users … SELECT … FROM role RETURNING id),
    ///       verification AS (INSERT INTO one_time_tokens … SELECT … FROM created),
    ///       assigned AS (INSERT INTO user_roles … FROM roles WHERE name = ?),
    ///       audited_0 AS (INSERT INTO audit_logs … SELECT … FROM created), …
    ///  SELECT id FROM created`
    fn statement(self, audit: Vec<NewAuditEntry>) -> Result<Statement, DbErr> {
        let mut with = WithClause::new();
        let mut create = match &self.role {
            Some((name, _)) => {
                let role = Query::select()
                    .column(roles::Column::Id)
                    .from(roles::Entity)
                    .and_where(roles::Column::Name.eq(name.as_str()))
                    .to_owned();
                with.cte(cte("role", role));
                insert_for_each(self.user, "role")?
            }
            None => Insert::one(self.user).into_query(),
        };
        create.returning_col(users::Column::Id);
        with.cte(cte("created", create));
        if let Some(token) = self.verification {
            with.cte(cte("verification", insert_for_each(token, "created")?));
        }
        if let Some((_, assign)) = self.role {
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
}

/// Replaces the hash and revokes sessions as `change` says, on the caller's transaction.
/// Returns how many sessions were revoked.
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
    one_time_tokens::use_up(txn, id, Some(TokenPurpose::PasswordReset), at).await?;
    match change.revoke {
        RevokeSessions::AllExcept(keep) => sessions::revoke_all(txn, id, Some(keep), at).await,
        RevokeSessions::All => sessions::revoke_all(txn, id, None, at).await,
    }
}

/// Condition "no lock is in force at `at`".
fn not_locked_at(at: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(users::Column::LockedUntil.is_null())
        .add(users::Column::LockedUntil.lte(at))
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

/// The update that records a successful login at `at`: clears the failure count and sets
/// `last_login_at`, unless a lock is in force at `at`, the account is no longer active
/// (suspended since the check), or the password hash is no longer `verified` (a
/// password change landed since the check); then it matches no row.
pub(crate) fn login_update(
    backend: DbBackend,
    id: UserId,
    verified: &PasswordHash,
    at: DateTime<Utc>,
) -> UpdateMany<users::Entity> {
    // RETURNING does not show what SQLite's AFTER UPDATE trigger writes, so the statement
    // writes what the trigger would; PostgreSQL's BEFORE trigger sets it either way.
    let updated_at = match backend {
        DbBackend::Sqlite => Expr::cust(SQLITE_NOW),
        _ => Expr::val(at),
    };
    users::Entity::update_many()
        .col_expr(users::Column::FailedLoginAttempts, Expr::val(0))
        .col_expr(
            users::Column::LockedUntil,
            Expr::val(Option::<DateTime<Utc>>::None),
        )
        .col_expr(users::Column::LastLoginAt, Expr::val(at))
        .col_expr(users::Column::UpdatedAt, updated_at)
        .filter(users::Column::Id.eq(id.0))
        .filter(users::Column::PasswordHash.eq(verified.expose()))
        .filter(users::Column::Status.eq(UserStatus::Active.as_str()))
        .filter(not_locked_at(at))
}

/// Runs [`login_update`] on the caller's transaction and returns the row as written, in
/// the same round trip; `None` when it matched no row (`NotFound` when there is no user).
pub(crate) async fn record_login(
    conn: &impl ConnectionTrait,
    id: UserId,
    verified: &PasswordHash,
    at: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    let updated = login_update(conn.get_database_backend(), id, verified, at)
        .exec_with_returning(conn)
        .await
        .store()?;
    match updated.into_iter().next() {
        Some(user) => Ok(Some(user.try_into()?)),
        None => not_recorded(conn, id).await,
    }
}

/// Why a login update matched no row: `NotFound` without a user, else `None`.
pub(crate) async fn not_recorded<T>(
    conn: &impl ConnectionTrait,
    id: UserId,
) -> Result<Option<T>, StoreError> {
    fetch(conn, id).await.map(|_| None)
}

/// SQLite's current time as the `updated_at` trigger of migration 000001 writes it.
const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')";

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

/// The user row, locked for the rest of the transaction (`FOR UPDATE` on PostgreSQL;
/// SQLite's write transaction holds the database lock already); `NotFound` if none.
pub(crate) async fn lock(
    txn: &DatabaseTransaction,
    id: UserId,
) -> Result<users::Model, StoreError> {
    users::Entity::find_by_id(id.0)
        .lock_exclusive()
        .one(txn)
        .await
        .store()?
        .ok_or(StoreError::NotFound)
}

/// Runs an unconditional single-row update and maps "no row" to `NotFound`.
async fn update_one(
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

impl SeaOrmUserRepository {
    /// PostgreSQL's account creation: [`NewAccount::statement`] on the hot lane; the user
    /// as written, `NotFound` when the role does not exist.
    ///
    /// The lane runs the statement again if its connection was lost. When the first run
    /// had committed, the second fails on a unique key and the account already stands:
    /// the user's id is new, so finding it stored means this very call wrote it.
    async fn create_in_one_statement(
        &self,
        account: NewAccount,
        audit: AuditWith<User>,
    ) -> Result<User, StoreError> {
        // Every column of the new user is known before it is written.
        let created: User = account.user.clone().try_into_model().store()?.try_into()?;
        let statement = account.statement(audit(&created)).store()?;
        match self.lane.query_all(statement).await {
            Ok(rows) if rows.is_empty() => {
                // No such role, so nothing was inserted and the email went unchecked; a
                // taken email is still the first answer, as in the transaction.
                let email = created.email.as_str();
                let taken = users::Entity::find().filter(users::Column::Email.eq(email));
                if taken.one(&self.db).await.store()?.is_some() {
                    return Err(StoreError::Conflict(Constraint::UserEmail));
                }
                Err(StoreError::NotFound)
            }
            Ok(_) => Ok(created),
            Err(err) if is_unique_violation(&err) => {
                let stored = users::Entity::find_by_id(created.id.0).one(&self.db);
                if stored.await.store()?.is_some() {
                    return Ok(created);
                }
                Err(store_error(err))
            }
            Err(err) => Err(store_error(err)),
        }
    }
}

#[async_trait::async_trait]
impl UserRepository for SeaOrmUserRepository {
    async fn create(&self, user: NewUser, audit: AuditWith<User>) -> Result<User, StoreError> {
        let account = NewAccount::new(user, &[])?;
        if self.db.get_database_backend() == DbBackend::Postgres {
            return self.create_in_one_statement(account, audit).await;
        }
        let txn = begin_write(&self.db).await?;
        let created: User = account.insert(&txn).await?.try_into()?;
        commit_with(txn, audit, &created).await?;
        Ok(created)
    }

    async fn create_with_oauth(
        &self,
        user: NewUser,
        link: OAuthLink,
    ) -> Result<(User, OAuthAccount), StoreError> {
        let txn = begin_write(&self.db).await?;
        let account = NewAccount::new(user, &[link.provider.as_str()])?;
        let created = account.insert(&txn).await?;
        let account = oauth::insert_account(&txn, UserId(created.id), link).await?;
        txn.commit().await.store()?;
        Ok((created.try_into()?, account))
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
        let statement = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .build(self.db.get_database_backend());
        let rows = self.lane.query_all(statement).await.store()?;
        rows.first()
            .map(|row| users::Model::from_query_result(row, "").store()?.try_into())
            .transpose()
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
            role_rules::refuse_last_active_holder(&txn, role_id, id).await?;
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
                sessions::revoke_all(&txn, id, None, at).await?;
                one_time_tokens::use_up(&txn, id, None, at).await?;
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
        let revoked = apply_password_change(&txn, id, change, at).await?;
        commit_with(txn, audit, &revoked).await?;
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
        policy: LockoutPolicy,
        at: DateTime<Utc>,
        audit: AuditWith<FailedLogin>,
    ) -> Result<FailedLogin, StoreError> {
        let lock_end = at
            + chrono::Duration::from_std(policy.duration)
                .map_err(|e| corrupt("lockout duration", e))?;
        let threshold = i32::try_from(policy.threshold).unwrap_or(i32::MAX);
        // All right-hand sides see the row as it was before this statement.
        let lock_expired = Expr::col(users::Column::LockedUntil)
            .is_not_null()
            .and(Expr::col(users::Column::LockedUntil).lte(at));
        let attempts = Expr::case(lock_expired, 1)
            .finally(Expr::col(users::Column::FailedLoginAttempts).add(1));
        let lock = Expr::case(Expr::expr(attempts.clone()).gte(threshold), lock_end)
            .finally(Expr::val(Option::<DateTime<Utc>>::None));
        let txn = begin_write(&self.db).await?;
        let updated = users::Entity::update_many()
            .col_expr(users::Column::FailedLoginAttempts, attempts.into())
            .col_expr(users::Column::LockedUntil, lock.into())
            .col_expr(users::Column::LastFailedLoginAt, Expr::val(at))
            .filter(users::Column::Id.eq(id.0))
            .filter(not_locked_at(at))
            .exec_with_returning(&txn)
            .await
            .store()?;
        let outcome = match updated.into_iter().next() {
            Some(row) => FailedLogin::Counted {
                attempts: u32::try_from(row.failed_login_attempts)
                    .map_err(|e| corrupt("users.failed_login_attempts", e))?,
                locked_until: row.locked_until,
            },
            // Locked at `at`, unless an unlock committed since the update: then the
            // caller may simply try again.
            None => FailedLogin::AlreadyLocked {
                until: fetch(&txn, id)
                    .await?
                    .locked_until
                    .filter(|until| *until > at)
                    .ok_or_else(|| {
                        StoreError::Unavailable("account unlocked concurrently".into())
                    })?,
            },
        };
        commit_with(txn, audit, &outcome).await?;
        Ok(outcome)
    }

    async fn unlock(&self, id: UserId, audit: AuditWith<()>) -> Result<(), StoreError> {
        let txn = begin_write(&self.db).await?;
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

    async fn mark_email_verified(&self, id: UserId, at: DateTime<Utc>) -> Result<(), StoreError> {
        mark_verified(&self.db, id, at).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrated_postgres;
    use auth_ports::AuditRepository;
    use auth_testing::unaudited;

    fn new_user(email: &str) -> NewUser {
        NewUser {
            email: Email::parse(email).unwrap(),
            password_hash: Some(PasswordHash::new("$argon2id$v=19$stub".into())),
            first_name: None,
            last_name: None,
            email_verified: false,
            role: Some("user".into()),
            verification: Some((auth_ports::TokenHash([9; 32]), chrono::DateTime::UNIX_EPOCH)),
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    /// The statement run again after its first run committed (its connection lost before
    /// the answer, so the hot lane retries) answers as the first run did, and writes
    /// nothing more.
    #[tokio::test]
    async fn an_account_statement_run_again_after_it_committed_answers_as_it_did() {
        let Some((_database, store)) = migrated_postgres().await else {
            return;
        };
        let users = store.users();
        let account = NewAccount::new(new_user("retry@example.com"), &[]).unwrap();
        let audited = || -> AuditWith<User> {
            Box::new(|user| {
                vec![NewAuditEntry::new(
                    Some(user.id),
                    "user.register",
                    user.created_at,
                )]
            })
        };
        let first = users.create_in_one_statement(account.clone(), audited());
        let first = first.await.unwrap();
        let again = users.create_in_one_statement(account, audited()).await;
        assert_eq!(again.unwrap(), first);
        let audit = store.audit();
        let trail = audit.query(auth_ports::AuditQuery {
            limit: 10,
            ..auth_ports::AuditQuery::default()
        });
        assert_eq!(trail.await.unwrap().len(), 1, "audited once");

        // Another account with the address taken is still refused.
        let other = NewAccount::new(new_user("retry@example.com"), &[]).unwrap();
        let taken = users.create_in_one_statement(other, unaudited()).await;
        assert!(
            matches!(taken, Err(StoreError::Conflict(Constraint::UserEmail))),
            "{taken:?}"
        );
    }

    #[test]
    fn like_literal_escapes_wildcards() {
        assert_eq!(like_literal("a%b_c\\d"), "a\\%b\\_c\\\\d");
        assert_eq!(like_literal("plain"), "plain");
    }
}
