//! AdminService against mocked ports.

use super::*;
use crate::permission::{AUDIT_READ, MissingPermission, USERS_READ};
use crate::test_support::{admin_service, new_year, principal, stored, user};
use crate::{Principal, ReadError};
use auth_ports::{
    AuditQuery, MockAuditRepository, MockRoleRepository, MockUserRepository, NewAuditEntry,
    UserCursor, UserId,
};

/// A caller who may read users.
fn reader() -> Principal {
    principal(&[USERS_READ])
}

fn service(returned: usize, expected_limit: u32) -> AdminService {
    let mut users = MockUserRepository::new();
    users
        .expect_list()
        .times(1)
        .withf(move |q| q.limit == expected_limit)
        .returning(move |_| Ok((0..returned as u32).map(user).collect()));
    admin_service(users, MockRoleRepository::new(), MockAuditRepository::new())
}

#[tokio::test]
async fn a_full_page_with_more_behind_it_has_a_cursor_at_its_last_user() {
    let page = service(4, 4)
        .list_users(&reader(), UserFilter::default(), Some(3), None)
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
        .list_users(&reader(), UserFilter::default(), Some(3), None)
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
            .list_users(&reader(), UserFilter::default(), asked, None)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn an_unknown_user_is_not_found() {
    let mut users = MockUserRepository::new();
    users.expect_find_by_id().returning(|_| Ok(None));
    let err = admin_service(users, MockRoleRepository::new(), MockAuditRepository::new())
        .get_user(&reader(), UserId::new())
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
                .map(|i| {
                    let entry = NewAuditEntry::new(None, "auth.login", new_year());
                    stored(100 - i64::from(i), entry)
                })
                .collect())
        });
    let service = admin_service(MockUserRepository::new(), MockRoleRepository::new(), audit);
    let query = AuditQuery {
        action: Some("auth.login".into()),
        ..AuditQuery::default()
    };
    let page = service
        .audit_entries(&principal(&[AUDIT_READ]), query, Some(2))
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 2);
    assert_eq!(page.next.map(|c| c.id), Some(auth_ports::AuditEntryId(99)));
}

/// Mocks on which any call fails the test: a refused read reaches no repository.
fn untouched() -> AdminService {
    let mut users = MockUserRepository::new();
    users.expect_list().never();
    users.expect_find_by_id().never();
    let mut audit = MockAuditRepository::new();
    audit.expect_query().never();
    audit.expect_count_by_action().never();
    admin_service(users, MockRoleRepository::new(), audit)
}

#[tokio::test]
async fn users_are_read_only_with_users_read() {
    let service = untouched();
    let caller = principal(&["audit:read", "users:write", "users:delete"]);
    let err = service
        .list_users(&caller, UserFilter::default(), None, None)
        .await;
    assert!(
        matches!(
            err,
            Err(ReadError::MissingPermission(MissingPermission(USERS_READ)))
        ),
        "{err:?}"
    );
    let err = service.get_user(&caller, UserId::new()).await;
    assert!(
        matches!(
            err,
            Err(GetUserError::MissingPermission(MissingPermission(
                USERS_READ
            )))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_audit_trail_is_read_only_with_audit_read() {
    let service = untouched();
    let caller = principal(&["users:*", "audit:write"]);
    let err = service
        .audit_entries(&caller, AuditQuery::default(), None)
        .await;
    assert!(
        matches!(
            err,
            Err(ReadError::MissingPermission(MissingPermission(AUDIT_READ)))
        ),
        "{err:?}"
    );
    let err = service.audit_counts(&caller, None, None).await;
    assert!(
        matches!(
            err,
            Err(ReadError::MissingPermission(MissingPermission(AUDIT_READ)))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wildcard_grants_reading() {
    let mut audit = MockAuditRepository::new();
    audit
        .expect_count_by_action()
        .times(1)
        .returning(|_, _| Ok(std::collections::BTreeMap::new()));
    let service = admin_service(MockUserRepository::new(), MockRoleRepository::new(), audit);
    let counts = service
        .audit_counts(&principal(&["audit:*"]), None, None)
        .await;
    assert!(counts.is_ok(), "{counts:?}");
}

mod create;
mod mfa;
