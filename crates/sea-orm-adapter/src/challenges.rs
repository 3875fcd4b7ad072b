//! [`ChallengeRepository`] on sea-orm. A challenge is used up by deleting its row, so of
//! concurrent uses exactly one deletes it; a wrong answer is counted with a conditional
//! update that holds the row until the challenge is deleted at its last allowed failure.

use crate::entities::auth_challenges;
use crate::entities::oauth_flows::SecretText;
use crate::error::{DbResultExt, begin_write, corrupt};
use auth_ports::{
    Challenge, ChallengeId, ChallengeKind, ChallengeRepository, NewChallenge, PasswordHash,
    SessionId, StoreError, TokenHash, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};

/// Stores pending challenges in the `auth_challenges` table.
#[derive(Clone, Debug)]
pub struct SeaOrmChallengeRepository {
    db: DatabaseConnection,
}

impl SeaOrmChallengeRepository {
    /// A repository over the pool.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

impl TryFrom<auth_challenges::Model> for Challenge {
    type Error = StoreError;

    fn try_from(m: auth_challenges::Model) -> Result<Self, StoreError> {
        let token_hash: [u8; 32] = m
            .token_hash
            .as_slice()
            .try_into()
            .map_err(|e| corrupt("auth_challenges.token_hash", e))?;
        let kind = ChallengeKind::parse(&m.kind)
            .ok_or_else(|| corrupt("auth_challenges.kind", &m.kind))?;
        Ok(Challenge {
            id: ChallengeId(m.id),
            stored: NewChallenge {
                token_hash: TokenHash(token_hash),
                kind,
                user_id: m.user_id.map(UserId),
                session_id: m.session_id.map(SessionId),
                password_hash: m.password_hash.map(|hash| PasswordHash::new(hash.0)),
                login_source: m.login_source,
                webauthn_state: m.webauthn_state.map(|state| state.0),
                expires_at: m.expires_at,
                created_at: m.created_at,
            },
            failures: u32::try_from(m.failures)
                .map_err(|e| corrupt("auth_challenges.failures", e))?,
        })
    }
}

/// Deletes the challenge if it is live at `at`, on the caller's connection or
/// transaction; whether it did (of concurrent calls, one).
pub(crate) async fn take_live(
    conn: &impl ConnectionTrait,
    id: ChallengeId,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let deleted = auth_challenges::Entity::delete_many()
        .filter(auth_challenges::Column::Id.eq(id.0))
        .filter(auth_challenges::Column::ExpiresAt.gt(at))
        .exec(conn)
        .await
        .store()?;
    Ok(deleted.rows_affected > 0)
}

#[async_trait::async_trait]
impl ChallengeRepository for SeaOrmChallengeRepository {
    async fn create(&self, challenge: NewChallenge) -> Result<Challenge, StoreError> {
        let row = auth_challenges::ActiveModel {
            id: Set(ChallengeId::new().0),
            token_hash: Set(challenge.token_hash.0.to_vec()),
            kind: Set(challenge.kind.as_str().to_owned()),
            user_id: Set(challenge.user_id.map(|id| id.0)),
            session_id: Set(challenge.session_id.map(|id| id.0)),
            password_hash: Set(challenge
                .password_hash
                .as_ref()
                .map(|hash| SecretText(hash.expose().to_owned()))),
            login_source: Set(challenge.login_source.clone()),
            webauthn_state: Set(challenge.webauthn_state.clone().map(SecretText)),
            failures: Set(0),
            expires_at: Set(challenge.expires_at),
            created_at: Set(challenge.created_at),
        };
        row.insert(&self.db).await.store()?.try_into()
    }

    async fn find_live(
        &self,
        token_hash: &TokenHash,
        kind: ChallengeKind,
        now: DateTime<Utc>,
    ) -> Result<Option<Challenge>, StoreError> {
        auth_challenges::Entity::find()
            .filter(auth_challenges::Column::TokenHash.eq(token_hash.0.to_vec()))
            .filter(auth_challenges::Column::Kind.eq(kind.as_str()))
            .filter(auth_challenges::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await
            .store()?
            .map(Challenge::try_from)
            .transpose()
    }

    async fn record_failure(&self, id: ChallengeId, max_failures: u32) -> Result<bool, StoreError> {
        // The update holds the row (PostgreSQL) or the database (SQLite) until commit,
        // so concurrent failures count one after the other and the one that reaches the
        // limit sees it.
        let txn = begin_write(&self.db).await?;
        let counted = auth_challenges::Entity::update_many()
            .col_expr(
                auth_challenges::Column::Failures,
                Expr::col(auth_challenges::Column::Failures).add(1),
            )
            .filter(auth_challenges::Column::Id.eq(id.0))
            .exec_with_returning(&txn)
            .await
            .store()?;
        let Some(counted) = counted.into_iter().next() else {
            return Ok(false);
        };
        let live = u32::try_from(counted.failures).is_ok_and(|failures| failures < max_failures);
        if !live {
            auth_challenges::Entity::delete_by_id(id.0)
                .exec(&txn)
                .await
                .store()?;
        }
        txn.commit().await.store()?;
        Ok(live)
    }

    async fn consume(&self, id: ChallengeId) -> Result<bool, StoreError> {
        let deleted = auth_challenges::Entity::delete_by_id(id.0)
            .exec(&self.db)
            .await
            .store()?;
        Ok(deleted.rows_affected > 0)
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(auth_challenges::Entity::delete_many()
            .filter(auth_challenges::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .store()?
            .rows_affected)
    }
}
