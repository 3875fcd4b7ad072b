//! [`OAuthFlowRepository`] on sea-orm: pending flows are taken with one
//! `DELETE … RETURNING`, so of concurrent callbacks with one state exactly one gets the
//! row, and a taken flow is gone whether or not it had expired. A link flow's row goes
//! with its user or its session (foreign keys, `ON DELETE CASCADE`).

use crate::entities::oauth_flows::{self, SecretText};
use crate::error::{DbResultExt, corrupt};
use auth_ports::{
    FlowSecret, OAuthFlowRepository, PendingOAuthFlow, SessionId, StoreError, TokenHash, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

/// Stores pending OAuth flows in the `oauth_flows` table.
#[derive(Clone, Debug)]
pub struct SeaOrmOAuthFlowRepository {
    db: DatabaseConnection,
}

impl SeaOrmOAuthFlowRepository {
    /// A repository over the pool.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

impl TryFrom<oauth_flows::Model> for PendingOAuthFlow {
    type Error = StoreError;

    fn try_from(m: oauth_flows::Model) -> Result<Self, StoreError> {
        let state_hash: [u8; 32] = m
            .state_hash
            .as_slice()
            .try_into()
            .map_err(|e| corrupt("oauth_flows.state_hash", e))?;
        Ok(PendingOAuthFlow {
            state_hash: TokenHash(state_hash),
            provider: m.provider,
            nonce: FlowSecret::new(m.nonce.0),
            pkce_verifier: FlowSecret::new(m.pkce_verifier.0),
            link_user_id: m.link_user_id.map(UserId),
            link_session_id: m.link_session_id.map(SessionId),
            created_at: m.created_at,
            expires_at: m.expires_at,
        })
    }
}

#[async_trait::async_trait]
impl OAuthFlowRepository for SeaOrmOAuthFlowRepository {
    async fn save(&self, flow: PendingOAuthFlow) -> Result<(), StoreError> {
        oauth_flows::ActiveModel {
            state_hash: Set(flow.state_hash.0.to_vec()),
            provider: Set(flow.provider),
            nonce: Set(SecretText(flow.nonce.expose().to_owned())),
            pkce_verifier: Set(SecretText(flow.pkce_verifier.expose().to_owned())),
            link_user_id: Set(flow.link_user_id.map(|id| id.0)),
            link_session_id: Set(flow.link_session_id.map(|id| id.0)),
            created_at: Set(flow.created_at),
            expires_at: Set(flow.expires_at),
        }
        .insert(&self.db)
        .await
        .store()?;
        Ok(())
    }

    async fn take(
        &self,
        state_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingOAuthFlow>, StoreError> {
        // One statement on both backends (SQLite has RETURNING since 3.35): the row is
        // deleted by whichever caller gets it first, and expired or not it is gone.
        let taken = oauth_flows::Entity::delete_many()
            .filter(oauth_flows::Column::StateHash.eq(state_hash.0.to_vec()))
            .exec_with_returning(&self.db)
            .await
            .store()?;
        match taken.into_iter().next() {
            Some(row) if row.expires_at > now => Ok(Some(row.try_into()?)),
            _ => Ok(None),
        }
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(oauth_flows::Entity::delete_many()
            .filter(oauth_flows::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .store()?
            .rows_affected)
    }
}
