//! The handle the composition root holds: it hands out the repositories, all sharing
//! one pool and one [`Backend`].

use crate::backend::{Backend, PoolConfig, PoolStats};
use crate::error::DbResultExt;
use crate::{
    MailSignal, SeaOrmAuditRepository, SeaOrmChallengeRepository, SeaOrmMailOutbox,
    SeaOrmMfaRepository, SeaOrmOAuthAccountRepository, SeaOrmOAuthFlowRepository,
    SeaOrmOneTimeTokenRepository, SeaOrmRoleRepository, SeaOrmSessionRepository,
    SeaOrmUserRepository, SeaOrmUserTransfer,
};
use auth_ports::StoreError;
use sea_orm::DatabaseConnection;

/// The database behind authd: a pool shared by every repository.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) backend: Backend,
}

impl Store {
    /// Opens the pool and checks that the database answers.
    ///
    /// # Errors
    /// `Unavailable` if the database cannot be reached within the connect timeout;
    /// `Other` for a malformed URL or an unsupported backend.
    pub async fn connect(config: &PoolConfig) -> Result<Self, StoreError> {
        let store = Self {
            backend: Backend::connect(config).await?,
        };
        store.ping().await?;
        Ok(store)
    }

    /// The main pool.
    pub(crate) fn db(&self) -> &DatabaseConnection {
        self.backend.db()
    }

    /// Checks that the database answers now.
    ///
    /// # Errors
    /// `Unavailable` (or `Other`) when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db().ping().await.store()
    }

    /// How each pool stands now: the main pool, and PostgreSQL's batch pool after it.
    #[must_use]
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        self.backend.pool_stats()
    }

    /// Closes every connection of the pool.
    ///
    /// # Errors
    /// When the pool cannot be closed cleanly.
    pub async fn close(self) -> Result<(), StoreError> {
        self.backend.close().await
    }

    /// The user repository.
    #[must_use]
    pub fn users(&self) -> SeaOrmUserRepository {
        SeaOrmUserRepository::new(self.db().clone(), self.backend.clone())
    }

    /// The session repository.
    #[must_use]
    pub fn sessions(&self) -> SeaOrmSessionRepository {
        SeaOrmSessionRepository::new(self.db().clone(), self.backend.clone())
    }

    /// The role repository.
    #[must_use]
    pub fn roles(&self) -> SeaOrmRoleRepository {
        SeaOrmRoleRepository::new(self.db().clone())
    }

    /// The audit repository.
    #[must_use]
    pub fn audit(&self) -> SeaOrmAuditRepository {
        SeaOrmAuditRepository::new(self.db().clone())
    }

    /// The OAuth account repository.
    #[must_use]
    pub fn oauth_accounts(&self) -> SeaOrmOAuthAccountRepository {
        SeaOrmOAuthAccountRepository::new(self.db().clone())
    }

    /// The repository of pending OAuth flows.
    #[must_use]
    pub fn oauth_flows(&self) -> SeaOrmOAuthFlowRepository {
        SeaOrmOAuthFlowRepository::new(self.db().clone())
    }

    /// The one-time token repository.
    #[must_use]
    pub fn one_time_tokens(&self) -> SeaOrmOneTimeTokenRepository {
        SeaOrmOneTimeTokenRepository::new(self.db().clone(), self.backend.mail().clone())
    }

    /// The mail outbox.
    #[must_use]
    pub fn mail_outbox(&self) -> SeaOrmMailOutbox {
        SeaOrmMailOutbox::new(self.db().clone())
    }

    /// Resolves when this process committed mail: what wakes its delivery worker.
    #[must_use]
    pub fn mail_signal(&self) -> MailSignal {
        self.backend.mail().clone()
    }

    /// The repository of second factors.
    #[must_use]
    pub fn mfa(&self) -> SeaOrmMfaRepository {
        SeaOrmMfaRepository::new(self.db().clone(), self.backend.clone())
    }

    /// The repository of pending authentication challenges.
    #[must_use]
    pub fn challenges(&self) -> SeaOrmChallengeRepository {
        SeaOrmChallengeRepository::new(self.db().clone())
    }

    /// Accounts in bulk, for `authd users import|export`.
    #[must_use]
    pub fn transfer(&self) -> SeaOrmUserTransfer {
        SeaOrmUserTransfer::new(self.db().clone())
    }
}
