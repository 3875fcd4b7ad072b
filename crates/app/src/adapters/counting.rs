//! Sessions opened and revoked, and lockouts, counted for `/metrics` where the store
//! reports them: decorators of the session and user repositories. A store call returns
//! its outcome once, after its commit, whichever service or handler made it, so nothing
//! is counted twice or before it happened.

use std::time::Duration;

use auth_ports::{
    ActiveSession, AuditWith, AuthMethod, ChallengeId, Email, FailedLogin, LockScope,
    LockoutPolicy, LoginAccount, LoginSource, NewSession, NewUser, OAuthAccount, OAuthLink,
    OpenedSession, PasswordChange, PasswordHash, Session, SessionId, SessionRepository, StoreError,
    TokenHash, User, UserId, UserQuery, UserRepository, UserUpdate,
};
use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// What the decorators count.
#[derive(Clone, Debug)]
pub struct AuthCounters {
    /// Sessions opened, by every kind of login.
    pub sessions_created: Counter,
    /// Sessions revoked where the store says how many: a logout, a revoked session,
    /// logout everywhere, a password change. A password reset and an account leaving
    /// `active` revoke too, but their store calls do not report how many, so they are
    /// not counted here.
    pub sessions_revoked: Counter,
    /// Locks set by a failed password, by `scope` (`source` or `account`).
    pub lockouts: Family<Lockout, Counter>,
}

/// The label of a lockout.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Lockout {
    scope: &'static str,
}

impl Lockout {
    fn of(scope: LockScope) -> Self {
        Self {
            scope: scope.as_str(),
        }
    }
}

impl Default for AuthCounters {
    fn default() -> Self {
        let lockouts = Family::default();
        // Both scopes from the start, so a rate over them is 0 rather than absent.
        for scope in [LockScope::Source, LockScope::Account] {
            drop(lockouts.get_or_create(&Lockout::of(scope)));
        }
        Self {
            sessions_created: Counter::default(),
            sessions_revoked: Counter::default(),
            lockouts,
        }
    }
}

impl AuthCounters {
    /// Counts the session `opened`, if one was.
    fn opened(&self, opened: &Result<Option<OpenedSession>, StoreError>) {
        if let Ok(Some(_)) = opened {
            self.sessions_created.inc();
        }
    }

    /// Counts `revoked` sessions.
    fn revoked(&self, revoked: u64) {
        self.sessions_revoked.inc_by(revoked);
    }
}

/// A session repository whose opened and revoked sessions are counted.
pub struct CountingSessionRepository<R> {
    inner: R,
    counters: AuthCounters,
}

impl<R> CountingSessionRepository<R> {
    /// `inner`, counted into `counters`.
    pub fn new(inner: R, counters: AuthCounters) -> Self {
        Self { inner, counters }
    }
}

#[async_trait::async_trait]
impl<R: SessionRepository> SessionRepository for CountingSessionRepository<R> {
    async fn open_at_login(
        &self,
        session: NewSession,
        verified: &PasswordHash,
        source: &LoginSource,
        audit: AuditWith<Session>,
    ) -> Result<Option<OpenedSession>, StoreError> {
        let opened = self
            .inner
            .open_at_login(session, verified, source, audit)
            .await;
        self.counters.opened(&opened);
        opened
    }

    async fn open_without_password(
        &self,
        session: NewSession,
        audit: AuditWith<Session>,
    ) -> Result<Option<OpenedSession>, StoreError> {
        let opened = self.inner.open_without_password(session, audit).await;
        self.counters.opened(&opened);
        opened
    }

    async fn open_with_challenge(
        &self,
        challenge: ChallengeId,
        session: NewSession,
        first_factor: Option<(PasswordHash, LoginSource)>,
        audit: AuditWith<Session>,
    ) -> Result<Option<OpenedSession>, StoreError> {
        let opened = self
            .inner
            .open_with_challenge(challenge, session, first_factor, audit)
            .await;
        self.counters.opened(&opened);
        opened
    }

    async fn reauthenticate(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        methods: Vec<AuthMethod>,
        audit: AuditWith<()>,
    ) -> Result<bool, StoreError> {
        self.inner.reauthenticate(id, at, methods, audit).await
    }

    async fn find_active_by_token_hash(
        &self,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, StoreError> {
        self.inner.find_active_by_token_hash(token_hash, now).await
    }

    async fn list_active_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        self.inner.list_active_for_user(user_id, now).await
    }

    async fn touch(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        min_interval: Duration,
    ) -> Result<bool, StoreError> {
        self.inner.touch(id, at, min_interval).await
    }

    async fn revoke(
        &self,
        user_id: UserId,
        id: SessionId,
        at: DateTime<Utc>,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError> {
        self.inner.revoke(user_id, id, at, audit).await?;
        self.counters.revoked(1);
        Ok(())
    }

    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        at: DateTime<Utc>,
        audit: AuditWith<u64>,
    ) -> Result<u64, StoreError> {
        let revoked = self.inner.revoke_all_for_user(user_id, at, audit).await?;
        self.counters.revoked(revoked);
        Ok(revoked)
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.delete_expired(now).await
    }
}

/// A user repository whose lockouts, and sessions revoked by a password change, are
/// counted.
pub struct CountingUserRepository<R> {
    inner: R,
    counters: AuthCounters,
}

impl<R> CountingUserRepository<R> {
    /// `inner`, counted into `counters`.
    pub fn new(inner: R, counters: AuthCounters) -> Self {
        Self { inner, counters }
    }
}

#[async_trait::async_trait]
impl<R: UserRepository> UserRepository for CountingUserRepository<R> {
    async fn create(&self, user: NewUser, audit: AuditWith<User>) -> Result<User, StoreError> {
        self.inner.create(user, audit).await
    }

    async fn create_with_oauth(
        &self,
        user: NewUser,
        link: OAuthLink,
        audit: AuditWith<(User, OAuthAccount)>,
    ) -> Result<(User, OAuthAccount), StoreError> {
        self.inner.create_with_oauth(user, link, audit).await
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.inner.find_by_id(id).await
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.inner.find_by_email(email).await
    }

    async fn find_for_login(
        &self,
        email: &Email,
        source: &str,
    ) -> Result<Option<LoginAccount>, StoreError> {
        self.inner.find_for_login(email, source).await
    }

    async fn list(&self, query: UserQuery) -> Result<Vec<User>, StoreError> {
        self.inner.list(query).await
    }

    async fn update(
        &self,
        id: UserId,
        update: UserUpdate,
        at: DateTime<Utc>,
        audit: AuditWith<(User, User)>,
    ) -> Result<User, StoreError> {
        self.inner.update(id, update, at, audit).await
    }

    async fn delete(&self, id: UserId) -> Result<(), StoreError> {
        self.inner.delete(id).await
    }

    async fn erase(
        &self,
        id: UserId,
        placeholder: Email,
        guarded: &str,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError> {
        self.inner.erase(id, placeholder, guarded, audit).await
    }

    async fn change_password(
        &self,
        id: UserId,
        change: PasswordChange,
        at: DateTime<Utc>,
        audit: AuditWith<u64>,
    ) -> Result<u64, StoreError> {
        let revoked = self.inner.change_password(id, change, at, audit).await?;
        self.counters.revoked(revoked);
        Ok(revoked)
    }

    async fn rehash_password(
        &self,
        id: UserId,
        expected: PasswordHash,
        new: PasswordHash,
    ) -> Result<bool, StoreError> {
        self.inner.rehash_password(id, expected, new).await
    }

    async fn record_failed_login(
        &self,
        id: UserId,
        source: &str,
        policy: LockoutPolicy,
        at: DateTime<Utc>,
        audit: AuditWith<FailedLogin>,
    ) -> Result<FailedLogin, StoreError> {
        let outcome = self
            .inner
            .record_failed_login(id, source, policy, at, audit)
            .await?;
        // The store sets a lock once, however many failures race for it.
        if let FailedLogin::Counted {
            locked: Some((scope, _)),
            ..
        } = outcome
        {
            self.counters
                .lockouts
                .get_or_create(&Lockout::of(scope))
                .inc();
        }
        Ok(outcome)
    }

    async fn unlock(&self, id: UserId, audit: AuditWith<()>) -> Result<(), StoreError> {
        self.inner.unlock(id, audit).await
    }

    async fn delete_stale_login_failures(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.delete_stale_login_failures(before).await
    }

    async fn mark_email_verified(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError> {
        self.inner.mark_email_verified(id, at, audit).await
    }
}

#[cfg(test)]
mod tests;
