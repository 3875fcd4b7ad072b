//! User accounts: the model, what creating and changing one takes, and the repository
//! port that stores them together with their login state.

use crate::{
    AuditWith, Email, MailMessage, OAuthAccount, OAuthLink, RoleId, SessionId, StoreError,
    TokenHash, UserId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr, time::Duration};

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// May log in.
    Active,
    /// Switched off by an operator; may be switched on again.
    Inactive,
    /// Blocked by an operator.
    Suspended,
    /// Soft-deleted: kept for the audit trail, never logs in again.
    Deleted,
}

impl UserStatus {
    /// The stored and serialised name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the four statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown user status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for UserStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            "suspended" => Ok(Self::Suspended),
            "deleted" => Ok(Self::Deleted),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// A password hash as a PHC string. Its `Debug` is redacted so it cannot reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by a password hasher.
    #[must_use]
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for the hasher and the store only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A stored user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The id.
    pub id: UserId,
    /// The normalised, unique address.
    pub email: Email,
    /// `None` for accounts that only log in through OAuth.
    pub password_hash: Option<PasswordHash>,
    /// Where the account stands.
    pub status: UserStatus,
    /// Whether the address was confirmed.
    pub email_verified: bool,
    /// When it was confirmed.
    pub email_verified_at: Option<DateTime<Utc>>,
    /// Consecutive failed logins since the last success or lock expiry.
    pub failed_login_attempts: u32,
    /// When the last failed login happened.
    pub last_failed_login_at: Option<DateTime<Utc>>,
    /// Logins are refused until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Providers linked in `oauth_accounts`, kept in step with it.
    pub oauth_providers: Vec<String>,
    /// When the last successful login happened.
    pub last_login_at: Option<DateTime<Utc>>,
    /// When the account was made.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (set by the database).
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// Whether logins are refused at `now` because of failed attempts.
    #[must_use]
    pub fn is_locked_at(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

/// What creating a user takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The address; taken addresses are a `Conflict(UserEmail)`.
    pub email: Email,
    /// `None` for OAuth-only accounts.
    pub password_hash: Option<PasswordHash>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Whether the address counts as confirmed already.
    pub email_verified: bool,
    /// Name of a role to assign in the same transaction (e.g. `user`).
    pub role: Option<String>,
    /// An email-verification token and its mail, stored in the same transaction.
    pub verification: Option<NewVerification>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A new account's email-verification token and the mail that carries its secret,
/// stored with the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVerification {
    /// SHA-256 of the secret in the mail.
    pub token_hash: TokenHash,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The mail with the link, for the outbox.
    pub mail: MailMessage,
}

/// A partial update of a user's profile or status; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// New given name (`Some(None)` clears it).
    pub first_name: Option<Option<String>>,
    /// New family name (`Some(None)` clears it).
    pub last_name: Option<Option<String>>,
    /// New status. Leaving `active` revokes every session of the user in the same
    /// transaction.
    pub status: Option<UserStatus>,
    /// Refuse to take the user out of `active` when they are the last active holder of
    /// this role (the last admin), checked and done atomically.
    pub keep_an_active_holder_of: Option<RoleId>,
}

/// Which sessions a password change ends, in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeSessions {
    /// All but the caller's own.
    AllExcept(SessionId),
    /// Every one (e.g. a password reset).
    All,
}

/// A new password hash and what else changes with it, atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordChange {
    /// The new hash.
    pub hash: PasswordHash,
    /// Sessions to end.
    pub revoke: RevokeSessions,
    /// Whether to clear failed attempts and every lock, the account's and each
    /// source's (a reset proves ownership).
    pub clear_lockout: bool,
    /// A mail telling the owner, put in the outbox in the same transaction.
    pub notice: Option<MailMessage>,
}

/// When failed logins lock an account: per source (the client's address key), and for
/// every source once failures from all of them reach a global cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures from one source that lock that source out of the account.
    pub threshold: u32,
    /// Failures from all sources together that lock the account for everyone.
    pub global_threshold: u32,
    /// How long a lock lasts.
    pub duration: Duration,
}

/// Where a login attempt comes from, as the lockout counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSource {
    /// The client's address key: an IPv4 address, an IPv6 /64, or `unknown`.
    pub key: String,
    /// Failures from this source on record when the account was looked up; a successful
    /// login clears them (nothing to clear, nothing written).
    pub failures: u32,
}

/// An account as a login from one source finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAccount {
    /// The user.
    pub user: User,
    /// Consecutive failures from the source on record.
    pub source_failures: u32,
    /// The source is locked out of the account until then.
    pub source_locked_until: Option<DateTime<Utc>>,
    /// Whether the user had a confirmed TOTP authenticator or a passkey when looked up:
    /// only then does a login read the factors (most accounts have none, and the check
    /// rides on this lookup instead of costing a query of its own).
    pub has_second_factor: bool,
}

impl LoginAccount {
    /// The lock in force at `now` for this source, its own or the account's, whichever
    /// ends later.
    #[must_use]
    pub fn locked_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.user
            .locked_until
            .max(self.source_locked_until)
            .filter(|until| *until > now)
    }
}

/// Which lock a failure set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// Only the source the failures came from.
    Source,
    /// The account, for every source (the global cap).
    Account,
}

impl LockScope {
    /// The name in audit details.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Account => "account",
        }
    }
}

/// The outcome of recording one failed login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedLogin {
    /// The failure was counted; `locked` is set when this one reached a threshold.
    Counted {
        /// Consecutive failures from this source now on record.
        attempts: u32,
        /// Failures from every source now on record for the account.
        account_attempts: u32,
        /// The lock this failure set, if any (the account's when both were reached).
        locked: Option<(LockScope, DateTime<Utc>)>,
    },
    /// The account or the source was locked already: nothing was counted or extended.
    AlreadyLocked {
        /// When the existing lock ends.
        until: DateTime<Utc>,
    },
}

/// Where a page of users starts: after the user with this creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCursor {
    /// Creation time of the last user on the previous page.
    pub created_at: DateTime<Utc>,
    /// Id of that user.
    pub id: UserId,
}

/// Filters and page of a user listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    /// Only users in this status.
    pub status: Option<UserStatus>,
    /// Only users whose email contains this (case-insensitive).
    pub email_contains: Option<String>,
    /// Most users to return.
    pub limit: u32,
    /// Continue after this user.
    pub after: Option<UserCursor>,
}

/// Stores users and their login state. Every method is atomic.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait UserRepository: Send + Sync {
    /// Creates a user, assigning `user.role` and appending `audit` in the same transaction.
    ///
    /// # Errors
    /// `Conflict(UserEmail)` if the email is taken; `NotFound` if the role does not exist.
    async fn create(&self, user: NewUser, audit: AuditWith<User>) -> Result<User, StoreError>;

    /// Creates a user without a password together with its first OAuth account, assigning
    /// `user.role` and appending `audit`, in one transaction.
    ///
    /// # Errors
    /// `Conflict(UserEmail)` or `Conflict(OAuthSubject)`; `NotFound` for a missing role.
    async fn create_with_oauth(
        &self,
        user: NewUser,
        link: OAuthLink,
        audit: AuditWith<(User, OAuthAccount)>,
    ) -> Result<(User, OAuthAccount), StoreError>;

    /// The user with this id.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user with this (normalised) email.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;

    /// The user with this email together with the lockout state of `source` (an
    /// address key) on it, in one read: what a login checks before the password.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_for_login(
        &self,
        email: &Email,
        source: &str,
    ) -> Result<Option<LoginAccount>, StoreError>;

    /// A page of users, newest first, stable while users are added.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list(&self, query: UserQuery) -> Result<Vec<User>, StoreError>;

    /// Changes names and/or status and appends `audit`, made from the user before and
    /// after the change; leaving `active` revokes all the
    /// user's sessions and uses up their one-time tokens at `at`, in the same
    /// transaction, which holds the user's row locked.
    ///
    /// # Errors
    /// `NotFound` if there is no such user; `Conflict(DeletedUser)` if the user is
    /// deleted; `Conflict(LastActiveHolder)` when `keep_an_active_holder_of` refuses the
    /// change.
    async fn update(
        &self,
        id: UserId,
        update: UserUpdate,
        at: DateTime<Utc>,
        audit: AuditWith<(User, User)>,
    ) -> Result<User, StoreError>;

    /// Erases the account at its owner's request, appending `audit`, in one transaction
    /// that holds the user's row locked: the email becomes `placeholder`, names, password
    /// hash, verification and lockout state are cleared and the status becomes
    /// `deleted`; its sessions, roles, provider links, second factors, one-time tokens,
    /// login failures, challenges and undelivered mail are deleted. The row and the audit
    /// trail stay.
    ///
    /// # Errors
    /// `NotFound`; `Conflict(DeletedUser)` if it is deleted already;
    /// `Conflict(LastActiveHolder)` when an active user is the last active holder of the
    /// role named `guarded`.
    async fn erase(
        &self,
        id: UserId,
        placeholder: Email,
        guarded: &str,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError>;

    /// Deletes the user and, by cascade, its sessions, roles, OAuth accounts and tokens.
    ///
    /// # Errors
    /// `NotFound` if there is no such user.
    async fn delete(&self, id: UserId) -> Result<(), StoreError>;

    /// Replaces the password hash, revoking sessions at `at` as the change says, using up
    /// live reset links and appending `audit`, in one transaction. Returns how many
    /// sessions were revoked.
    ///
    /// # Errors
    /// `NotFound` if there is no such user.
    async fn change_password(
        &self,
        id: UserId,
        change: PasswordChange,
        at: DateTime<Utc>,
        audit: AuditWith<u64>,
    ) -> Result<u64, StoreError>;

    /// Replaces the hash with `new` only if it is still `expected` (a rehash at login must
    /// not undo a password change that landed in between). Returns whether it did.
    ///
    /// # Errors
    /// Storage failures only.
    async fn rehash_password(
        &self,
        id: UserId,
        expected: PasswordHash,
        new: PasswordHash,
    ) -> Result<bool, StoreError>;

    /// Counts a failed login from `source` at `at`, atomically: unless the account or
    /// the source is locked, the source's count and the account's count go up (each
    /// starting again at 1 after its lock expired); the source reaching
    /// `policy.threshold` locks the source out, the account reaching
    /// `policy.global_threshold` locks it for every source. Concurrent calls never lose
    /// a count and set a lock once. `audit` is appended in the same transaction.
    ///
    /// # Errors
    /// `NotFound` if there is no such user.
    async fn record_failed_login(
        &self,
        id: UserId,
        source: &str,
        policy: LockoutPolicy,
        at: DateTime<Utc>,
        audit: AuditWith<FailedLogin>,
    ) -> Result<FailedLogin, StoreError>;

    /// Lifts every lock (the account's and each source's), clears the failure counts and
    /// appends `audit`, in one transaction.
    ///
    /// # Errors
    /// `NotFound` if there is no such user.
    async fn unlock(&self, id: UserId, audit: AuditWith<()>) -> Result<(), StoreError>;

    /// Deletes the per-source failure records that last failed before `before` and hold
    /// no lock in force then: they no longer lock anything. Returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete_stale_login_failures(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Marks the email verified at `at` (idempotent: the first time is kept) and appends
    /// `audit`, in one transaction.
    ///
    /// # Errors
    /// `NotFound` if there is no such user (nothing is appended).
    async fn mark_email_verified(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_debug_hides_the_hash() {
        let hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        assert_eq!(format!("{hash:?}"), "PasswordHash(<redacted>)");
    }

    #[test]
    fn status_names_round_trip() {
        for status in [
            UserStatus::Active,
            UserStatus::Inactive,
            UserStatus::Suspended,
            UserStatus::Deleted,
        ] {
            assert_eq!(status.as_str().parse::<UserStatus>(), Ok(status));
        }
        assert!("banned".parse::<UserStatus>().is_err());
    }
}
