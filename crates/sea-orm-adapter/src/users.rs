//! [`UserRepository`] on sea-orm. Login bookkeeping is done in single conditional
//! `UPDATE … RETURNING` statements so concurrent requests never lose a count.

use crate::audit::commit_with;
use crate::entities::{login_failures, one_time_tokens as tokens, roles, user_roles, users};
use crate::error::{DbResultExt, begin_write, corrupt, is_unique_violation, store_error};
use crate::hot_lane::HotLane;
use crate::keyset;
use crate::one_statement::{cte, insert_for_each};
use crate::{audit, oauth, one_time_tokens, roles as role_rules, sessions};
use auth_ports::{
    AuditWith, Constraint, Email, FailedLogin, LockScope, LockoutPolicy, LoginAccount,
    NewAuditEntry, NewOneTimeToken, NewUser, OAuthAccount, OAuthLink, PasswordChange, PasswordHash,
    RevokeSessions, StoreError, TokenPurpose, User, UserId, UserQuery, UserRepository, UserStatus,
    UserUpdate,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Expr, ExprTrait, Func, InsertStatement, LikeExpr, OnConflict, Query, WithClause,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, FromQueryResult, Insert, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, Set, Statement, TryIntoModel, UpdateMany,
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
    one_time_tokens::use_up(txn, id, Some(TokenPurpose::PasswordReset), at).await?;
    match change.revoke {
        RevokeSessions::AllExcept(keep) => sessions::revoke_all(txn, id, Some(keep), at).await,
        RevokeSessions::All => sessions::revoke_all(txn, id, None, at).await,
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

/// Deletes the failure record of `source` on the user, on the caller's connection.
pub(crate) fn clear_source(
    id: UserId,
    source: &str,
) -> sea_orm::DeleteMany<login_failures::Entity> {
    login_failures::Entity::delete_many()
        .filter(login_failures::Column::UserId.eq(id.0))
        .filter(login_failures::Column::Source.eq(source))
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

/// The update that records a successful login from `source` at `at`: clears the
/// account's failure count and sets `last_login_at`, unless a lock of the account or of
/// `source` is in force at `at`, the account is no longer active (suspended since the
/// check), or the password hash is no longer `verified` (a
/// password change landed since the check); then it matches no row.
pub(crate) fn login_update(
    backend: DbBackend,
    id: UserId,
    verified: &PasswordHash,
    source: &str,
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
        .filter(source_not_locked_at(id, source, at))
}

/// Runs [`login_update`] on the caller's transaction and returns the row as written, in
/// the same round trip; `None` when it matched no row (`NotFound` when there is no user).
pub(crate) async fn record_login(
    conn: &impl ConnectionTrait,
    id: UserId,
    verified: &PasswordHash,
    source: &str,
    at: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    let updated = login_update(conn.get_database_backend(), id, verified, source, at)
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

    async fn find_for_login(
        &self,
        email: &Email,
        source: &str,
    ) -> Result<Option<LoginAccount>, StoreError> {
        // `SELECT users.*, f.attempts, f.locked_until FROM users LEFT JOIN
        // login_failures f ON f.user_id = users.id AND f.source = ? WHERE email = ?`:
        // the lookup every login makes, so still one indexed read.
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
            .left_join(
                failures,
                Condition::all()
                    .add(
                        Expr::col((failures, login_failures::Column::UserId))
                            .equals((users::Entity, users::Column::Id)),
                    )
                    .add(Expr::col((failures, login_failures::Column::Source)).eq(source)),
            );
        let statement = self.db.get_database_backend().build(&select);
        let rows = self.lane.query_all(statement).await.store()?;
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
        if change.clear_lockout {
            clear_sources(&txn, id).await?;
        }
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

    async fn mark_email_verified(&self, id: UserId, at: DateTime<Utc>) -> Result<(), StoreError> {
        mark_verified(&self.db, id, at).await
    }
}

/// Counts a failure from `source` in one upsert: a new record starts at 1; an existing
/// one goes up by 1 (again from 1 after its lock expired) unless its lock is in force,
/// and reaching `threshold` sets the lock to `lock_end`. The record as written, or
/// `None` (nothing written) when the source is locked at `at`.
async fn count_source_failure(
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
        Err(err) if crate::error::is_foreign_key_violation(&err) => Err(StoreError::NotFound),
        Err(err) => Err(store_error(err)),
    }
}

/// When the lock of `source` on the user ends, as found after an upsert refused to count;
/// `Unavailable` if it was lifted since (the caller may simply try again).
async fn source_lock(
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
async fn count_account_failure(
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
