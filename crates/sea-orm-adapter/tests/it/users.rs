//! The user repository contract.

use crate::audit::entry;
use crate::harness::{SRC, TestDb, new_user, now, open};
use crate::lockout::{POLICY, fail};
use auth_ports::{
    AuditRepository, AuditWith, Constraint, Email, NewSession, OAuthAccountRepository,
    OneTimeTokenRepository, PasswordChange, PasswordHash, RevokeSessions, RoleRepository,
    SessionRepository, StoreError, TokenHash, TokenPurpose, User, UserCursor, UserId, UserQuery,
    UserRepository, UserStatus, UserUpdate,
};
use auth_testing::unaudited;
use chrono::Duration;
use serde_json::json;
use std::collections::BTreeSet;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    create_stores_every_field_and_assigns_the_role,
    email_is_unique_case_insensitively,
    create_with_unknown_role_writes_nothing,
    create_stores_the_verification_token_and_audit_entries,
    create_without_a_role_assigns_none,
    list_pages_newest_first_with_filters,
    update_changes_names_and_touches_updated_at,
    leaving_active_revokes_sessions,
    delete_cascades_to_dependents,
    change_password_revokes_sessions_as_asked,
    unknown_users_are_not_found,
    rehash_applies_only_over_the_expected_hash,
    concurrent_creates_all_succeed,
    concurrent_guarded_suspensions_leave_one_active_admin,
);

/// A live session of `user` whose token hash is `[byte; 32]`.
pub async fn session_for(db: &TestDb, user: UserId, byte: u8) -> auth_ports::Session {
    let new = NewSession {
        user_id: user,
        token_hash: TokenHash([byte; 32]),
        expires_at: now() + Duration::hours(1),
        ip_address: None,
        user_agent: None,
        created_at: now(),
        auth_methods: vec![auth_ports::AuthMethod::Password],
    };
    open(&db.store.sessions(), new).await
}

async fn create_stores_every_field_and_assigns_the_role(db: &TestDb) {
    let new = new_user("Ada@Example.com");
    let user = db
        .store
        .users()
        .create(new.clone(), unaudited())
        .await
        .unwrap();
    assert_eq!(user.email.as_str(), "ada@example.com");
    assert_eq!(user.password_hash, new.password_hash);
    assert_eq!(user.status, UserStatus::Active);
    assert!(!user.email_verified);
    assert_eq!(user.failed_login_attempts, 0);
    assert_eq!(user.first_name.as_deref(), Some("Ada"));
    assert!(
        user.oauth_providers.is_empty(),
        "a password user has oauth_providers = []"
    );
    assert_eq!(user.created_at, new.created_at);

    let found = db.store.users().find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(found, user);
    let by_email = db
        .store
        .users()
        .find_by_email(&Email::parse("ADA@example.COM").unwrap())
        .await
        .unwrap();
    assert_eq!(by_email, Some(user.clone()));

    assert_eq!(db.role_names(user.id).await, ["user"]);
}

async fn email_is_unique_case_insensitively(db: &TestDb) {
    db.user("bob@example.com").await;
    let err = db
        .store
        .users()
        .create(new_user("  BOB@Example.com"), unaudited())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::UserEmail)),
        "{err:?}"
    );
}

async fn create_with_unknown_role_writes_nothing(db: &TestDb) {
    let mut new = new_user("carol@example.com");
    new.role = Some("no-such-role".into());
    let err = db
        .store
        .users()
        .create(new.clone(), unaudited())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(
        db.store.users().find_by_email(&new.email).await.unwrap(),
        None
    );
}

/// The verification token and the entries the audit closure makes of the new user are
/// stored with it.
async fn create_stores_the_verification_token_and_audit_entries(db: &TestDb) {
    let mut new = new_user("dora@example.com");
    let token = TokenHash([7; 32]);
    new.verification = Some(auth_ports::NewVerification {
        token_hash: token,
        expires_at: now() + Duration::hours(1),
        mail: crate::harness::mail("dora@example.com", "Confirm your email address"),
    });
    let audit: AuditWith<User> = Box::new(|user| {
        let mut register = entry(Some(user.id), "user.register", user.created_at);
        register.details = json!({ "email": user.email.as_str() });
        vec![register, entry(None, "other.event", user.created_at)]
    });
    let user = db.store.users().create(new, audit).await.unwrap();
    let tokens = db.store.one_time_tokens();
    let owner = tokens.find_live(&token, TokenPurpose::EmailVerification, now());
    assert_eq!(owner.await.unwrap(), Some(user.id));
    let trail = db.trail().await;
    let actions: Vec<_> = trail.iter().map(|e| e.entry.action.as_str()).collect();
    assert_eq!(actions, ["other.event", "user.register"]);
    assert_eq!(trail[1].entry.user_id, Some(user.id));
    assert_eq!(
        trail[1].entry.details,
        json!({ "email": "dora@example.com" })
    );
}

async fn create_without_a_role_assigns_none(db: &TestDb) {
    let mut new = new_user("eve@example.com");
    new.role = None;
    let user = db.store.users().create(new, unaudited()).await.unwrap();
    assert_eq!(
        db.store.users().find_by_id(user.id).await.unwrap(),
        Some(user.clone())
    );
    assert!(db.role_names(user.id).await.is_empty());
}

async fn list_pages_newest_first_with_filters(db: &TestDb) {
    let users = db.store.users();
    let start = now() - Duration::hours(1);
    for i in 0..7 {
        let mut new = new_user(&format!("user{i}@example.com"));
        new.created_at = start + Duration::seconds(i);
        users.create(new, unaudited()).await.unwrap();
    }
    let mut other = new_user("x_%y@other.org");
    other.created_at = start;
    let other = users.create(other, unaudited()).await.unwrap();
    db.suspend(other.id, now()).await;

    let query = |after, limit| UserQuery {
        status: None,
        email_contains: None,
        limit,
        after,
    };
    let mut seen = Vec::new();
    let mut after: Option<UserCursor> = None;
    loop {
        let page = users.list(query(after, 3)).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|u| UserCursor {
            created_at: u.created_at,
            id: u.id,
        });
        seen.extend(page.into_iter().map(|u| u.email.to_string()));
    }
    assert_eq!(seen.len(), 8);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        8,
        "no user twice"
    );
    assert_eq!(seen[0], "user6@example.com", "newest first");

    let filtered = |status, email_contains: Option<&str>| {
        users.list(UserQuery {
            status,
            email_contains: email_contains.map(Into::into),
            ..query(None, 50)
        })
    };
    let suspended = filtered(Some(UserStatus::Suspended), None).await.unwrap();
    assert_eq!(suspended.len(), 1);
    let by_email = filtered(None, Some("USER3")).await.unwrap();
    assert_eq!(by_email.len(), 1);
    // LIKE wildcards in the needle match only themselves.
    let literal = filtered(None, Some("_%")).await.unwrap();
    assert_eq!(literal.iter().map(|u| u.id).collect::<Vec<_>>(), [other.id]);
}

async fn update_changes_names_and_touches_updated_at(db: &TestDb) {
    let mut new = new_user("dave@example.com");
    new.created_at = now() - Duration::hours(1);
    let user = db.store.users().create(new, unaudited()).await.unwrap();
    let updated = db
        .store
        .users()
        .update(
            user.id,
            UserUpdate {
                first_name: Some(Some("David".into())),
                last_name: Some(None),
                ..UserUpdate::default()
            },
            now(),
            unaudited(),
        )
        .await
        .unwrap();
    assert_eq!(updated.first_name.as_deref(), Some("David"));
    assert_eq!(updated.last_name, None);
    assert!(
        updated.updated_at > user.updated_at,
        "the trigger maintains updated_at"
    );
    assert_eq!(updated.created_at, user.created_at);
}

async fn leaving_active_revokes_sessions(db: &TestDb) {
    let user = db.user("erin@example.com").await;
    session_for(db, user.id, 1).await;
    session_for(db, user.id, 2).await;
    let at = now();
    let suspended = db
        .store
        .users()
        .update(
            user.id,
            UserUpdate {
                status: Some(UserStatus::Suspended),
                ..Default::default()
            },
            at,
            unaudited(),
        )
        .await
        .unwrap();
    assert_eq!(suspended.status, UserStatus::Suspended);
    assert!(db.active_sessions(user.id, at).await.is_empty());
}

async fn delete_cascades_to_dependents(db: &TestDb) {
    let user = db.user("frank@example.com").await;
    let session = session_for(db, user.id, 3).await;
    let entry = db
        .store
        .audit()
        .append(crate::audit::entry(Some(user.id), "auth.login", now()))
        .await
        .unwrap();
    db.store
        .oauth_accounts()
        .link(user.id, crate::oauth::link("github", "gh-1"), unaudited())
        .await
        .unwrap();

    db.store.users().delete(user.id).await.unwrap();

    assert_eq!(db.store.users().find_by_id(user.id).await.unwrap(), None);
    assert_eq!(
        db.store
            .sessions()
            .find_active_by_token_hash(&session.token_hash, now())
            .await
            .unwrap(),
        None
    );
    assert!(db.role_names(user.id).await.is_empty());
    assert!(
        db.store
            .oauth_accounts()
            .list_for_user(user.id)
            .await
            .unwrap()
            .is_empty()
    );
    let kept = db
        .store
        .audit()
        .query(auth_ports::AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(kept.len(), 1, "audit entries outlive their actor");
    assert_eq!(kept[0].id, entry.id);
    assert_eq!(kept[0].entry.user_id, None, "ON DELETE SET NULL");
}

async fn change_password_revokes_sessions_as_asked(db: &TestDb) {
    let users = db.store.users();
    let user = db.user("gina@example.com").await;
    let keep = session_for(db, user.id, 4).await;
    session_for(db, user.id, 5).await;
    fail(db, user.id, SRC, now()).await;

    let change = |hash: &str, revoke, clear_lockout| {
        let change = PasswordChange {
            hash: PasswordHash::new(hash.into()),
            revoke,
            clear_lockout,
            notice: None,
        };
        users.change_password(user.id, change, now(), unaudited())
    };
    let revoked = change("h2", RevokeSessions::AllExcept(keep.id), false).await;
    let revoked = revoked.unwrap();
    assert_eq!(revoked, 1);
    let after = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(after.password_hash, Some(PasswordHash::new("h2".into())));
    assert_eq!(
        after.failed_login_attempts, 1,
        "a change keeps the failure count"
    );
    let active = db.active_sessions(user.id, now()).await;
    assert_eq!(active, [keep.id]);

    let revoked = change("h3", RevokeSessions::All, true).await.unwrap();
    assert_eq!(revoked, 1);
    let after = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(after.failed_login_attempts, 0, "a reset clears the lockout");
    assert!(db.active_sessions(user.id, now()).await.is_empty());
}

async fn unknown_users_are_not_found(db: &TestDb) {
    let users = db.store.users();
    let ghost = UserId::new();
    let at = now();
    assert!(matches!(
        users.delete(ghost).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        users
            .update(ghost, UserUpdate::default(), at, unaudited())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        users.unlock(ghost, unaudited()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        users
            .record_failed_login(ghost, SRC, POLICY, at, unaudited())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        users
            .mark_email_verified(
                ghost,
                at,
                Box::new(move |()| { vec![entry(Some(ghost), "email.verify", at)] })
            )
            .await,
        Err(StoreError::NotFound)
    ));
    let change = PasswordChange {
        hash: PasswordHash::new("h".into()),
        revoke: RevokeSessions::All,
        clear_lockout: false,
        notice: None,
    };
    assert!(matches!(
        users.change_password(ghost, change, at, unaudited()).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(users.find_by_id(ghost).await.unwrap(), None);
    assert!(db.trail().await.is_empty(), "nothing audited for no one");
}

async fn rehash_applies_only_over_the_expected_hash(db: &TestDb) {
    let users = db.store.users();
    let user = db.user("rehash@example.com").await;
    let old = user.password_hash.clone().unwrap();
    let stale = PasswordHash::new("not-the-stored-one".into());
    assert!(
        !users
            .rehash_password(user.id, stale, PasswordHash::new("x".into()))
            .await
            .unwrap()
    );
    assert!(
        users
            .rehash_password(user.id, old.clone(), PasswordHash::new("new".into()))
            .await
            .unwrap()
    );
    let stored = users
        .find_by_id(user.id)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert_eq!(stored, Some(PasswordHash::new("new".into())));
    // The old hash no longer matches: a late rehash cannot undo the change.
    assert!(
        !users
            .rehash_password(user.id, old, PasswordHash::new("late".into()))
            .await
            .unwrap()
    );
}

async fn concurrent_creates_all_succeed(db: &TestDb) {
    // Each create reads the role, then writes: on SQLite this needs the write lock from
    // BEGIN, or concurrent transactions fail to upgrade ("database is locked").
    let created = futures::future::join_all((0..40).map(|i| {
        let users = db.store.users();
        tokio::spawn(async move {
            users
                .create(new_user(&format!("c{i}@example.com")), unaudited())
                .await
        })
    }))
    .await;
    for outcome in created {
        outcome.unwrap().unwrap();
    }
}

async fn concurrent_guarded_suspensions_leave_one_active_admin(db: &TestDb) {
    let roles = db.store.roles();
    let admin = roles.find_by_name("admin").await.unwrap().unwrap();
    let mut holders = Vec::new();
    for round in 0..5 {
        // The survivor of the previous round takes part again.
        holders.extend(db.holders(&format!("g{round}"), 6, admin.id).await);
        // Open pooled connections first, so the suspensions below truly overlap.
        futures::future::join_all((0..8).map(|_| roles.count_active_holders(admin.id))).await;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(holders.len()));
        let outcomes = futures::future::join_all(holders.iter().map(|&user| {
            let (users, start) = (db.store.users(), start.clone());
            let suspend = UserUpdate {
                status: Some(UserStatus::Suspended),
                keep_an_active_holder_of: Some(admin.id),
                ..UserUpdate::default()
            };
            tokio::spawn(async move {
                start.wait().await;
                users.update(user, suspend, now(), unaudited()).await
            })
        }))
        .await;
        let kept: Vec<UserId> = holders
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| {
                matches!(
                    o.as_ref().unwrap(),
                    Err(StoreError::Conflict(Constraint::LastActiveHolder))
                )
            })
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(
            kept.len(),
            1,
            "round {round}: exactly one admin stays active"
        );
        assert_eq!(roles.count_active_holders(admin.id).await.unwrap(), 1);
        holders = kept;
    }
}
