//! The role repository contract.

use crate::harness::{TestDb, now};
use auth_ports::{
    Constraint, NewRole, RoleId, RoleRepository, RoleUpdate, StoreError, UserId, UserRepository,
};
use auth_testing::unaudited;
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
    the_last_active_holder_keeps_a_guarded_role,
    concurrent_guarded_removals_leave_one_holder,
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
        .create(new_role("support", &["users:read"]), unaudited())
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
            unaudited(),
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

    roles.delete(role.id, unaudited()).await.unwrap();
    assert_eq!(roles.find_by_id(role.id).await.unwrap(), None);
    assert!(matches!(
        roles.delete(role.id, unaudited()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        roles
            .update(role.id, RoleUpdate::default(), unaudited())
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn role_names_are_unique(db: &TestDb) {
    let roles = db.store.roles();
    let err = roles
        .create(new_role("admin", &[]), unaudited())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::RoleName)),
        "{err:?}"
    );
    let role = roles
        .create(new_role("ops", &[]), unaudited())
        .await
        .unwrap();
    let err = roles
        .update(
            role.id,
            RoleUpdate {
                name: Some("user".into()),
                ..Default::default()
            },
            unaudited(),
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
            .assign(user.id, moderator.id, Some(admin.id), now(), unaudited())
            .await
            .unwrap()
    );
    assert!(
        !roles
            .assign(user.id, moderator.id, Some(admin.id), now(), unaudited())
            .await
            .unwrap()
    );
    assert_eq!(db.role_names(user.id).await, ["moderator", "user"]);
    assert!(
        roles
            .unassign(user.id, moderator.id, false, unaudited())
            .await
            .unwrap()
    );
    assert!(
        !roles
            .unassign(user.id, moderator.id, false, unaudited())
            .await
            .unwrap()
    );
    // Deleting the assigning user keeps the assignment (assigned_by is set to NULL).
    assert!(
        roles
            .assign(user.id, moderator.id, Some(admin.id), now(), unaudited())
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
        .create(
            new_role("reader", &["users:read", "profile:read"]),
            unaudited(),
        )
        .await
        .unwrap();
    db.assign(user.id, extra.id).await;
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
    db.assign(boss.id, admin.id).await;
    let mut roleless = crate::harness::new_user("r5@example.com");
    roleless.role = None;
    let roleless = db
        .store
        .users()
        .create(roleless, unaudited())
        .await
        .unwrap();

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
    db.assign(a.id, admin.id).await;
    db.assign(b.id, admin.id).await;
    assert_eq!(roles.count_active_holders(admin.id).await.unwrap(), 2);
    db.suspend(b.id, now()).await;
    assert_eq!(roles.count_active_holders(admin.id).await.unwrap(), 1);
}

async fn assign_to_unknown_user_or_role_is_not_found(db: &TestDb) {
    let roles = db.store.roles();
    let user = db.user("r8@example.com").await;
    let admin = roles.find_by_name("admin").await.unwrap().unwrap();
    let err = roles
        .assign(UserId::new(), admin.id, None, now(), unaudited())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = roles
        .assign(user.id, RoleId::new(), None, now(), unaudited())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn the_last_active_holder_keeps_a_guarded_role(db: &TestDb) {
    let roles = db.store.roles();
    let admin = roles.find_by_name("admin").await.unwrap().unwrap();
    let a = db.user("g1@example.com").await;
    let b = db.user("g2@example.com").await;
    db.assign(a.id, admin.id).await;
    db.assign(b.id, admin.id).await;
    // A suspended holder does not count: b is suspended, so a is the last active one.
    db.suspend(b.id, now()).await;
    let err = roles
        .unassign(a.id, admin.id, true, unaudited())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::LastActiveHolder)),
        "{err:?}"
    );
    assert_eq!(
        roles.count_active_holders(admin.id).await.unwrap(),
        1,
        "nothing changed"
    );
    // Removing the inactive holder is fine, and unguarded removals are not checked.
    assert!(
        roles
            .unassign(b.id, admin.id, true, unaudited())
            .await
            .unwrap()
    );
    assert!(
        roles
            .unassign(a.id, admin.id, false, unaudited())
            .await
            .unwrap()
    );
}

async fn concurrent_guarded_removals_leave_one_holder(db: &TestDb) {
    let roles = db.store.roles();
    let admin = roles.find_by_name("admin").await.unwrap().unwrap();
    for round in 0..5 {
        let holders = db.holders(&format!("c{round}"), 6, admin.id).await;
        // Open pooled connections first, so the removals below truly overlap.
        futures::future::join_all((0..8).map(|_| roles.count_active_holders(admin.id))).await;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(holders.len()));
        let outcomes = futures::future::join_all(holders.into_iter().map(|user| {
            let (roles, start) = (db.store.roles(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                roles.unassign(user, admin.id, true, unaudited()).await
            })
        }))
        .await;
        let refused = outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o.as_ref().unwrap(),
                    Err(StoreError::Conflict(Constraint::LastActiveHolder))
                )
            })
            .count();
        assert_eq!(refused, 1, "round {round}: exactly one holder is kept");
        assert_eq!(roles.count_active_holders(admin.id).await.unwrap(), 1);
        // Hand the role to the next round's holders.
        let last = roles.find_by_name("admin").await.unwrap().unwrap();
        let keeper = db.user(&format!("keeper{round}@example.com")).await;
        db.assign(keeper.id, last.id).await;
        for user in db
            .store
            .users()
            .list(auth_ports::UserQuery {
                status: None,
                email_contains: Some(format!("c{round}-")),
                limit: 10,
                after: None,
            })
            .await
            .unwrap()
        {
            roles
                .unassign(user.id, admin.id, false, unaudited())
                .await
                .unwrap();
        }
        roles
            .unassign(keeper.id, admin.id, false, unaudited())
            .await
            .unwrap();
    }
}
