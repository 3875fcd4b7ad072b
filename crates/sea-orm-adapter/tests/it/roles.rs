//! The role repository contract.

use crate::harness::{TestDb, now};
use auth_ports::{
    Constraint, NewRole, RoleId, RoleRepository, RoleUpdate, StoreError, UserId, UserRepository,
    UserStatus, UserUpdate,
};
use chrono::Duration;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    default_roles_are_seeded,
    create_update_delete,
    role_names_are_unique,
    assign_is_idempotent_and_unassign_reports,
    permissions_are_the_union_of_roles,
    permissions_in_bulk,
    active_holders_are_counted,
    assign_to_unknown_user_or_role_is_not_found,
);

fn new_role(name: &str, permissions: &[&str]) -> NewRole {
    NewRole {
        name: name.into(),
        description: Some(format!("{name} role")),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        created_at: now() - Duration::hours(1),
    }
}

async fn default_roles_are_seeded(db: &TestDb) {
    let roles = db.store.roles().list().await.unwrap();
    let seeded: Vec<_> = roles
        .iter()
        .map(|r| (r.name.as_str(), r.permissions.join(",")))
        .collect();
    assert_eq!(
        seeded,
        [
            ("admin", "*".to_owned()),
            (
                "moderator",
                "users:read,users:suspend,audit:read".to_owned()
            ),
            (
                "user",
                "profile:read,profile:write,sessions:read,sessions:write".to_owned()
            ),
        ]
    );
}

async fn create_update_delete(db: &TestDb) {
    let roles = db.store.roles();
    let role = roles
        .create(new_role("support", &["users:read"]))
        .await
        .unwrap();
    assert_eq!(roles.find_by_id(role.id).await.unwrap(), Some(role.clone()));
    assert_eq!(
        roles.find_by_name("support").await.unwrap(),
        Some(role.clone())
    );

    let updated = roles
        .update(
            role.id,
            RoleUpdate {
                name: Some("helpdesk".into()),
                description: Some(None),
                permissions: Some(vec!["users:read".into(), "audit:read".into()]),
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "helpdesk");
    assert_eq!(updated.description, None);
    assert_eq!(updated.permissions, ["users:read", "audit:read"]);
    assert!(
        updated.updated_at > role.updated_at,
        "the trigger maintains updated_at"
    );

    roles.delete(role.id).await.unwrap();
    assert_eq!(roles.find_by_id(role.id).await.unwrap(), None);
    assert!(matches!(
        roles.delete(role.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        roles.update(role.id, RoleUpdate::default()).await,
        Err(StoreError::NotFound)
    ));
}

async fn role_names_are_unique(db: &TestDb) {
    let roles = db.store.roles();
    let err = roles.create(new_role("admin", &[])).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::RoleName)),
        "{err:?}"
    );
    let role = roles.create(new_role("ops", &[])).await.unwrap();
    let err = roles
        .update(
            role.id,
            RoleUpdate {
                name: Some("user".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::RoleName)),
        "{err:?}"
    );
}

async fn assign_is_idempotent_and_unassign_reports(db: &TestDb) {
    let roles = db.store.roles();
    let admin = db.user("admin@example.com").await;
    let user = db.user("r1@example.com").await;
    let moderator = roles.find_by_name("moderator").await.unwrap().unwrap();
    assert!(
        roles
            .assign(user.id, moderator.id, Some(admin.id), now())
            .await
            .unwrap()
    );
    assert!(
        !roles
            .assign(user.id, moderator.id, Some(admin.id), now())
            .await
            .unwrap()
    );
    let names: Vec<_> = roles
        .roles_of_user(user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["moderator", "user"]);
    assert!(roles.unassign(user.id, moderator.id).await.unwrap());
    assert!(!roles.unassign(user.id, moderator.id).await.unwrap());
    // Deleting the assigning user keeps the assignment (assigned_by is set to NULL).
    assert!(
        roles
            .assign(user.id, moderator.id, Some(admin.id), now())
            .await
            .unwrap()
    );
    db.store.users().delete(admin.id).await.unwrap();
    assert_eq!(roles.roles_of_user(user.id).await.unwrap().len(), 2);
}

async fn permissions_are_the_union_of_roles(db: &TestDb) {
    let roles = db.store.roles();
    let user = db.user("r2@example.com").await;
    let extra = roles
        .create(new_role("reader", &["users:read", "profile:read"]))
        .await
        .unwrap();
    roles.assign(user.id, extra.id, None, now()).await.unwrap();
    assert_eq!(
        roles.permissions_of_user(user.id).await.unwrap(),
        [
            "profile:read",
            "profile:write",
            "sessions:read",
            "sessions:write",
            "users:read"
        ]
    );
}

async fn permissions_in_bulk(db: &TestDb) {
    let roles = db.store.roles();
    let plain = db.user("r3@example.com").await;
    let boss = db.user("r4@example.com").await;
    let admin = roles.find_by_name("admin").await.unwrap().unwrap();
    roles.assign(boss.id, admin.id, None, now()).await.unwrap();
    let mut roleless = crate::harness::new_user("r5@example.com");
    roleless.role = None;
    let roleless = db.store.users().create(roleless).await.unwrap();

    let all = roles
        .permissions_of_users(&[plain.id, boss.id, roleless.id])
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[&plain.id].len(), 4);
    assert!(all[&boss.id].contains(&"*".to_owned()));
    assert!(all[&roleless.id].is_empty());
    assert!(roles.permissions_of_users(&[]).await.unwrap().is_empty());
}

async fn active_holders_are_counted(db: &TestDb) {
    let roles = db.store.roles();
    let admin = roles.find_by_name("admin").await.unwrap().unwrap();
    assert_eq!(roles.count_active_holders(admin.id).await.unwrap(), 0);
    let a = db.user("r6@example.com").await;
    let b = db.user("r7@example.com").await;
    roles.assign(a.id, admin.id, None, now()).await.unwrap();
    roles.assign(b.id, admin.id, None, now()).await.unwrap();
    assert_eq!(roles.count_active_holders(admin.id).await.unwrap(), 2);
    db.store
        .users()
        .update(
            b.id,
            UserUpdate {
                status: Some(UserStatus::Suspended),
                ..Default::default()
            },
            now(),
        )
        .await
        .unwrap();
    assert_eq!(roles.count_active_holders(admin.id).await.unwrap(), 1);
}

async fn assign_to_unknown_user_or_role_is_not_found(db: &TestDb) {
    let roles = db.store.roles();
    let user = db.user("r8@example.com").await;
    let admin = roles.find_by_name("admin").await.unwrap().unwrap();
    let err = roles
        .assign(UserId::new(), admin.id, None, now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = roles
        .assign(user.id, RoleId::new(), None, now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}
