//! Accounts moved in and out of authd as a whole: `authd users export` and `import`
//! (docs/operations.md, "Migrating to authd"). Password hashes travel as they are stored,
//! foreign ones included (the hasher checks them at login and replaces them).

use crate::{Email, NewAuditEntry, PasswordHash, StoreError, UserId, UserStatus};
use chrono::{DateTime, Utc};

/// One account with everything that moves with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortableUser {
    /// Kept, so that what refers to the account elsewhere still does.
    pub id: UserId,
    /// The normalised address.
    pub email: Email,
    /// Where the account stands.
    pub status: UserStatus,
    /// Whether the address was confirmed.
    pub email_verified: bool,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Names of its roles, sorted.
    pub roles: Vec<String>,
    /// When the account was made (in the system it comes from, for an import).
    pub created_at: DateTime<Utc>,
    /// `None` for accounts without a password.
    pub password_hash: Option<PasswordHash>,
    /// Linked provider accounts, sorted by provider (no provider tokens: they are sealed
    /// with a key of the instance they came from, and a login fetches new ones).
    pub oauth_accounts: Vec<PortableOAuthAccount>,
}

/// An account to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountToImport {
    /// The account.
    pub account: PortableUser,
    /// Whether the file named the id; when it did not, the id is new and an account
    /// with the same email counts as this one imported before.
    pub id_given: bool,
}

/// A linked provider account as it moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortableOAuthAccount {
    /// Provider name, as in `OAUTH_PROVIDERS`.
    pub provider: String,
    /// The provider's subject.
    pub provider_user_id: String,
    /// The email the provider reported.
    pub provider_email: Option<String>,
}

/// What became of one account of an import batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Created, with its roles, links and audit entry.
    Created,
    /// An account with this email and id exists already (or with this email, when the
    /// file named no id): a run done before. Untouched.
    Present,
    /// The email or the id belongs to another account: nothing written.
    Clashes,
    /// One of its provider accounts is linked to another account: nothing written.
    LinkTaken,
}

/// Writes and reads accounts in bulk.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait UserTransfer: Send + Sync {
    /// Creates the accounts of `batch` that are not there yet, each with its roles (by
    /// name; all must exist) and provider accounts and its entry of `audit` (same index),
    /// all in one transaction; answers what became of each, in order. Accounts already
    /// there are left as they are, so running an import again changes nothing.
    ///
    /// # Errors
    /// `NotFound` for a role that does not exist (nothing is written); storage failures.
    async fn import(
        &self,
        batch: Vec<AccountToImport>,
        audit: Vec<NewAuditEntry>,
    ) -> Result<Vec<Imported>, StoreError>;

    /// Up to `limit` accounts in id order, after `after`.
    ///
    /// # Errors
    /// Storage failures only.
    async fn export(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<PortableUser>, StoreError>;
}
