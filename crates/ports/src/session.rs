//! Server-side sessions and the repository port that stores them. A session is found by
//! the SHA-256 of its bearer token; the token itself is never stored.

use crate::{
    AuditWith, AuthMethod, ChallengeId, LoginSource, PasswordHash, SessionId, StoreError,
    TokenHash, User, UserId,
};
use chrono::{DateTime, Utc};
use std::{net::IpAddr, time::Duration};

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The id (safe to show the user).
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// Hash of the bearer token.
    pub token_hash: TokenHash,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Client address at login.
    pub ip_address: Option<IpAddr>,
    /// Client user agent at login.
    pub user_agent: Option<String>,
    /// False once revoked.
    pub is_active: bool,
    /// Last recorded activity (may lag by the touch interval).
    pub last_accessed_at: DateTime<Utc>,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When its user last proved who they are: at login, or at the latest step-up.
    pub authenticated_at: DateTime<Utc>,
    /// How they did, then (sorted, without repeats).
    pub auth_methods: Vec<AuthMethod>,
}

/// What creating a session takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Whose session it is.
    pub user_id: UserId,
    /// Hash of the freshly generated token.
    pub token_hash: TokenHash,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Client address.
    pub ip_address: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Login time (also the first access and the authentication time).
    pub created_at: DateTime<Utc>,
    /// How the user proved who they are (sorted, without repeats).
    pub auth_methods: Vec<AuthMethod>,
}

/// A session opened at login, with its user as the login left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedSession {
    /// The new session.
    pub session: Session,
    /// Its user, with the login recorded.
    pub user: User,
}

/// An active session with what a request needs to know about its caller, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    /// The session.
    pub session: Session,
    /// Its user, in whatever status.
    pub user: User,
    /// Names of the user's roles, sorted.
    pub roles: Vec<String>,
    /// The union of their permissions, sorted.
    pub permissions: Vec<String>,
}

/// Stores sessions. Every method is atomic.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait SessionRepository: Send + Sync {
    /// Opens a session at a successful login from `source`, in one transaction: records
    /// the login on the user (account failure count cleared, `last_login_at` =
    /// `session.created_at`), clears the source's failures when `source.failures` says
    /// there are some, stores the new active session and appends `audit`. `None`, with
    /// nothing written, when something changed since the caller checked the password
    /// against `verified`: a lock of the account or of `source` is in force at
    /// `session.created_at` (a concurrent failure), the account is no longer active
    /// (suspended since), or the user's hash is no longer `verified` (a password change
    /// or reset).
    ///
    /// # Errors
    /// `NotFound` if the user does not exist; `Conflict(SessionToken)` on a hash collision.
    async fn open_at_login(
        &self,
        session: NewSession,
        verified: &PasswordHash,
        source: &LoginSource,
        audit: AuditWith<Session>,
    ) -> Result<Option<OpenedSession>, StoreError>;

    /// Opens a session for a login that did not check a password (an OAuth login), in one
    /// transaction: records the login on the user (`last_login_at` =
    /// `session.created_at`; password failure counts and locks are left alone), stores
    /// the new active session and appends `audit`. `None`, with nothing written, when the
    /// user is no longer active.
    ///
    /// # Errors
    /// `NotFound` if the user does not exist; `Conflict(SessionToken)` on a hash collision.
    async fn open_without_password(
        &self,
        session: NewSession,
        audit: AuditWith<Session>,
    ) -> Result<Option<OpenedSession>, StoreError>;

    /// Opens a session at the end of a login that answered a challenge (a second factor,
    /// or a passwordless passkey login), in one transaction: uses up the challenge, then
    /// does what [`open_at_login`](Self::open_at_login) does when `first_factor` holds the
    /// matched password hash and the login source, or what
    /// [`open_without_password`](Self::open_without_password) does when it is `None`.
    /// `None`, with nothing written, when the challenge is used up already or one of
    /// those methods would answer `None`.
    ///
    /// # Errors
    /// `NotFound` if the user does not exist; `Conflict(SessionToken)` on a hash collision.
    async fn open_with_challenge(
        &self,
        challenge: ChallengeId,
        session: NewSession,
        first_factor: Option<(PasswordHash, LoginSource)>,
        audit: AuditWith<Session>,
    ) -> Result<Option<OpenedSession>, StoreError>;

    /// Records a fresh authentication of an active session at `at` by `methods` (a
    /// step-up) and appends `audit`, in one transaction. `false`, with nothing written,
    /// when the session is no longer active.
    ///
    /// # Errors
    /// Storage failures only.
    async fn reauthenticate(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        methods: Vec<AuthMethod>,
        audit: AuditWith<()>,
    ) -> Result<bool, StoreError>;

    /// The session with this token hash if it is active and unexpired at `now`, with its
    /// user and the user's roles and permissions, in one round trip (the hot path of
    /// every authenticated request).
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_active_by_token_hash(
        &self,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, StoreError>;

    /// The user's active, unexpired sessions at `now`, newest first.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list_active_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError>;

    /// Records activity at `at` in one statement, but only if the stored time is at least
    /// `min_interval` older, so most requests write nothing. Returns whether it wrote.
    ///
    /// # Errors
    /// Storage failures only.
    async fn touch(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        min_interval: Duration,
    ) -> Result<bool, StoreError>;

    /// Revokes one active session of `user_id` at `at` and appends `audit`, in one
    /// transaction.
    ///
    /// # Errors
    /// `NotFound` if that user has no such active session (including another user's).
    async fn revoke(
        &self,
        user_id: UserId,
        id: SessionId,
        at: DateTime<Utc>,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError>;

    /// Revokes every active session of the user at `at` and appends `audit`, in one
    /// transaction. Returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        at: DateTime<Utc>,
        audit: AuditWith<u64>,
    ) -> Result<u64, StoreError>;

    /// Deletes sessions that expired before `now`. Returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
