//! The user repository contract.

use crate::audit::entry;
use crate::harness::{SRC, TestDb, new_user, now, open};
use auth_ports::{
    AuditRepository, AuditWith, Constraint, Email, FailedLogin, LockScope, LockoutPolicy,
    NewSession, OAuthAccountRepository, OneTimeTokenRepository, PasswordChange, PasswordHash,
    RevokeSessions, RoleRepository, SessionRepository, StoreError, TokenHash, TokenPurpose, User,
    UserCursor, UserId, UserQuery, UserRepository, UserStatus, UserUpdate,
};
use auth_testing::unaudited;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

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
    failed_logins_lock_at_the_threshold_and_restart_after_expiry,
    concurrent_failed_logins_lose_no_count,
    concurrent_failed_logins_lock_exactly_once,
    a_locked_source_leaves_others_free_until_the_global_cap,
    one_source_waiting_out_its_locks_never_reaches_the_global_cap,
    stale_source_records_are_deleted,
    concurrent_failures_from_many_sources_lock_the_account_once,
    lock_unlock_and_verify_email,
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
    };
    open(&db.store.sessions(), new).await
}

const POLICY: LockoutPolicy = LockoutPolicy {
    threshold: 5,
    global_threshold: 10,
    duration: StdDuration::from_secs(900),
};

/// A failed login of `user` from `source` at `at` under [`POLICY`], unaudited.
async fn fail(db: &TestDb, user: UserId, source: &str, at: DateTime<Utc>) -> FailedLogin {
    let users = db.store.users();
    let failed = users.record_failed_login(user, source, POLICY, at, unaudited());
    failed.await.unwrap()
}

/// `n` failed logins of `user` at `at` at once, the `i`-th from `source(i)`; their
/// outcomes.
async fn fail_at_once(
    db: &TestDb,
    user: UserId,
    policy: LockoutPolicy,
    at: DateTime<Utc>,
    n: usize,
    source: impl Fn(usize) -> String,
) -> Vec<FailedLogin> {
    let outcomes = futures::future::join_all((0..n).map(|i| {
        let (users, source) = (db.store.users(), source(i));
        tokio::spawn(async move {
            let failed = users.record_failed_login(user, &source, policy, at, unaudited());
            failed.await.unwrap()
        })
    }))
    .await;
    outcomes.into_iter().map(Result::unwrap).collect()
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
    new.verification = Some((token, now() + Duration::hours(1)));
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
        .link(user.id, crate::oauth::link("github", "gh-1"))
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

async fn failed_logins_lock_at_the_threshold_and_restart_after_expiry(db: &TestDb) {
    let users = db.store.users();
    let user = db.user("hank@example.com").await;
    let t0 = now();
    for expected in 1..=4 {
        assert_eq!(
            fail(db, user.id, SRC, t0).await,
            FailedLogin::Counted {
                attempts: expected,
                account_attempts: expected,
                locked: None
            }
        );
    }
    let lock_end = t0 + Duration::seconds(900);
    assert_eq!(
        fail(db, user.id, SRC, t0).await,
        FailedLogin::Counted {
            attempts: 5,
            account_attempts: 5,
            locked: Some((LockScope::Source, lock_end))
        }
    );
    // While locked: neither counted nor extended.
    let later = t0 + Duration::seconds(60);
    assert_eq!(
        fail(db, user.id, SRC, later).await,
        FailedLogin::AlreadyLocked { until: lock_end }
    );
    let found = users
        .find_for_login(&user.email, SRC)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.source_failures, 5);
    assert_eq!(found.source_locked_until, Some(lock_end));
    assert_eq!(found.locked_until(later), Some(lock_end));
    assert_eq!(found.user.failed_login_attempts, 5);
    assert_eq!(found.user.locked_until, None, "only the source is locked");
    // After the lock: the source's count starts again, and so does the account's, since
    // no failure came within the lockout duration.
    let after_lock = lock_end + Duration::seconds(1);
    assert_eq!(
        fail(db, user.id, SRC, after_lock).await,
        FailedLogin::Counted {
            attempts: 1,
            account_attempts: 1,
            locked: None
        }
    );
    let found = users
        .find_for_login(&user.email, SRC)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.source_locked_until, None);
}

/// A locked source stops only itself: another source is counted on its own, and the
/// account-wide count locks every source at the global threshold.
/// The global cap counts failures that follow each other within the lockout duration:
/// one source that fails up to its own lock, waits it out and fails again, round after
/// round, never locks the owner out of every source.
async fn one_source_waiting_out_its_locks_never_reaches_the_global_cap(db: &TestDb) {
    let users = db.store.users();
    let user = db.user("patient@example.com").await;
    for round in 0..4 {
        let at = now() + Duration::seconds(901 * round);
        for _ in 0..5 {
            fail(db, user.id, "198.51.100.9", at).await;
        }
        let owner = users
            .find_for_login(&user.email, "192.0.2.7")
            .await
            .unwrap();
        assert_eq!(
            owner.unwrap().locked_until(at),
            None,
            "round {round}: the owner's source stays free"
        );
    }
}

async fn a_locked_source_leaves_others_free_until_the_global_cap(db: &TestDb) {
    let users = db.store.users();
    let user = db.user("src@example.com").await;
    let at = now();
    let lock_end = at + Duration::seconds(900);
    let fail_from = |source| fail(db, user.id, source, at);
    for _ in 0..5 {
        fail_from("198.51.100.1").await;
    }
    assert!(matches!(
        fail_from("198.51.100.1").await,
        FailedLogin::AlreadyLocked { .. }
    ));
    assert_eq!(
        fail_from("198.51.100.2").await,
        FailedLogin::Counted {
            attempts: 1,
            account_attempts: 6,
            locked: None
        }
    );
    let other = users
        .find_for_login(&user.email, "198.51.100.2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.locked_until(at), None, "the owner's source is free");
    let stranger = users
        .find_for_login(&user.email, "198.51.100.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stranger.locked_until(at), Some(lock_end));

    // The global threshold (10) is reached by failures from several sources.
    for _ in 0..3 {
        fail_from("198.51.100.2").await;
    }
    assert_eq!(
        fail_from("198.51.100.3").await,
        FailedLogin::Counted {
            attempts: 1,
            account_attempts: 10,
            locked: Some((LockScope::Account, lock_end))
        }
    );
    assert_eq!(
        fail_from("198.51.100.4").await,
        FailedLogin::AlreadyLocked { until: lock_end },
        "every source is locked now, and nothing is counted"
    );
    let fresh = users
        .find_for_login(&user.email, "198.51.100.4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fresh.source_failures, 0,
        "the refused failure left no record"
    );
    assert_eq!(fresh.locked_until(at), Some(lock_end));
    assert_eq!(fresh.user.failed_login_attempts, 10);

    // Unlocking lifts every lock, the sources' too.
    users.unlock(user.id, unaudited()).await.unwrap();
    let stranger = users
        .find_for_login(&user.email, "198.51.100.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stranger.source_failures, stranger.locked_until(at)),
        (0, None)
    );
    assert_eq!(
        users
            .delete_stale_login_failures(at + Duration::days(1))
            .await
            .unwrap(),
        0,
        "nothing left to clean"
    );
}

/// Cleanup deletes the records that neither count recently nor lock.
async fn stale_source_records_are_deleted(db: &TestDb) {
    let users = db.store.users();
    let user = db.user("stale@example.com").await;
    let at = now();
    let old = at - Duration::hours(2);
    for _ in 0..5 {
        fail(db, user.id, "198.51.100.1", old).await;
    }
    fail(db, user.id, "198.51.100.2", old).await;
    fail(db, user.id, "198.51.100.3", at).await;
    // An hour ago: the lock of .1 ended 45 minutes before, .2 never locked.
    let deleted = users
        .delete_stale_login_failures(at - Duration::hours(1))
        .await;
    assert_eq!(deleted.unwrap(), 2);
    let recent = users
        .find_for_login(&user.email, "198.51.100.3")
        .await
        .unwrap();
    assert_eq!(recent.unwrap().source_failures, 1, "recent failures stay");
    let gone = users
        .find_for_login(&user.email, "198.51.100.1")
        .await
        .unwrap();
    assert_eq!(gone.unwrap().source_failures, 0);
}

async fn concurrent_failed_logins_lose_no_count(db: &TestDb) {
    let user = db.user("ivy@example.com").await;
    let policy = LockoutPolicy {
        threshold: 50,
        global_threshold: 50,
        duration: StdDuration::from_secs(900),
    };
    let at = now();
    let outcomes = fail_at_once(db, user.id, policy, at, 50, |_| SRC.to_owned()).await;
    let mut attempts = BTreeSet::new();
    let mut locks = 0;
    for outcome in outcomes {
        match outcome {
            FailedLogin::Counted {
                attempts: n,
                locked,
                ..
            } => {
                attempts.insert(n);
                if locked.is_some() {
                    assert_eq!(n, 50, "only the 50th failure locks");
                    locks += 1;
                }
            }
            FailedLogin::AlreadyLocked { .. } => panic!("locked before the threshold"),
        }
    }
    assert_eq!(attempts, (1..=50).collect(), "every failure counted once");
    assert_eq!(locks, 1);
    let stored = db.store.users().find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.failed_login_attempts, 50);
    assert!(stored.is_locked_at(at));
}

async fn concurrent_failed_logins_lock_exactly_once(db: &TestDb) {
    let user = db.user("jack@example.com").await;
    let at = now();
    let outcomes = fail_at_once(db, user.id, POLICY, at, 50, |_| SRC.to_owned()).await;
    let counted = outcomes
        .iter()
        .filter(|o| matches!(o, FailedLogin::Counted { .. }))
        .count();
    let locking = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                FailedLogin::Counted {
                    locked: Some((LockScope::Source, _)),
                    ..
                }
            )
        })
        .count();
    assert_eq!(counted, 5, "failures after the lock are not counted");
    assert_eq!(locking, 1, "the lock is set once");
    let users = db.store.users();
    let found = users
        .find_for_login(&user.email, "198.51.100.9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user.failed_login_attempts, 5);
    assert_eq!(found.locked_until(at), None, "another source is not locked");
}

/// Failures from many sources at once: the account-wide count loses none and the global
/// cap locks the account exactly once.
async fn concurrent_failures_from_many_sources_lock_the_account_once(db: &TestDb) {
    let user = db.user("many@example.com").await;
    let at = now();
    let source = |i| format!("198.51.100.{}", i % 20);
    let outcomes = fail_at_once(db, user.id, POLICY, at, 40, source).await;
    let mut account_counts = BTreeSet::new();
    let mut locks = 0;
    for outcome in &outcomes {
        if let FailedLogin::Counted {
            account_attempts,
            locked,
            ..
        } = outcome
        {
            account_counts.insert(*account_attempts);
            if let Some((scope, _)) = locked {
                assert_eq!(*scope, LockScope::Account);
                locks += 1;
            }
        }
    }
    assert_eq!(
        account_counts,
        (1..=10).collect(),
        "every counted failure once"
    );
    assert_eq!(locks, 1, "the account is locked once");
    let stored = db.store.users().find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.failed_login_attempts, 10);
    assert!(stored.is_locked_at(at));
}

async fn lock_unlock_and_verify_email(db: &TestDb) {
    let users = db.store.users();
    let user = db.user("liam@example.com").await;
    let at = now();
    for _ in 0..5 {
        fail(db, user.id, SRC, at).await;
    }
    users.unlock(user.id, unaudited()).await.unwrap();
    let stored = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.failed_login_attempts, stored.locked_until),
        (0, None)
    );

    users.mark_email_verified(user.id, at).await.unwrap();
    users
        .mark_email_verified(user.id, at + Duration::hours(1))
        .await
        .unwrap();
    let stored = users.find_by_id(user.id).await.unwrap().unwrap();
    assert!(stored.email_verified);
    assert_eq!(
        stored.email_verified_at,
        Some(at),
        "the first verification is kept"
    );
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
        users.mark_email_verified(ghost, at).await,
        Err(StoreError::NotFound)
    ));
    let change = PasswordChange {
        hash: PasswordHash::new("h".into()),
        revoke: RevokeSessions::All,
        clear_lockout: false,
    };
    assert!(matches!(
        users.change_password(ghost, change, at, unaudited()).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(users.find_by_id(ghost).await.unwrap(), None);
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
