//! [`OAuthAccountRepository`] on sea-orm. Every write locks the user row first, recomputes
//! `users.oauth_providers` from `oauth_accounts` and appends its audit entries, in one
//! transaction, so the two never disagree and the trail matches what was done.

use crate::audit::commit_with;
use crate::entities::{oauth_accounts, users};
use crate::error::{DbResultExt, begin_write};
use crate::shared_writes::lock;
use auth_ports::{
    AuditWith, Constraint, OAuthAccount, OAuthAccountId, OAuthAccountRepository, OAuthLink,
    StoreError, UserId, UserStatus,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

/// Stores linked accounts in the `oauth_accounts` table.
#[derive(Clone, Debug)]
pub struct SeaOrmOAuthAccountRepository {
    db: DatabaseConnection,
}

impl SeaOrmOAuthAccountRepository {
    /// A repository over the pool.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

impl From<oauth_accounts::Model> for OAuthAccount {
    fn from(m: oauth_accounts::Model) -> Self {
        OAuthAccount {
            id: OAuthAccountId(m.id),
            user_id: UserId(m.user_id),
            provider: m.provider,
            provider_user_id: m.provider_user_id,
            provider_email: m.provider_email,
            token_expires_at: m.token_expires_at,
            scopes: m.scopes,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Inserts the account row; the caller owns the transaction and the providers list.
pub(crate) async fn insert_account(
    txn: &impl ConnectionTrait,
    user_id: UserId,
    link: OAuthLink,
) -> Result<OAuthAccount, StoreError> {
    Ok(oauth_accounts::ActiveModel {
        id: Set(OAuthAccountId::new().0),
        user_id: Set(user_id.0),
        provider: Set(link.provider),
        provider_user_id: Set(link.provider_user_id),
        provider_email: Set(link.provider_email),
        access_token: Set(link.access_token_sealed),
        refresh_token: Set(link.refresh_token_sealed),
        token_expires_at: Set(link.token_expires_at),
        scopes: Set(link.scopes),
        created_at: Set(link.created_at),
        updated_at: Set(link.created_at),
    }
    .insert(txn)
    .await
    .store()?
    .into())
}

/// Rewrites `users.oauth_providers` from the user's linked accounts.
async fn sync_providers(txn: &impl ConnectionTrait, user_id: UserId) -> Result<(), StoreError> {
    let providers: Vec<String> = oauth_accounts::Entity::find()
        .select_only()
        .column(oauth_accounts::Column::Provider)
        .filter(oauth_accounts::Column::UserId.eq(user_id.0))
        .order_by_asc(oauth_accounts::Column::Provider)
        .into_tuple()
        .all(txn)
        .await
        .store()?;
    users::Entity::update_many()
        .col_expr(
            users::Column::OauthProviders,
            Expr::val(serde_json::json!(providers)),
        )
        .filter(users::Column::Id.eq(user_id.0))
        .exec(txn)
        .await
        .store()?;
    Ok(())
}

#[async_trait::async_trait]
impl OAuthAccountRepository for SeaOrmOAuthAccountRepository {
    async fn link(
        &self,
        user_id: UserId,
        link: OAuthLink,
        audit: AuditWith<OAuthAccount>,
    ) -> Result<OAuthAccount, StoreError> {
        let txn = begin_write(&self.db).await?;
        // The user row first, as `unlink` takes it: changes of one user's links queue.
        let user = lock(&txn, user_id).await?;
        if user.status == UserStatus::Deleted.as_str() {
            return Err(StoreError::Conflict(Constraint::DeletedUser));
        }
        let account = insert_account(&txn, user_id, link).await?;
        sync_providers(&txn, user_id).await?;
        commit_with(txn, audit, &account).await?;
        Ok(account)
    }

    async fn unlink(
        &self,
        user_id: UserId,
        provider: &str,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError> {
        // Two unlinks of a passwordless user's last two links must not both pass the
        // check below. On PostgreSQL the user row's `FOR UPDATE` makes the second wait
        // for the first to commit, and its count (a new statement under READ COMMITTED)
        // then sees the first one's delete. On SQLite `begin_write` is `BEGIN IMMEDIATE`:
        // write transactions run one at a time from their first statement, and the lock
        // clause is not needed (sea-query leaves it out).
        let txn = begin_write(&self.db).await?;
        let user = lock(&txn, user_id).await?;
        let providers: Vec<String> = oauth_accounts::Entity::find()
            .select_only()
            .column(oauth_accounts::Column::Provider)
            .filter(oauth_accounts::Column::UserId.eq(user_id.0))
            .into_tuple()
            .all(&txn)
            .await
            .store()?;
        if !providers.iter().any(|linked| linked == provider) {
            return Err(StoreError::NotFound);
        }
        if user.password_hash.is_none() && providers.len() == 1 {
            // Dropped uncommitted, the transaction rolls back having written nothing.
            return Err(StoreError::Conflict(Constraint::LastLoginMethod));
        }
        oauth_accounts::Entity::delete_many()
            .filter(oauth_accounts::Column::UserId.eq(user_id.0))
            .filter(oauth_accounts::Column::Provider.eq(provider))
            .exec(&txn)
            .await
            .store()?;
        sync_providers(&txn, user_id).await?;
        commit_with(txn, audit, &()).await
    }

    async fn find_by_subject(
        &self,
        provider: &str,
        provider_user_id: &str,
    ) -> Result<Option<OAuthAccount>, StoreError> {
        Ok(oauth_accounts::Entity::find()
            .filter(oauth_accounts::Column::Provider.eq(provider))
            .filter(oauth_accounts::Column::ProviderUserId.eq(provider_user_id))
            .one(&self.db)
            .await
            .store()?
            .map(OAuthAccount::from))
    }

    async fn list_for_user(&self, user_id: UserId) -> Result<Vec<OAuthAccount>, StoreError> {
        Ok(oauth_accounts::Entity::find()
            .filter(oauth_accounts::Column::UserId.eq(user_id.0))
            .order_by_asc(oauth_accounts::Column::CreatedAt)
            .all(&self.db)
            .await
            .store()?
            .into_iter()
            .map(OAuthAccount::from)
            .collect())
    }
}
