//! Reading accounts and the audit trail: cursor pagination, newest first, stable while
//! users are added.

use super::service::AdminService;
use crate::error::{Failure, ReadError};
use crate::permission::{AUDIT_READ, MissingPermission, USERS_READ};
use crate::principal::Principal;
use auth_ports::{
    AuditCursor, AuditEntry, AuditQuery, User, UserCursor, UserId, UserQuery, UserStatus,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Fewest and most users a page may hold; what is asked for is clamped into this range.
pub const PAGE_LIMITS: std::ops::RangeInclusive<u32> = 1..=200;

/// Page size when none is asked for.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;

/// One page of a user listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    /// The users, newest first.
    pub users: Vec<User>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<UserCursor>,
}

/// What a listing is filtered by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Only this status.
    pub status: Option<UserStatus>,
    /// Only emails containing this (case-insensitive).
    pub email_contains: Option<String>,
}

/// Why a user could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GetUserError {
    /// The caller lacks `users:read`.
    #[error(transparent)]
    MissingPermission(#[from] MissingPermission),
    /// No such user.
    #[error("no such user")]
    NotFound,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// One page of audit entries.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    /// The entries, newest first.
    pub entries: Vec<AuditEntry>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<AuditCursor>,
}

/// The page size to use for what was asked: clamped to [`PAGE_LIMITS`], the default when
/// nothing was asked.
fn page_limit(asked: Option<i64>) -> u32 {
    asked.map_or(DEFAULT_PAGE_LIMIT, |asked| {
        let (low, high) = (
            i64::from(*PAGE_LIMITS.start()),
            i64::from(*PAGE_LIMITS.end()),
        );
        u32::try_from(asked.clamp(low, high)).unwrap_or(DEFAULT_PAGE_LIMIT)
    })
}

/// Keeps `limit` of `rows` (fetched with one extra) and, when more exist, the cursor
/// `at` gives for the last one kept.
fn split_page<T, C>(mut rows: Vec<T>, limit: u32, at: impl Fn(&T) -> C) -> (Vec<T>, Option<C>) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = rows.last().filter(|_| more).map(at);
    (rows, next)
}

impl AdminService {
    /// One page of audit entries matching `query` (its `limit` is ignored; `limit` is
    /// clamped like a user page), newest first. Needs `audit:read`.
    ///
    /// # Errors
    /// `MissingPermission`; storage failures.
    pub async fn audit_entries(
        &self,
        caller: &Principal,
        query: AuditQuery,
        limit: Option<i64>,
    ) -> Result<AuditPage, ReadError> {
        caller.require(AUDIT_READ)?;
        let limit = page_limit(limit);
        let query = AuditQuery {
            limit: limit + 1,
            ..query
        };
        let rows = self.ports.audit_log.query(query).await?;
        let (entries, next) = split_page(rows, limit, |e| AuditCursor {
            created_at: e.entry.created_at,
            id: e.id,
        });
        Ok(AuditPage { entries, next })
    }

    /// How many audit entries each action has in `[from, to)`. Needs `audit:read`.
    ///
    /// # Errors
    /// `MissingPermission`; storage failures.
    pub async fn audit_counts(
        &self,
        caller: &Principal,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<BTreeMap<String, u64>, ReadError> {
        caller.require(AUDIT_READ)?;
        Ok(self.ports.audit_log.count_by_action(from, to).await?)
    }

    /// One page of users matching `filter`, after `after`, of `limit` users (clamped to
    /// [`PAGE_LIMITS`], [`DEFAULT_PAGE_LIMIT`] when `None`). Needs `users:read`.
    ///
    /// # Errors
    /// `MissingPermission`; storage failures.
    pub async fn list_users(
        &self,
        caller: &Principal,
        filter: UserFilter,
        limit: Option<i64>,
        after: Option<UserCursor>,
    ) -> Result<UserPage, ReadError> {
        caller.require(USERS_READ)?;
        let limit = page_limit(limit);
        // One more than asked tells whether another page exists without a second query.
        let query = UserQuery {
            status: filter.status,
            email_contains: filter.email_contains,
            limit: limit + 1,
            after,
        };
        let rows = self.ports.users.list(query).await?;
        let (users, next) = split_page(rows, limit, |u| UserCursor {
            created_at: u.created_at,
            id: u.id,
        });
        Ok(UserPage { users, next })
    }

    /// The user with this id. Needs `users:read`.
    ///
    /// # Errors
    /// `MissingPermission`; `NotFound` when there is none.
    pub async fn get_user(&self, caller: &Principal, id: UserId) -> Result<User, GetUserError> {
        caller.require(USERS_READ)?;
        self.ports
            .users
            .find_by_id(id)
            .await
            .map_err(Failure::from)?
            .ok_or(GetUserError::NotFound)
    }
}
