//! Failed logins and lockout through the user repository: per-source and account-wide
//! counts, their locks, and clearing them.

use crate::audit::entry;
use crate::harness::{SRC, TestDb, now};
use auth_ports::{AuditWith, FailedLogin, LockScope, LockoutPolicy, UserId, UserRepository};
use auth_testing::unaudited;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    failed_logins_lock_at_the_threshold_and_restart_after_expiry,
    concurrent_failed_logins_lose_no_count,
    concurrent_failed_logins_lock_exactly_once,
    a_locked_source_leaves_others_free_until_the_global_cap,
    one_source_waiting_out_its_locks_never_reaches_the_global_cap,
    stale_source_records_are_deleted,
    concurrent_failures_from_many_sources_lock_the_account_once,
    lock_unlock_and_verify_email,
);

pub const POLICY: LockoutPolicy = LockoutPolicy {
    threshold: 5,
    global_threshold: 10,
    duration: StdDuration::from_secs(900),
};

/// A failed login of `user` from `source` at `at` under [`POLICY`], unaudited.
pub async fn fail(db: &TestDb, user: UserId, source: &str, at: DateTime<Utc>) -> FailedLogin {
    let users = db.store.users();
    let failed = users.record_failed_login(user, source, POLICY, at, unaudited());
    failed.await.unwrap()
}

/// The outcome of a counted failure.
fn counted(
    attempts: u32,
    account_attempts: u32,
    locked: Option<(LockScope, DateTime<Utc>)>,
) -> FailedLogin {
    FailedLogin::Counted {
        attempts,
        account_attempts,
        locked,
    }
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

async fn failed_logins_lock_at_the_threshold_and_restart_after_expiry(db: &TestDb) {
    let users = db.store.users();
    let user = db.user("hank@example.com").await;
    let t0 = now();
    for expected in 1..=4 {
        assert_eq!(
            fail(db, user.id, SRC, t0).await,
            counted(expected, expected, None)
        );
    }
    let lock_end = t0 + Duration::seconds(900);
    assert_eq!(
        fail(db, user.id, SRC, t0).await,
        counted(5, 5, Some((LockScope::Source, lock_end)))
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
        counted(1, 1, None)
    );
    let found = users
        .find_for_login(&user.email, SRC)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.source_locked_until, None);
}

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

/// A locked source stops only itself: another source is counted on its own, and the
/// account-wide count locks every source at the global threshold.
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
    assert_eq!(fail_from("198.51.100.2").await, counted(1, 6, None));
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
        counted(1, 10, Some((LockScope::Account, lock_end)))
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

    let audit: AuditWith<()> = Box::new(move |()| vec![entry(Some(user.id), "email.verify", at)]);
    users.mark_email_verified(user.id, at, audit).await.unwrap();
    users
        .mark_email_verified(user.id, at + Duration::hours(1), unaudited())
        .await
        .unwrap();
    let stored = users.find_by_id(user.id).await.unwrap().unwrap();
    assert!(stored.email_verified);
    assert_eq!(
        stored.email_verified_at,
        Some(at),
        "the first verification is kept"
    );
    let actions: Vec<_> = db
        .trail()
        .await
        .into_iter()
        .map(|e| e.entry.action)
        .collect();
    assert_eq!(
        actions,
        ["email.verify"],
        "the verification's audit is appended"
    );
}
