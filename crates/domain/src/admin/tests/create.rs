//! `create_user`: an operator's account, with the rules of a registration and of an
//! assignment.

use super::*;
use crate::Registration;
use crate::permission::{ROLES_ASSIGN, USERS_WRITE};
use crate::test_support::role;
use auth_ports::{Password, StoreError, User};

fn registration(email: &str, password: &str) -> Registration {
    Registration {
        email: email.into(),
        password: Password::new(password.into()),
        first_name: Some(" Ada ".into()),
        last_name: None,
    }
}

/// Roles that know `user` (`profile:read`) and `admin` (`*`).
fn roles() -> MockRoleRepository {
    let mut roles = MockRoleRepository::new();
    roles.expect_find_by_name().returning(|name| {
        Ok(match name {
            "user" => Some(role("user", &["profile:read"])),
            "admin" => Some(role("admin", &["*"])),
            _ => None,
        })
    });
    roles
}

/// Users that store the new account, checking what it is, once.
fn creating(role: &'static str) -> MockUserRepository {
    let mut users = MockUserRepository::new();
    users
        .expect_create()
        .times(1)
        .withf(move |new, _| {
            new.email.as_str() == "ada@example.com"
                && new.email_verified
                && new.role.as_deref() == Some(role)
                && new.first_name.as_deref() == Some("Ada")
                && new.password_hash.as_ref().map(|h| h.expose())
                    == Some("$argon2id$made-by-the-mock")
        })
        .returning(|new, audit| {
            let mut created = user(1);
            created.email = new.email;
            let entries = audit(&created);
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].action, "user.register");
            assert_eq!(entries[0].details["via"], "admin");
            assert!(entries[0].user_id.is_some(), "the operator is the actor");
            Ok(created)
        });
    users
}

#[tokio::test]
async fn an_operator_makes_a_verified_account_with_the_default_role() {
    let service = admin_service(creating("user"), roles(), MockAuditRepository::new());
    let created = service
        .create_user(
            &principal(&[USERS_WRITE]),
            registration(" ADA@example.com", "a long enough passphrase"),
            None,
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(created.email.as_str(), "ada@example.com");
}

#[tokio::test]
async fn naming_a_role_needs_roles_assign_and_every_permission_of_the_role() {
    let ask = |permissions: &'static [&'static str], role: &'static str| async move {
        let service = admin_service(
            MockUserRepository::new(),
            roles(),
            MockAuditRepository::new(),
        );
        service
            .create_user(
                &principal(permissions),
                registration("ada@example.com", "a long enough passphrase"),
                Some(role.into()),
                &Default::default(),
            )
            .await
    };
    assert!(matches!(
        ask(&[USERS_WRITE], "user").await,
        Err(AccountError::MissingPermission(_))
    ));
    assert!(matches!(
        ask(&[USERS_WRITE, ROLES_ASSIGN], "admin").await,
        Err(AccountError::Forbidden)
    ));
    assert!(matches!(
        ask(&["users:read"], "user").await,
        Err(AccountError::MissingPermission(_))
    ));
    let service = admin_service(creating("admin"), roles(), MockAuditRepository::new());
    let by_an_admin = service
        .create_user(
            &principal(&["*"]),
            registration("ada@example.com", "a long enough passphrase"),
            Some("admin".into()),
            &Default::default(),
        )
        .await;
    assert!(by_an_admin.is_ok(), "{by_an_admin:?}");
}

#[tokio::test]
async fn every_broken_rule_is_named_and_nothing_is_written() {
    let service = admin_service(
        MockUserRepository::new(),
        roles(),
        MockAuditRepository::new(),
    );
    let refused = service
        .create_user(
            &principal(&["*"]),
            registration("not an email", "short"),
            Some("wizard".into()),
            &Default::default(),
        )
        .await;
    let Err(AccountError::Invalid(errors)) = refused else {
        unreachable!("{refused:?}");
    };
    let fields: Vec<_> = errors.fields().keys().copied().collect();
    assert_eq!(fields, ["email", "role"]);
    let weak = service
        .create_user(
            &principal(&["*"]),
            registration("ada@example.com", "short"),
            None,
            &Default::default(),
        )
        .await;
    assert!(
        matches!(&weak, Err(AccountError::Invalid(e)) if e.fields().contains_key("password")),
        "{weak:?}"
    );
}

#[tokio::test]
async fn a_taken_email_is_email_taken() {
    let mut users = MockUserRepository::new();
    users
        .expect_create()
        .returning(|_, _| Err::<User, _>(StoreError::Conflict(auth_ports::Constraint::UserEmail)));
    let service = admin_service(users, roles(), MockAuditRepository::new());
    let taken = service
        .create_user(
            &principal(&[USERS_WRITE]),
            registration("ada@example.com", "a long enough passphrase"),
            None,
            &Default::default(),
        )
        .await;
    assert!(matches!(taken, Err(AccountError::EmailTaken)), "{taken:?}");
}
