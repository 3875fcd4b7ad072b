//! The audit trail: entries, the filters it is read by, and the repository port.

use crate::{AuditEntryId, StoreError, UserId};
use chrono::{DateTime, Utc};
use std::{collections::BTreeMap, net::IpAddr};

/// A stored audit entry: what was appended, and the id the store gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// The id, growing with insertion order.
    pub id: AuditEntryId,
    /// The entry as appended.
    pub entry: NewAuditEntry,
}

/// What appending an entry takes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// The actor; `None` when anonymous or deleted since.
    pub user_id: Option<UserId>,
    /// Event name, e.g. `auth.login`.
    pub action: String,
    /// Kind of the subject, e.g. `user`.
    pub resource_type: Option<String>,
    /// Id of the subject.
    pub resource_id: Option<String>,
    /// Client address.
    pub ip_address: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Event-specific facts (a JSON object; never a secret).
    pub details: serde_json::Value,
    /// Whether the action succeeded.
    pub success: bool,
    /// Why it failed.
    pub error_message: Option<String>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

impl NewAuditEntry {
    /// A successful `action` of `user_id` at `at`, with no subject, client or details.
    #[must_use]
    pub fn new(user_id: Option<UserId>, action: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            user_id,
            action: action.into(),
            resource_type: None,
            resource_id: None,
            ip_address: None,
            user_agent: None,
            details: serde_json::json!({}),
            success: true,
            error_message: None,
            created_at: at,
        }
    }
}

/// The audit entries a write appends in its own transaction, made from the write's
/// outcome (e.g. the id of the session it created): an action and its trail are stored
/// together or not at all. An empty list when the outcome calls for no entry.
pub type AuditWith<T> = Box<dyn FnOnce(&T) -> Vec<NewAuditEntry> + Send>;

/// Where a page of entries starts: after (older than) this entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    /// Time of the last entry of the previous page.
    pub created_at: DateTime<Utc>,
    /// Its id.
    pub id: AuditEntryId,
}

/// Filters of an audit query; every one that is set must match. Results are newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Actor.
    pub user_id: Option<UserId>,
    /// Event name.
    pub action: Option<String>,
    /// Kind of the subject.
    pub resource_type: Option<String>,
    /// Id of the subject.
    pub resource_id: Option<String>,
    /// Client address.
    pub ip_address: Option<IpAddr>,
    /// Only successes (`true`) or only failures (`false`).
    pub success: Option<bool>,
    /// At or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Before this time.
    pub to: Option<DateTime<Utc>>,
    /// Most entries to return.
    pub limit: u32,
    /// Continue after this entry.
    pub after: Option<AuditCursor>,
}

/// Appends to and reads the audit trail.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait AuditRepository: Send + Sync {
    /// Appends one entry.
    ///
    /// # Errors
    /// `NotFound` if `user_id` names no user (the actor exists when the event happens).
    async fn append(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError>;

    /// Entries matching the query, newest first.
    ///
    /// # Errors
    /// Storage failures only.
    async fn query(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;

    /// Number of entries per action in `[from, to)`.
    ///
    /// # Errors
    /// Storage failures only.
    async fn count_by_action(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<BTreeMap<String, u64>, StoreError>;

    /// Deletes entries created before `cutoff`. Returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete_older_than(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;
}
