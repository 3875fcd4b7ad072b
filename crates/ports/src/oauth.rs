//! External (OAuth/OIDC) identities linked to users, and the repository port.

use crate::{AuditWith, OAuthAccountId, SessionId, StoreError, TokenHash, UserId};
use chrono::{DateTime, Utc};
use std::fmt;

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
    /// Links an external account to the user and appends `audit`, in one transaction.
    ///
    /// # Errors
    /// `NotFound` if the user does not exist; `Conflict(OAuthSubject)` if the account is
    /// linked to someone; `Conflict(OAuthUserProvider)` if the user has that provider;
    /// `Conflict(DeletedUser)` if the user is deleted.
    async fn link(
        &self,
        user_id: UserId,
        link: OAuthLink,
        audit: AuditWith<OAuthAccount>,
    ) -> Result<OAuthAccount, StoreError>;

    /// Removes the user's link to `provider` and appends `audit`, in one transaction,
    /// unless it is the user's last way to log in (no password and no other link); two
    /// concurrent unlinks of a user's last two links cannot both succeed.
    ///
    /// # Errors
    /// `NotFound` if it is not linked; `Conflict(LastLoginMethod)` if it is the last way
    /// to log in (nothing is changed).
    async fn unlink(
        &self,
        user_id: UserId,
        provider: &str,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError>;

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

/// A secret of one login flow (a PKCE code verifier or an OIDC nonce): random, single
/// use, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct FlowSecret(String);

impl FlowSecret {
    /// Wraps a freshly generated (or stored) value.
    #[must_use]
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The value, for the provider request and the store only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for FlowSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FlowSecret(<redacted>)")
    }
}

/// A login or link flow between the redirect to the provider and its callback, kept
/// server-side so any instance can finish what another began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOAuthFlow {
    /// SHA-256 of the `state` parameter; the raw state is never stored.
    pub state_hash: TokenHash,
    /// The provider the flow was started for.
    pub provider: String,
    /// The OIDC nonce the ID token must carry.
    pub nonce: FlowSecret,
    /// The PKCE code verifier (its S256 challenge went to the provider).
    pub pkce_verifier: FlowSecret,
    /// `Some(user)`: the flow links the provider to this signed-in user; `None`: a login.
    pub link_user_id: Option<UserId>,
    /// The session of `link_user_id` that began a link flow (`Some` exactly when
    /// `link_user_id` is): the link completes only while that session is active, so
    /// revoking it (a logout, a logout everywhere) voids the link.
    pub link_session_id: Option<SessionId>,
    /// When the flow began.
    pub created_at: DateTime<Utc>,
    /// After this the callback is refused.
    pub expires_at: DateTime<Utc>,
}

impl PendingOAuthFlow {
    /// Whether the identity must come from a sign-in at the provider made after the flow
    /// began: a link flow, whose authorization request asked for one (see
    /// [`AuthorizationRequest::reauthenticate`]). The request's parameters pass through
    /// the browser, so whoever sends a victim there could strip them; only this check,
    /// on the provider's own answer, holds.
    #[must_use]
    pub fn needs_fresh_sign_in(&self) -> bool {
        self.link_user_id.is_some()
    }
}

/// Stores pending OAuth flows. Each flow is taken at most once.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait OAuthFlowRepository: Send + Sync {
    /// Stores a new flow.
    ///
    /// # Errors
    /// Storage failures only (a state collision is practically impossible and reported
    /// as `Other`).
    async fn save(&self, flow: PendingOAuthFlow) -> Result<(), StoreError>;

    /// Removes and returns the flow with this state hash if it has not expired at `now`,
    /// in one statement: of two concurrent callbacks with the same state, one gets it.
    /// An expired flow is removed too, and `None` returned.
    ///
    /// # Errors
    /// Storage failures only.
    async fn take(
        &self,
        state_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingOAuthFlow>, StoreError>;

    /// Deletes flows that expired before `now`. Returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// What the browser is sent to the provider with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The `state` parameter (the flow's key, raw).
    pub state: FlowSecret,
    /// The OIDC nonce.
    pub nonce: FlowSecret,
    /// The PKCE verifier; the client sends its S256 challenge.
    pub pkce_verifier: FlowSecret,
    /// The provider must make the user sign in again (`prompt=login`, `max_age=0`)
    /// rather than answer silently from its own session: a link flow must never complete
    /// unseen in a browser that someone else sent there. Set for exactly the flows whose
    /// [`PendingOAuthFlow::needs_fresh_sign_in`] holds, which `finish` enforces.
    pub reauthenticate: bool,
}

/// The provider's tokens, sealed (AES-256-GCM) for storage; `None` fields when the
/// provider sent none or tokens are not kept.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SealedTokens {
    /// Ciphertext of the access token.
    pub access_token: Option<Vec<u8>>,
    /// Ciphertext of the refresh token.
    pub refresh_token: Option<Vec<u8>>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Granted scopes, space-separated.
    pub scopes: Option<String>,
}

impl fmt::Debug for SealedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedTokens")
            .field("access_token", &self.access_token.is_some())
            .field("refresh_token", &self.refresh_token.is_some())
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// An identity a provider vouched for at the end of a flow (ID token checked, or the
/// provider's user API asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The provider's stable subject (`sub`, or GitHub's numeric id).
    pub subject: String,
    /// The email the provider reported, if any.
    pub email: Option<String>,
    /// Whether the provider says it verified that email.
    pub email_verified: bool,
    /// Given name, if shared.
    pub first_name: Option<String>,
    /// Family name, if shared.
    pub last_name: Option<String>,
    /// The provider's tokens, sealed.
    pub tokens: SealedTokens,
}

/// Why the provider side of a flow failed.
#[derive(Debug, thiserror::Error)]
pub enum OAuthClientError {
    /// No provider of that name is configured.
    #[error("unknown provider")]
    UnknownProvider,
    /// The provider could not be reached or answered nonsense (discovery, token or user
    /// endpoint); retrying later may work.
    #[error("provider unreachable: {0}")]
    Unreachable(String),
    /// The provider refused (error redirect, refused code exchange) or what it sent does
    /// not verify (signature, issuer, audience, expiry, nonce). The reason is for logs and
    /// the audit trail, never for the client.
    #[error("provider answer refused: {0}")]
    Rejected(String),
}

/// The protocol side of OAuth/OIDC login: building the redirect and turning a callback
/// code into a verified identity.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait OAuthClient: Send + Sync {
    /// Whether a provider of this name is configured.
    fn has_provider(&self, provider: &str) -> bool;

    /// The provider's authorization URL for `request` (code flow, PKCE S256, state,
    /// nonce, the configured scopes and authd's redirect URI).
    ///
    /// # Errors
    /// `UnknownProvider`; `Unreachable` if the provider's metadata cannot be had.
    async fn authorization_url(
        &self,
        provider: &str,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthClientError>;

    /// Exchanges `code` with the flow's PKCE verifier and verifies the identity (the ID
    /// token's signature, `iss`, `aud`, `exp` and the flow's nonce; for a flow that
    /// [`needs_fresh_sign_in`](PendingOAuthFlow::needs_fresh_sign_in), an `auth_time` no
    /// earlier than the flow's start, where the provider can prove it).
    ///
    /// # Errors
    /// `UnknownProvider`; `Unreachable`; `Rejected` for anything that does not verify.
    async fn finish(
        &self,
        provider: &str,
        code: &str,
        flow: &PendingOAuthFlow,
    ) -> Result<ExternalIdentity, OAuthClientError>;
}
