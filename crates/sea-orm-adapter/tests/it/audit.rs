//! The audit repository contract.

use crate::harness::new_user;
use crate::harness::{TestDb, now};
use auth_ports::{
    AuditCursor, AuditQuery, AuditRepository, AuditWith, Email, NewAuditEntry, StoreError, User,
    UserId, UserRepository, UserStatus, UserUpdate,
};
use auth_sea_orm::bench_support::{AuditSeed, explain};
use auth_testing::TestDatabase;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    append_stores_every_field,
    queries_filter_and_return_newest_first,
    pages_follow_the_cursor,
    counts_per_action_within_a_period,
    cleanup_deletes_only_old_entries,
    recent_activity_view_shows_the_last_30_days,
    append_for_unknown_actor_is_not_found,
    a_write_and_its_audit_entries_commit_together,
    a_write_whose_audit_entry_fails_changes_nothing,
);

/// An entry of `action` by `user_id` at `at`, from 192.0.2.1, successful.
pub fn entry(user_id: Option<UserId>, action: &str, at: DateTime<Utc>) -> NewAuditEntry {
    NewAuditEntry {
        user_id,
        action: action.into(),
        resource_type: Some("user".into()),
        resource_id: user_id.map(|id| id.to_string()),
        ip_address: Some("192.0.2.1".parse().unwrap()),
        user_agent: Some("test-agent".into()),
        details: json!({}),
        success: true,
        error_message: None,
        created_at: at,
    }
}

async fn append_stores_every_field(db: &TestDb) {
    let user = db.user("a1@example.com").await;
    let mut new = entry(Some(user.id), "auth.login", now());
    new.details = json!({"reason": "invalid_credentials"});
    new.success = false;
    new.error_message = Some("wrong password".into());
    new.ip_address = Some("2001:db8::2".parse().unwrap());
    let stored = db.store.audit().append(new.clone()).await.unwrap();
    assert_eq!(stored.entry.user_id, new.user_id);
    assert_eq!(stored.entry.action, new.action);
    assert_eq!(stored.entry.resource_type, new.resource_type);
    assert_eq!(stored.entry.resource_id, new.resource_id);
    assert_eq!(stored.entry.ip_address, new.ip_address);
    assert_eq!(stored.entry.user_agent, new.user_agent);
    assert_eq!(stored.entry.details, new.details);
    assert!(!stored.entry.success);
    assert_eq!(stored.entry.error_message, new.error_message);
    assert_eq!(stored.entry.created_at, new.created_at);
    assert_eq!(db.trail().await, [stored]);
}

async fn queries_filter_and_return_newest_first(db: &TestDb) {
    let audit = db.store.audit();
    let alice = db.user("a2@example.com").await;
    let bob = db.user("a3@example.com").await;
    let t0 = now() - Duration::hours(10);
    let mut ids = Vec::new();
    for (i, (user, action, success, ip)) in [
        (alice.id, "auth.login", true, "192.0.2.1"),
        (alice.id, "auth.login", false, "192.0.2.2"),
        (bob.id, "auth.login", false, "192.0.2.1"),
        (bob.id, "user.update", true, "192.0.2.3"),
        (alice.id, "auth.logout", true, "192.0.2.1"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = entry(Some(user), action, t0 + Duration::hours(i as i64));
        e.success = success;
        e.ip_address = Some(ip.parse().unwrap());
        ids.push(audit.append(e).await.unwrap().id);
    }
    let q = AuditQuery {
        limit: 50,
        ..Default::default()
    };
    let found = |entries: Vec<auth_ports::AuditEntry>| {
        entries.into_iter().map(|e| e.id).collect::<Vec<_>>()
    };

    assert_eq!(
        found(audit.query(q.clone()).await.unwrap()),
        [ids[4], ids[3], ids[2], ids[1], ids[0]]
    );
    let by_user = AuditQuery {
        user_id: Some(alice.id),
        ..q.clone()
    };
    assert_eq!(
        found(audit.query(by_user).await.unwrap()),
        [ids[4], ids[1], ids[0]]
    );
    let by_action = AuditQuery {
        action: Some("auth.login".into()),
        ..q.clone()
    };
    assert_eq!(
        found(audit.query(by_action).await.unwrap()),
        [ids[2], ids[1], ids[0]]
    );
    let failures = AuditQuery {
        success: Some(false),
        ..q.clone()
    };
    assert_eq!(
        found(audit.query(failures).await.unwrap()),
        [ids[2], ids[1]]
    );
    let by_ip = AuditQuery {
        ip_address: Some("192.0.2.1".parse().unwrap()),
        ..q.clone()
    };
    assert_eq!(
        found(audit.query(by_ip).await.unwrap()),
        [ids[4], ids[2], ids[0]]
    );
    let by_resource = AuditQuery {
        resource_type: Some("user".into()),
        resource_id: Some(bob.id.to_string()),
        ..q.clone()
    };
    assert_eq!(
        found(audit.query(by_resource).await.unwrap()),
        [ids[3], ids[2]]
    );
    let period = AuditQuery {
        from: Some(t0 + Duration::hours(1)),
        to: Some(t0 + Duration::hours(3)),
        ..q.clone()
    };
    assert_eq!(
        found(audit.query(period).await.unwrap()),
        [ids[2], ids[1]],
        "[from, to)"
    );
    let combined = AuditQuery {
        action: Some("auth.login".into()),
        from: Some(t0 + Duration::hours(1)),
        user_id: Some(alice.id),
        ..q.clone()
    };
    assert_eq!(found(audit.query(combined).await.unwrap()), [ids[1]]);
}

async fn pages_follow_the_cursor(db: &TestDb) {
    let audit = db.store.audit();
    let at = now();
    // Same timestamp for all: the id breaks the tie.
    for _ in 0..5 {
        audit.append(entry(None, "auth.login", at)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = audit
            .query(AuditQuery {
                limit: 2,
                after,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(AuditCursor {
            created_at: last.entry.created_at,
            id: last.id,
        });
        seen.extend(page.iter().map(|e| e.id));
    }
    let mut expected = seen.clone();
    expected.sort_by(|a, b| b.cmp(a));
    expected.dedup();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen, expected, "newest first, no entry twice");
}

async fn counts_per_action_within_a_period(db: &TestDb) {
    let audit = db.store.audit();
    let t0 = now() - Duration::days(2);
    for (action, at) in [
        ("auth.login", t0),
        ("auth.login", t0 + Duration::days(1)),
        ("auth.login", t0 + Duration::days(1)),
        ("auth.logout", t0 + Duration::days(1)),
    ] {
        audit.append(entry(None, action, at)).await.unwrap();
    }
    let all = audit.count_by_action(None, None).await.unwrap();
    assert_eq!(
        all.into_iter().collect::<Vec<_>>(),
        [("auth.login".into(), 3), ("auth.logout".into(), 1)]
    );
    let recent = audit
        .count_by_action(Some(t0 + Duration::hours(1)), None)
        .await
        .unwrap();
    assert_eq!(recent.get("auth.login"), Some(&2));
    let none = audit.count_by_action(None, Some(t0)).await.unwrap();
    assert!(none.is_empty());
}

async fn cleanup_deletes_only_old_entries(db: &TestDb) {
    let audit = db.store.audit();
    let at = now();
    audit
        .append(entry(None, "old", at - Duration::days(91)))
        .await
        .unwrap();
    audit
        .append(entry(None, "old", at - Duration::days(100)))
        .await
        .unwrap();
    let fresh = audit
        .append(entry(None, "fresh", at - Duration::days(89)))
        .await
        .unwrap();
    assert_eq!(
        audit
            .delete_older_than(at - Duration::days(90))
            .await
            .unwrap(),
        2
    );
    assert_eq!(db.trail().await, [fresh]);
}

async fn recent_activity_view_shows_the_last_30_days(db: &TestDb) {
    let audit = db.store.audit();
    audit
        .append(entry(None, "recent", now() - Duration::days(29)))
        .await
        .unwrap();
    audit
        .append(entry(None, "stale", now() - Duration::days(31)))
        .await
        .unwrap();
    let raw = db.raw().await;
    let rows = raw
        .query_all_raw(Statement::from_string(
            raw.get_database_backend(),
            "SELECT action FROM recent_audit_activity",
        ))
        .await
        .unwrap();
    let actions: Vec<String> = rows
        .iter()
        .map(|r| r.try_get("", "action").unwrap())
        .collect();
    assert_eq!(actions, ["recent"]);
}

async fn append_for_unknown_actor_is_not_found(db: &TestDb) {
    let err = db
        .store
        .audit()
        .append(entry(Some(UserId::new()), "x", now()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn a_write_and_its_audit_entries_commit_together(db: &TestDb) {
    let user = db.user("a8@example.com").await;
    let audit: AuditWith<(User, User)> = Box::new(|(before, after)| {
        assert_eq!(
            before.status,
            UserStatus::Active,
            "the user before the change"
        );
        assert_eq!(after.status, UserStatus::Suspended, "and after it");
        vec![
            entry(Some(after.id), "user.update", now()),
            entry(Some(after.id), "user.suspend", now()),
        ]
    });
    let update = UserUpdate {
        status: Some(UserStatus::Suspended),
        ..UserUpdate::default()
    };
    db.store
        .users()
        .update(user.id, update, now(), audit)
        .await
        .unwrap();
    let audit = db.store.audit();
    let trail = audit.query(AuditQuery {
        user_id: Some(user.id),
        limit: 10,
        ..AuditQuery::default()
    });
    let mut actions: Vec<String> = trail
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.entry.action)
        .collect();
    actions.sort();
    assert_eq!(actions, ["user.suspend", "user.update"]);
}

async fn a_write_whose_audit_entry_fails_changes_nothing(db: &TestDb) {
    let user = db.user("a9@example.com").await;
    // An actor that does not exist breaks the entry's foreign key.
    let audit: AuditWith<(User, User)> =
        Box::new(|_| vec![entry(Some(UserId::new()), "user.suspend", now())]);
    let update = UserUpdate {
        status: Some(UserStatus::Suspended),
        ..UserUpdate::default()
    };
    let result = db.store.users().update(user.id, update, now(), audit).await;
    assert!(result.is_err(), "{result:?}");
    let stored = db.store.users().find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.status, UserStatus::Active);
    let users = db.store.users();
    let registered = users.create(
        new_user("a10@example.com"),
        Box::new(|_| vec![entry(Some(UserId::new()), "user.register", now())]),
    );
    assert!(registered.await.is_err());
    let email = Email::parse("a10@example.com").unwrap();
    assert!(
        db.store
            .users()
            .find_by_email(&email)
            .await
            .unwrap()
            .is_none()
    );
}

/// The admin API's audit queries read `audit_logs` through its indexes once the table is
/// large (their speed is measured by the `audit_queries` example, docs/benchmarks.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_use_indexes_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let db = TestDb::open(database).await;
    // Enough entries that a sequential scan would cost the planner more than an index.
    let seed = AuditSeed::new(100_000);
    seed.insert(&db.store).await.unwrap();
    for (label, query) in seed.queries() {
        let plan = explain(&db.store, query).await.unwrap();
        assert!(plan.uses_audit_index(), "{label}:\n{plan}");
    }
}
