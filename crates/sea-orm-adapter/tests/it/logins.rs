//! Logins through the session repository: a session opens only while the account and
//! its source are not locked, the user is active and the password is as checked, and
//! the login's writes commit together.

use crate::audit::entry;
use crate::harness::{SRC, TestDb, now, open, source, stub_hash};
use crate::sessions::new_session;
use auth_ports::{
    AuditWith, Constraint, LockoutPolicy, LoginSource, PasswordHash, SessionRepository, StoreError,
    UserRepository, UserStatus, UserUpdate,
};
use auth_testing::unaudited;
use chrono::Duration;
use serde_json::json;
use std::time::Duration as StdDuration;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    open_at_login_records_the_login_unless_locked,
    open_at_login_is_refused_after_a_password_change,
    open_at_login_is_refused_for_an_account_no_longer_active,
    open_at_login_is_refused_while_its_source_is_locked,
    a_login_waits_for_a_lock_of_its_source_being_set,
    two_logins_clearing_one_source_both_open,
    a_failed_session_insert_undoes_the_login_record,
    a_login_stores_its_audit_entries_with_the_session,
);

/// A login opens its session only if no lock is in force at its time, and clears the
/// failure count with it.
async fn open_at_login_records_the_login_unless_locked(db: &TestDb) {
    let users = db.store.users();
    let sessions = db.store.sessions();
    let user = db.user("kim@example.com").await;
    let at = now();
    let policy = LockoutPolicy {
        threshold: 1,
        global_threshold: 1,
        duration: StdDuration::from_secs(900),
    };
    users
        .record_failed_login(user.id, SRC, policy, at, unaudited())
        .await
        .unwrap();
    let mut locked = new_session(user.id, 1, Duration::hours(1));
    locked.created_at = at;
    let refused = sessions
        .open_at_login(locked.clone(), &stub_hash(), &source(), unaudited())
        .await;
    assert_eq!(refused.unwrap(), None, "no session while locked");
    let found = sessions.find_active_by_token_hash(&locked.token_hash, at);
    assert!(found.await.unwrap().is_none(), "nothing written");
    let stored = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.failed_login_attempts, 1);
    assert_eq!(stored.last_login_at, None);

    let mut after = new_session(user.id, 2, Duration::hours(1));
    after.created_at = at + Duration::seconds(901);
    let opened = sessions
        .open_at_login(after.clone(), &stub_hash(), &source(), unaudited())
        .await
        .unwrap()
        .unwrap();
    let stored = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(
        opened.user, stored,
        "the user as written, updated_at included"
    );
    assert!(stored.updated_at > user.updated_at);
    assert_eq!(stored.failed_login_attempts, 0);
    assert_eq!(stored.locked_until, None);
    assert_eq!(stored.last_login_at, Some(after.created_at));
}

/// Two failures from one source lock it; the account takes a hundred.
const POLICY_OF_ONE_SOURCE: LockoutPolicy = LockoutPolicy {
    threshold: 2,
    global_threshold: 100,
    duration: StdDuration::from_secs(900),
};

/// A login from a locked-out source opens nothing while one from another source does;
/// a login clears its own source's failures and no other's.
async fn open_at_login_is_refused_while_its_source_is_locked(db: &TestDb) {
    let users = db.store.users();
    let sessions = db.store.sessions();
    let user = db.user("s20@example.com").await;
    let at = now();
    let policy = LockoutPolicy {
        threshold: 2,
        global_threshold: 100,
        duration: StdDuration::from_secs(900),
    };
    let from = |key: &str, failures| LoginSource {
        key: key.to_owned(),
        failures,
    };
    for source in ["198.51.100.1", "198.51.100.1", "198.51.100.2"] {
        users
            .record_failed_login(user.id, source, policy, at, unaudited())
            .await
            .unwrap();
    }
    let mut attempt = new_session(user.id, 1, Duration::hours(1));
    attempt.created_at = at;
    let (hash, locked) = (stub_hash(), from("198.51.100.1", 2));
    let refused = sessions.open_at_login(attempt.clone(), &hash, &locked, unaudited());
    assert_eq!(
        refused.await.unwrap(),
        None,
        "the locked source opens nothing"
    );
    let stored = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.failed_login_attempts, 3, "nothing written");

    let owner = from("198.51.100.2", 1);
    let opened = sessions.open_at_login(attempt, &hash, &owner, unaudited());
    let opened = opened.await.unwrap().expect("another source logs in");
    assert_eq!(opened.user.failed_login_attempts, 0);
    let owner = users
        .find_for_login(&user.email, "198.51.100.2")
        .await
        .unwrap();
    assert_eq!(
        owner.unwrap().source_failures,
        0,
        "its own failures are cleared"
    );
    let stranger = users
        .find_for_login(&user.email, "198.51.100.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stranger.source_failures, 2, "the stranger's stay");
    assert!(stranger.locked_until(at).is_some());
}

/// A login racing a failure from its own source that locks the source: while the
/// failure's transaction holds the source's record, the login waits, and once the lock
/// is committed it opens nothing (the per-source form of the account lock's guarantee).
async fn a_login_waits_for_a_lock_of_its_source_being_set(db: &TestDb) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let users = db.store.users();
    let user = db.user("s21@example.com").await;
    let at = now();
    users
        .record_failed_login(user.id, SRC, POLICY_OF_ONE_SOURCE, at, unaudited())
        .await
        .unwrap();
    let raw = db.raw().await;
    let failure = raw.begin().await.unwrap();
    let until = (at + Duration::minutes(15)).to_rfc3339();
    let sql = format!(
        "UPDATE login_failures SET attempts = 2, locked_until = '{until}' WHERE source = '{SRC}'"
    );
    failure.execute_unprepared(&sql).await.unwrap();

    let sessions = db.store.sessions();
    let mut attempt = new_session(user.id, 1, Duration::hours(1));
    attempt.created_at = at;
    let login = tokio::spawn(async move {
        let source = LoginSource {
            key: SRC.to_owned(),
            failures: 1,
        };
        sessions
            .open_at_login(attempt, &stub_hash(), &source, unaudited())
            .await
    });
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert!(!login.is_finished(), "the login waits for the failure");
    failure.commit().await.unwrap();
    let opened = login.await.unwrap().unwrap();
    assert_eq!(opened, None, "the lock committed first wins");
    let stored = users
        .find_for_login(&user.email, SRC)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.source_failures, 2, "the failures stay on record");
}

/// Two successful logins at once from a source with a failure on record (a double
/// submit after a typo) both open their session: they queue at the source's row
/// instead of deadlocking over it and the user row.
async fn two_logins_clearing_one_source_both_open(db: &TestDb) {
    let users = db.store.users();
    let user = db.user("s22@example.com").await;
    for round in 0..20u8 {
        users
            .record_failed_login(user.id, SRC, POLICY_OF_ONE_SOURCE, now(), unaudited())
            .await
            .unwrap();
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let logins = (0..2u8).map(|i| {
            let (sessions, start) = (db.store.sessions(), start.clone());
            let attempt = new_session(user.id, round * 2 + i, Duration::hours(1));
            tokio::spawn(async move {
                let source = LoginSource {
                    key: SRC.to_owned(),
                    failures: 1,
                };
                start.wait().await;
                sessions
                    .open_at_login(attempt, &stub_hash(), &source, unaudited())
                    .await
            })
        });
        for login in futures::future::join_all(logins).await {
            let opened = login.unwrap();
            assert!(matches!(opened, Ok(Some(_))), "round {round}: {opened:?}");
        }
    }
}

/// The password was checked against a hash that a change has replaced since: the
/// login opens nothing and records nothing.
async fn open_at_login_is_refused_after_a_password_change(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("s13@example.com").await;
    let new = new_session(user.id, 1, Duration::hours(1));
    let stale = PasswordHash::new("$argon2id$v=19$before-the-change".into());
    let src = source();
    let refused = sessions.open_at_login(new.clone(), &stale, &src, unaudited());
    assert_eq!(refused.await.unwrap(), None);
    let found = sessions.find_active_by_token_hash(&new.token_hash, now());
    assert!(found.await.unwrap().is_none(), "no session");
    let stored = db.store.users().find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored, user, "no login recorded");
}

/// The password was checked while the account was active, and an admin suspended it
/// since: the login opens nothing and records nothing.
async fn open_at_login_is_refused_for_an_account_no_longer_active(db: &TestDb) {
    let sessions = db.store.sessions();
    let users = db.store.users();
    let user = db.user("s16@example.com").await;
    let update = UserUpdate {
        status: Some(UserStatus::Suspended),
        ..UserUpdate::default()
    };
    let suspended = users.update(user.id, update, now(), Box::new(|_| vec![]));
    let suspended = suspended.await.unwrap();
    let new = new_session(user.id, 1, Duration::hours(1));
    let (verified, src) = (stub_hash(), source());
    let refused = sessions.open_at_login(new.clone(), &verified, &src, unaudited());
    assert_eq!(refused.await.unwrap(), None);
    let found = sessions.find_active_by_token_hash(&new.token_hash, now());
    assert!(found.await.unwrap().is_none(), "no session");
    let stored = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored, suspended, "no login recorded");
}

/// The login is recorded in the transaction that stores the session: when the session
/// cannot be stored, the user row is left as it was.
async fn a_failed_session_insert_undoes_the_login_record(db: &TestDb) {
    let users = db.store.users();
    let sessions = db.store.sessions();
    let user = db.user("s14@example.com").await;
    let first = new_session(user.id, 1, Duration::hours(1));
    open(&sessions, first.clone()).await;
    let policy = LockoutPolicy {
        threshold: 5,
        global_threshold: 5,
        duration: StdDuration::from_secs(60),
    };
    users
        .record_failed_login(user.id, SRC, policy, now(), unaudited())
        .await
        .unwrap();
    let before = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(before.failed_login_attempts, 1);

    let mut again = first.clone();
    again.created_at = now() + Duration::seconds(1);
    let err = sessions
        .open_at_login(again, &stub_hash(), &source(), unaudited())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::SessionToken)),
        "{err:?}"
    );
    let after = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(after, before, "the login's UPDATE was rolled back");
}

/// The entries the audit closure makes of the new session are stored with it, every
/// field as given; a refused login stores none.
async fn a_login_stores_its_audit_entries_with_the_session(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("s15@example.com").await;
    let audited = |note: &'static str| -> AuditWith<auth_ports::Session> {
        Box::new(move |session| {
            let mut login = entry(Some(session.user_id), "auth.login", session.created_at);
            login.details = json!({ "session_id": session.id.to_string(), "note": note });
            let mut other = entry(None, "session.create", session.created_at);
            other.ip_address = None;
            other.user_agent = None;
            other.resource_type = None;
            other.success = false;
            other.error_message = Some("second entry".into());
            vec![login, other]
        })
    };
    let new = new_session(user.id, 1, Duration::hours(1));
    let opened = sessions
        .open_at_login(new.clone(), &stub_hash(), &source(), audited("opened"))
        .await
        .unwrap()
        .unwrap();
    let stale = PasswordHash::new("$argon2id$v=19$before-the-change".into());
    let mut refused = new_session(user.id, 2, Duration::hours(1));
    refused.created_at = now() + Duration::seconds(1);
    let src = source();
    let refused = sessions.open_at_login(refused, &stale, &src, audited("refused"));
    assert_eq!(refused.await.unwrap(), None);

    let trail = db.trail().await;
    assert_eq!(trail.len(), 2, "{trail:?}");
    let (login, other) = (&trail[0], &trail[1]);
    assert_eq!(login.entry.action, "auth.login");
    assert_eq!(login.entry.user_id, Some(user.id));
    assert_eq!(
        login.entry.details,
        json!({ "session_id": opened.session.id.to_string(), "note": "opened" })
    );
    assert_eq!(login.entry.ip_address, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(login.entry.user_agent.as_deref(), Some("test-agent"));
    assert_eq!(login.entry.created_at, new.created_at);
    assert!(login.entry.success);
    assert_eq!(other.entry.action, "session.create");
    assert_eq!((other.entry.user_id, other.entry.ip_address), (None, None));
    assert_eq!(
        (
            other.entry.user_agent.as_deref(),
            other.entry.resource_type.as_deref()
        ),
        (None, None)
    );
    assert!(!other.entry.success);
    assert_eq!(other.entry.error_message.as_deref(), Some("second entry"));
    let stored = sessions.find_active_by_token_hash(&new.token_hash, now());
    assert_eq!(stored.await.unwrap().unwrap().session, opened.session);
}
