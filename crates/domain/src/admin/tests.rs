//! AdminService against mocked ports.

use super::*;
use crate::audit::Auditor;
use crate::auth::Principal;
use auth_ports::{
    AuditEntry, AuditQuery, AuditRepository, Clock, User, UserCursor, UserId, UserStatus,
};
use auth_ports::{
    Email, MockAuditRepository, MockClock, MockRoleRepository, MockUserRepository, Session,
    SessionId, TokenHash,
};
use chrono::{DateTime, TimeZone, Utc};
use std::sync::Arc;

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
                    user_id: None,
                    action: "auth.login".into(),
                    resource_type: None,
                    resource_id: None,
                    ip_address: None,
                    user_agent: None,
                    details: serde_json::json!({}),
                    success: true,
                    error_message: None,
                    created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
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
