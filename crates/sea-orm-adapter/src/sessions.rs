//! [`SessionRepository`] on sea-orm.

use crate::audit::{self, commit_with};
use crate::entities::{Inet, sessions, users};
use crate::error::{DbResultExt, begin_write, corrupt, is_unique_violation, store_error};
use crate::hot_lane::HotLane;
use crate::one_statement::{cte, insert_for_each};
use crate::session_lookup::SessionLookups;
use crate::users::{clear_source, fetch, login_update, not_recorded, record_login};
use auth_ports::{
    ActiveSession, AuditWith, LoginSource, NewAuditEntry, NewSession, OpenedSession, PasswordHash,
    Session, SessionId, SessionRepository, StoreError, TokenHash, User, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Asterisk, Expr, Query, WithClause};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, FromQueryResult, Iterable, QueryFilter, QueryOrder, QueryTrait, Set, Statement,
};
use std::time::Duration;

/// Stores sessions in the `sessions` table.
#[derive(Clone, Debug)]
pub struct SeaOrmSessionRepository {
    db: DatabaseConnection,
    /// For PostgreSQL's login statement.
    lane: HotLane,
    lookups: SessionLookups,
}

impl SeaOrmSessionRepository {
    pub(crate) fn new(db: DatabaseConnection, lane: HotLane, lookups: SessionLookups) -> Self {
        Self { db, lane, lookups }
    }
}

impl TryFrom<sessions::Model> for Session {
    type Error = StoreError;

    fn try_from(m: sessions::Model) -> Result<Self, StoreError> {
        let token_hash: [u8; 32] = m
            .token_hash
            .as_slice()
            .try_into()
            .map_err(|e| corrupt("sessions.token_hash", e))?;
        Ok(Session {
            id: SessionId(m.id),
            user_id: UserId(m.user_id),
            token_hash: TokenHash(token_hash),
            expires_at: m.expires_at,
            ip_address: m.ip_address.as_ref().and_then(Inet::to_ip),
            user_agent: m.user_agent,
            is_active: m.is_active,
            last_accessed_at: m.last_accessed_at,
            created_at: m.created_at,
            revoked_at: m.revoked_at,
        })
    }
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

/// The row of a session.
fn row(session: &Session) -> sessions::ActiveModel {
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
    }
}

impl SeaOrmSessionRepository {
    /// PostgreSQL's login: [`login_statement`] on the hot lane; the user as written, or
    /// `None` when the login update matched no row.
    ///
    /// The lane runs the statement again if its connection was lost. When the first run
    /// had committed, the second fails on a unique key and the login already stands: the
    /// session's id is new, so finding it stored means this very login wrote it.
    async fn open_in_one_statement(
        &self,
        created: &Session,
        verified: &PasswordHash,
        source: &LoginSource,
        audit: Vec<NewAuditEntry>,
    ) -> Result<Option<User>, StoreError> {
        let statement = login_statement(verified, source, created, audit).store()?;
        match self.lane.query_all(statement).await {
            Ok(rows) => match rows.first() {
                Some(row) => Ok(Some(
                    users::Model::from_query_result(row, "")
                        .store()?
                        .try_into()?,
                )),
                None => not_recorded(&self.db, created.user_id).await,
            },
            Err(err) if is_unique_violation(&err) => {
                let stored = sessions::Entity::find_by_id(created.id.0).one(&self.db);
                if stored.await.store()?.is_some() {
                    return Ok(Some(fetch(&self.db, created.user_id).await?.try_into()?));
                }
                Err(store_error(err))
            }
            Err(err) => Err(store_error(err)),
        }
    }
}

/// A login on PostgreSQL as one statement, which returns the user row as written, or no
/// row when the login update matched none (and then writes nothing):
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
    let mut update = login_update(backend, session.user_id, verified, &source.key, at).into_query();
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
    with.cte(cte("opened", insert_for_each(row(session), "recorded")?));
    for (i, entry) in audit.into_iter().enumerate() {
        let insert = insert_for_each(audit::row(entry), "recorded")?;
        with.cte(cte(format!("audited_{i}"), insert));
    }
    let select = Query::select().column(Asterisk).from("recorded").to_owned();
    Ok(backend.build(&select.with(with)))
}

#[async_trait::async_trait]
impl SessionRepository for SeaOrmSessionRepository {
    async fn open_at_login(
        &self,
        session: NewSession,
        verified: &PasswordHash,
        source: &LoginSource,
        audit: AuditWith<Session>,
    ) -> Result<Option<OpenedSession>, StoreError> {
        // Every column of the new session is known before it is written.
        let created = Session {
            id: SessionId::new(),
            user_id: session.user_id,
            token_hash: session.token_hash,
            expires_at: session.expires_at,
            ip_address: session.ip_address,
            user_agent: session.user_agent,
            is_active: true,
            last_accessed_at: session.created_at,
            created_at: session.created_at,
            revoked_at: None,
        };
        let user = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                self.open_in_one_statement(&created, verified, source, audit(&created))
                    .await?
            }
            _ => {
                let txn = begin_write(&self.db).await?;
                let (id, at) = (created.user_id, created.created_at);
                let recorded = record_login(&txn, id, verified, &source.key, at).await?;
                // Dropped uncommitted, the transaction rolls back.
                let Some(user) = recorded else {
                    return Ok(None);
                };
                if source.failures > 0 {
                    clear_source(id, &source.key).exec(&txn).await.store()?;
                }
                row(&created).insert(&txn).await.store()?;
                commit_with(txn, audit, &created).await?;
                Some(user)
            }
        };
        Ok(user.map(|user| OpenedSession {
            session: created,
            user,
        }))
    }

    async fn find_active_by_token_hash(
        &self,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, StoreError> {
        self.lookups.find(token_hash, now).await
    }

    async fn list_active_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user_id.0))
            .filter(sessions::Column::IsActive.eq(true))
            .filter(sessions::Column::ExpiresAt.gt(now))
            .order_by_desc(sessions::Column::CreatedAt)
            .order_by_desc(sessions::Column::Id)
            .all(&self.db)
            .await
            .store()?
            .into_iter()
            .map(Session::try_from)
            .collect()
    }

    async fn touch(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        min_interval: Duration,
    ) -> Result<bool, StoreError> {
        let stale_before =
            at - chrono::Duration::from_std(min_interval).map_err(|e| corrupt("interval", e))?;
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::LastAccessedAt, Expr::val(at))
            .filter(sessions::Column::Id.eq(id.0))
            .filter(sessions::Column::IsActive.eq(true))
            .filter(sessions::Column::LastAccessedAt.lte(stale_before))
            .exec(&self.db)
            .await
            .store()?;
        Ok(result.rows_affected > 0)
    }

    async fn revoke(
        &self,
        user_id: UserId,
        id: SessionId,
        at: DateTime<Utc>,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError> {
        let txn = begin_write(&self.db).await?;
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::IsActive, Expr::val(false))
            .col_expr(sessions::Column::RevokedAt, Expr::val(at))
            .filter(sessions::Column::Id.eq(id.0))
            .filter(sessions::Column::UserId.eq(user_id.0))
            .filter(sessions::Column::IsActive.eq(true))
            .exec(&txn)
            .await
            .store()?;
        match result.rows_affected {
            0 => Err(StoreError::NotFound),
            _ => commit_with(txn, audit, &()).await,
        }
    }

    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        at: DateTime<Utc>,
        audit: AuditWith<u64>,
    ) -> Result<u64, StoreError> {
        let txn = begin_write(&self.db).await?;
        let revoked = revoke_all(&txn, user_id, None, at).await?;
        commit_with(txn, audit, &revoked).await?;
        Ok(revoked)
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sessions::Entity::delete_many()
            .filter(sessions::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .store()?
            .rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{migrated_postgres, stub_user};
    use auth_ports::AuditRepository;

    /// The statement run again after its first run committed (its connection lost before
    /// the answer, so the hot lane retries) answers as the first run did, and writes
    /// nothing more.
    #[tokio::test]
    async fn a_login_statement_run_again_after_it_committed_answers_as_it_did() {
        let Some((_database, store)) = migrated_postgres().await else {
            return;
        };
        let at = DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
        let (user, hash) = stub_user(&store, "login-retry@example.com", at).await;
        let created = Session {
            id: SessionId::new(),
            user_id: user.id,
            token_hash: TokenHash([3; 32]),
            expires_at: at + chrono::Duration::hours(1),
            ip_address: None,
            user_agent: None,
            is_active: true,
            last_accessed_at: at,
            created_at: at,
            revoked_at: None,
        };
        let entry = || vec![NewAuditEntry::new(Some(user.id), "auth.login", at)];
        let source = LoginSource {
            key: "192.0.2.1".into(),
            failures: 0,
        };
        let sessions = store.sessions();
        let first = sessions
            .open_in_one_statement(&created, &hash, &source, entry())
            .await;
        let first = first.unwrap().expect("the login is recorded");
        let again = sessions
            .open_in_one_statement(&created, &hash, &source, entry())
            .await;
        assert_eq!(again.unwrap(), Some(first));
        let listed = sessions.list_active_for_user(user.id, at).await.unwrap();
        assert_eq!(listed.len(), 1, "one session");
        let audit = store.audit();
        let trail = audit.query(auth_ports::AuditQuery {
            limit: 10,
            ..auth_ports::AuditQuery::default()
        });
        assert_eq!(trail.await.unwrap().len(), 1, "audited once");
    }
}
