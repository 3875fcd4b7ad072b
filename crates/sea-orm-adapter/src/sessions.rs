//! [`SessionRepository`] on sea-orm.

use crate::audit::commit_with;
use crate::backend::Backend;
use crate::entities::{Inet, sessions};
use crate::error::{DbResultExt, begin_write, corrupt};
use crate::shared_writes::revoke_all;
use auth_ports::{
    ActiveSession, AuditWith, AuthMethod, ChallengeId, LoginSource, NewSession, OpenedSession,
    PasswordHash, Session, SessionId, SessionRepository, StoreError, TokenHash, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use std::time::Duration;

/// Stores sessions in the `sessions` table.
#[derive(Clone, Debug)]
pub struct SeaOrmSessionRepository {
    db: DatabaseConnection,
    /// For the login and the session lookup.
    backend: Backend,
}

impl SeaOrmSessionRepository {
    pub(crate) fn new(db: DatabaseConnection, backend: Backend) -> Self {
        Self { db, backend }
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
            authenticated_at: m.authenticated_at.unwrap_or(m.created_at),
            auth_methods: sessions::methods_of(&m.auth_methods)
                .map_err(|name| corrupt("sessions.auth_methods", name))?,
        })
    }
}

/// The session a login opens: every column is known before it is written (its methods
/// as they read back: sorted, without repeats).
fn opened(session: NewSession) -> Session {
    let mut auth_methods = session.auth_methods;
    auth_methods.sort_unstable();
    auth_methods.dedup();
    Session {
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
        authenticated_at: session.created_at,
        auth_methods,
    }
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
        let created = opened(session);
        let user = self
            .backend
            .open_at_login(&created, verified, source, audit);
        Ok(user.await?.map(|user| OpenedSession {
            session: created,
            user,
        }))
    }

    async fn open_without_password(
        &self,
        session: NewSession,
        audit: AuditWith<Session>,
    ) -> Result<Option<OpenedSession>, StoreError> {
        // Not a hot path: the pieces of the password login, in a plain transaction.
        let created = opened(session);
        let user = self
            .backend
            .open_in_transaction(None, &created, None, audit);
        Ok(user.await?.map(|user| OpenedSession {
            session: created,
            user,
        }))
    }

    async fn open_with_challenge(
        &self,
        challenge: ChallengeId,
        session: NewSession,
        first_factor: Option<(PasswordHash, LoginSource)>,
        audit: AuditWith<Session>,
    ) -> Result<Option<OpenedSession>, StoreError> {
        let created = opened(session);
        let first_factor = first_factor.as_ref().map(|(hash, source)| (hash, source));
        let user = self
            .backend
            .open_in_transaction(Some(challenge), &created, first_factor, audit);
        Ok(user.await?.map(|user| OpenedSession {
            session: created,
            user,
        }))
    }

    async fn reauthenticate(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        methods: Vec<AuthMethod>,
        audit: AuditWith<()>,
    ) -> Result<bool, StoreError> {
        let txn = begin_write(&self.db).await?;
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::AuthenticatedAt, Expr::val(at))
            .col_expr(
                sessions::Column::AuthMethods,
                Expr::val(sessions::methods_text(&methods)),
            )
            .filter(sessions::Column::Id.eq(id.0))
            .filter(sessions::Column::IsActive.eq(true))
            .filter(sessions::Column::ExpiresAt.gt(at))
            .exec(&txn)
            .await
            .store()?;
        if result.rows_affected == 0 {
            // Dropped uncommitted, the transaction rolls back (it wrote nothing).
            return Ok(false);
        }
        commit_with(txn, audit, &()).await?;
        Ok(true)
    }

    async fn find_active_by_token_hash(
        &self,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, StoreError> {
        self.backend.find_session(token_hash, now).await
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
