//! AdminService: the operator's side of accounts (SPEC.md section 4.2). Reading and
//! searching users with cursor pagination, newest first, stable while users are added;
//! reading the audit trail; changing accounts (in [`changes`]).

mod changes;

pub use changes::{AccountChanges, AccountError, USERS_SUSPEND, USERS_WRITE};

use crate::audit::Auditor;
use crate::error::Failure;
use auth_ports::{
    AuditCursor, AuditEntry, AuditQuery, AuditRepository, Clock, RoleRepository, User, UserCursor,
    UserId, UserQuery, UserRepository, UserStatus,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;

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

/// Keeps `limit` of `rows` (fetched with one extra) and says whether more exist.
fn split_page<T>(mut rows: Vec<T>, limit: u32) -> (Vec<T>, bool) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    (rows, more)
}

/// The ports AdminService works through.
#[derive(Clone)]
pub struct AdminPorts {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Roles, to find the protected `admin` role.
    pub roles: Arc<dyn RoleRepository>,
    /// The audit trail, to read.
    pub audit_log: Arc<dyn AuditRepository>,
    /// The audit trail, to write.
    pub audit: Auditor,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

/// Reads and changes accounts and reads the audit trail for operators. Route permissions
/// are the caller's job (the HTTP guard); those that depend on the change asked for are
/// checked here.
#[derive(Clone)]
pub struct AdminService {
    ports: AdminPorts,
}

impl AdminService {
    /// A service over `ports`.
    #[must_use]
    pub fn new(ports: AdminPorts) -> Self {
        Self { ports }
    }

    /// One page of audit entries matching `query` (its `limit` is ignored; `limit` is
    /// clamped like a user page), newest first.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn audit_entries(
        &self,
        query: AuditQuery,
        limit: Option<i64>,
    ) -> Result<AuditPage, Failure> {
        let limit = page_limit(limit);
        let rows = self
            .ports
            .audit_log
            .query(AuditQuery {
                limit: limit + 1,
                ..query
            })
            .await?;
        let (entries, more) = split_page(rows, limit);
        let next = more
            .then(|| {
                entries.last().map(|e| AuditCursor {
                    created_at: e.entry.created_at,
                    id: e.id,
                })
            })
            .flatten();
        Ok(AuditPage { entries, next })
    }

    /// How many audit entries each action has in `[from, to)`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn audit_counts(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<BTreeMap<String, u64>, Failure> {
        Ok(self.ports.audit_log.count_by_action(from, to).await?)
    }

    /// One page of users matching `filter`, after `after`, of `limit` users (clamped to
    /// [`PAGE_LIMITS`], [`DEFAULT_PAGE_LIMIT`] when `None`).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list_users(
        &self,
        filter: UserFilter,
        limit: Option<i64>,
        after: Option<UserCursor>,
    ) -> Result<UserPage, Failure> {
        let limit = page_limit(limit);
        // One more than asked tells whether another page exists without a second query.
        let query = UserQuery {
            status: filter.status,
            email_contains: filter.email_contains,
            limit: limit + 1,
            after,
        };
        let (users, more) = split_page(self.ports.users.list(query).await?, limit);
        let next = more
            .then(|| {
                users.last().map(|u| UserCursor {
                    created_at: u.created_at,
                    id: u.id,
                })
            })
            .flatten();
        Ok(UserPage { users, next })
    }

    /// The user with this id.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    pub async fn get_user(&self, id: UserId) -> Result<User, GetUserError> {
        self.ports
            .users
            .find_by_id(id)
            .await
            .map_err(Failure::from)?
            .ok_or(GetUserError::NotFound)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::auth::Principal;
    use auth_ports::{
        Email, MockAuditRepository, MockClock, MockRoleRepository, MockUserRepository, Session,
        SessionId, TokenHash,
    };
    use chrono::{TimeZone, Utc};

    /// A caller, user 0, holding `permissions`.
    pub(crate) fn principal(permissions: &[&str]) -> Principal {
        let user = user(0);
        Principal {
            session: Session {
                id: SessionId::new(),
                user_id: user.id,
                token_hash: TokenHash([0; 32]),
                expires_at: DateTime::default(),
                ip_address: None,
                user_agent: None,
                is_active: true,
                last_accessed_at: DateTime::default(),
                created_at: DateTime::default(),
                revoked_at: None,
            },
            user,
            roles: vec![],
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    pub(super) fn user(n: u32) -> User {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::seconds(i64::from(n));
        User {
            id: UserId::new(),
            email: Email::parse(&format!("u{n}@example.com")).unwrap(),
            password_hash: None,
            status: UserStatus::Active,
            email_verified: false,
            email_verified_at: None,
            failed_login_attempts: 0,
            last_failed_login_at: None,
            locked_until: None,
            first_name: None,
            last_name: None,
            oauth_providers: vec![],
            last_login_at: None,
            created_at: at,
            updated_at: at,
        }
    }

    /// A service over these mocks and a clock standing at the epoch.
    pub(super) fn service_over(
        users: MockUserRepository,
        roles: MockRoleRepository,
        audit: MockAuditRepository,
    ) -> AdminService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(chrono::DateTime::default);
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let audit: Arc<dyn AuditRepository> = Arc::new(audit);
        AdminService::new(AdminPorts {
            users: Arc::new(users),
            roles: Arc::new(roles),
            audit_log: audit.clone(),
            audit: Auditor::new(audit, clock.clone()),
            clock,
        })
    }

    fn service(returned: usize, expected_limit: u32) -> AdminService {
        let mut users = MockUserRepository::new();
        users
            .expect_list()
            .times(1)
            .withf(move |q| q.limit == expected_limit)
            .returning(move |_| Ok((0..returned as u32).map(user).collect()));
        service_over(users, MockRoleRepository::new(), MockAuditRepository::new())
    }

    #[tokio::test]
    async fn a_full_page_with_more_behind_it_has_a_cursor_at_its_last_user() {
        let page = service(4, 4)
            .list_users(UserFilter::default(), Some(3), None)
            .await
            .unwrap();
        assert_eq!(page.users.len(), 3);
        let last = &page.users[2];
        assert_eq!(
            page.next,
            Some(UserCursor {
                created_at: last.created_at,
                id: last.id
            })
        );
    }

    #[tokio::test]
    async fn the_last_page_has_no_cursor_even_when_full() {
        let page = service(3, 4)
            .list_users(UserFilter::default(), Some(3), None)
            .await
            .unwrap();
        assert_eq!(page.users.len(), 3);
        assert_eq!(page.next, None);
    }

    #[tokio::test]
    async fn limits_are_clamped_and_defaulted() {
        for (asked, fetched) in [
            (None, 51),
            (Some(0), 2),
            (Some(-5), 2),
            (Some(1_000), 201),
            (Some(200), 201),
        ] {
            service(0, fetched)
                .list_users(UserFilter::default(), asked, None)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn an_unknown_user_is_not_found() {
        let mut users = MockUserRepository::new();
        users.expect_find_by_id().returning(|_| Ok(None));
        let err = service_over(users, MockRoleRepository::new(), MockAuditRepository::new())
            .get_user(UserId::new())
            .await;
        assert!(matches!(err, Err(GetUserError::NotFound)));
    }

    #[tokio::test]
    async fn audit_pages_fetch_one_extra_and_point_at_their_last_entry() {
        let mut audit = MockAuditRepository::new();
        audit
            .expect_query()
            .times(1)
            .withf(|q| q.limit == 3 && q.action.as_deref() == Some("auth.login"))
            .returning(|q| {
                Ok((0..q.limit)
                    .map(|i| AuditEntry {
                        id: auth_ports::AuditEntryId(100 - i64::from(i)),
                        entry: auth_ports::NewAuditEntry::new(
                            None,
                            "auth.login",
                            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
                        ),
                    })
                    .collect())
            });
        let service = service_over(MockUserRepository::new(), MockRoleRepository::new(), audit);
        let query = AuditQuery {
            action: Some("auth.login".into()),
            ..AuditQuery::default()
        };
        let page = service.audit_entries(query, Some(2)).await.unwrap();
        assert_eq!(page.entries.len(), 2);
        assert_eq!(page.next.map(|c| c.id), Some(auth_ports::AuditEntryId(99)));
    }
}
