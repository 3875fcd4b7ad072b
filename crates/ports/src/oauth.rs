//! External (OAuth/OIDC) identities linked to users, and the repository port.

use crate::{OAuthAccountId, StoreError, UserId};
use chrono::{DateTime, Utc};

/// A linked external account. Provider tokens are never held in the clear here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthAccount {
    /// The id.
    pub id: OAuthAccountId,
    /// The user it logs in as.
    pub user_id: UserId,
    /// Provider name, e.g. `google`.
    pub provider: String,
    /// The provider's subject (`sub`).
    pub provider_user_id: String,
    /// The email the provider reported.
    pub provider_email: Option<String>,
    /// When the provider's access token expires.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Granted scopes, space-separated.
    pub scopes: Option<String>,
    /// Link time.
    pub created_at: DateTime<Utc>,
    /// Last change (set by the database).
    pub updated_at: DateTime<Utc>,
}

/// What linking an external account takes.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthLink {
    /// Provider name.
    pub provider: String,
    /// The provider's subject.
    pub provider_user_id: String,
    /// The email the provider reported.
    pub provider_email: Option<String>,
    /// AES-256-GCM ciphertext of the access token, or `None` when tokens are not kept.
    pub access_token_sealed: Option<Vec<u8>>,
    /// AES-256-GCM ciphertext of the refresh token, or `None`.
    pub refresh_token_sealed: Option<Vec<u8>>,
    /// When the access token expires.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Granted scopes.
    pub scopes: Option<String>,
    /// Link time.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for OAuthLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthLink")
            .field("provider", &self.provider)
            .field("provider_user_id", &self.provider_user_id)
            .field("provider_email", &self.provider_email)
            .field("tokens_kept", &self.access_token_sealed.is_some())
            .field("token_expires_at", &self.token_expires_at)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Stores OAuth accounts, keeping `users.oauth_providers` in step in the same transaction.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait OAuthAccountRepository: Send + Sync {
    /// Links an external account to the user.
    ///
    /// # Errors
    /// `NotFound` if the user does not exist; `Conflict(OAuthSubject)` if the account is
    /// linked to someone; `Conflict(OAuthUserProvider)` if the user has that provider.
    async fn link(&self, user_id: UserId, link: OAuthLink) -> Result<OAuthAccount, StoreError>;

    /// Removes the user's link to `provider`.
    ///
    /// # Errors
    /// `NotFound` if it is not linked.
    async fn unlink(&self, user_id: UserId, provider: &str) -> Result<(), StoreError>;

    /// The account with this provider subject.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_by_subject(
        &self,
        provider: &str,
        provider_user_id: &str,
    ) -> Result<Option<OAuthAccount>, StoreError>;

    /// The user's linked accounts, oldest first.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list_for_user(&self, user_id: UserId) -> Result<Vec<OAuthAccount>, StoreError>;
}
