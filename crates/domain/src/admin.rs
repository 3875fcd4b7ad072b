//! AdminService: the operator's view of accounts (SPEC.md section 4.2). Reading and
//! searching users with cursor pagination, newest first, stable while users are added.

use crate::error::Failure;
use auth_ports::{User, UserCursor, UserId, UserQuery, UserRepository, UserStatus};
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

/// Reads accounts for operators. Authorization is the caller's job (the HTTP guard).
#[derive(Clone)]
pub struct AdminService {
    users: Arc<dyn UserRepository>,
}

impl AdminService {
    /// A service over the user repository.
    #[must_use]
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self { users }
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
        let limit = limit.map_or(DEFAULT_PAGE_LIMIT, |asked| {
            u32::try_from(asked.clamp(
                i64::from(*PAGE_LIMITS.start()),
                i64::from(*PAGE_LIMITS.end()),
            ))
            .unwrap_or(DEFAULT_PAGE_LIMIT)
        });
        // One more than asked tells whether another page exists without a second query.
        let query = UserQuery {
            status: filter.status,
            email_contains: filter.email_contains,
            limit: limit + 1,
            after,
        };
        let mut users = self.users.list(query).await?;
        let more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let next = if more {
            users.last().map(|u| UserCursor {
                created_at: u.created_at,
                id: u.id,
            })
        } else {
            None
        };
        Ok(UserPage { users, next })
    }

    /// The user with this id.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    pub async fn get_user(&self, id: UserId) -> Result<User, GetUserError> {
        self.users
            .find_by_id(id)
            .await
            .map_err(Failure::from)?
            .ok_or(GetUserError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_ports::{Email, MockUserRepository};
    use chrono::{TimeZone, Utc};

    fn user(n: u32) -> User {
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

    fn service(returned: usize, expected_limit: u32) -> AdminService {
        let mut users = MockUserRepository::new();
        users
            .expect_list()
            .times(1)
            .withf(move |q| q.limit == expected_limit)
            .returning(move |_| Ok((0..returned as u32).map(user).collect()));
        AdminService::new(Arc::new(users))
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
        let err = AdminService::new(Arc::new(users))
            .get_user(UserId::new())
            .await;
        assert!(matches!(err, Err(GetUserError::NotFound)));
    }
}
