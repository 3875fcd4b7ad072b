//! Logins without a password (OAuth): the login is recorded, the session stored and the
//! audit appended together, only for an active user; password failures and locks are
//! left as they are.

use crate::audit::entry;
use crate::harness::{SRC, TestDb, now};
use crate::sessions::new_session;
use auth_ports::{
    AuditWith, LockoutPolicy, Session, SessionRepository, StoreError, UserId, UserRepository,
};
use auth_testing::unaudited;
use chrono::Duration;
use serde_json::json;
use std::time::Duration as StdDuration;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    an_active_user_gets_a_session_the_login_and_its_audit,
    a_suspended_user_gets_nothing_and_nothing_is_written,
    an_unknown_user_is_not_found,
);

/// An audit of one `auth.login` entry naming the session and the provider.
fn login_audit() -> AuditWith<Session> {
    Box::new(|session| {
        let mut login = entry(Some(session.user_id), "auth.login", session.created_at);
        login.details = json!({ "session_id": session.id.to_string(), "provider": "google" });
        vec![login]
    })
}

/// An OAuth login opens the session, records the login on the user and stores its
/// audit entry; the password's failure count and lock stay as they were.
async fn an_active_user_gets_a_session_the_login_and_its_audit(db: &TestDb) {
    let users = db.store.users();
    let sessions = db.store.sessions();
    let user = db.user("p1@example.com").await;
    let policy = LockoutPolicy {
        threshold: 1,
        global_threshold: 1,
        duration: StdDuration::from_secs(900),
    };
    let failed = users.record_failed_login(user.id, SRC, policy, now(), unaudited());
    failed.await.unwrap();
    let locked = users.find_by_id(user.id).await.unwrap().unwrap();
    assert!(locked.locked_until.is_some());

    let new = new_session(user.id, 1, Duration::hours(1));
    let opened = sessions.open_without_password(new.clone(), login_audit());
    let opened = opened.await.unwrap().expect("an active user logs in");
    assert_eq!(opened.session.user_id, user.id);
    assert_eq!(opened.session.token_hash, new.token_hash);
    assert_eq!(opened.session.created_at, new.created_at);
    assert!(opened.session.is_active);
    let found = sessions.find_active_by_token_hash(&new.token_hash, now());
    let found = found.await.unwrap().expect("the session is stored");
    assert_eq!(found.session, opened.session);

    let stored = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(opened.user, stored, "the user as written");
    assert_eq!(stored.last_login_at, Some(new.created_at));
    assert_eq!(stored.failed_login_attempts, locked.failed_login_attempts);
    assert_eq!(stored.locked_until, locked.locked_until);

    let trail = db.trail().await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].entry.action, "auth.login");
    assert_eq!(trail[0].entry.user_id, Some(user.id));
    assert_eq!(
        trail[0].entry.details,
        json!({ "session_id": opened.session.id.to_string(), "provider": "google" })
    );
}

async fn a_suspended_user_gets_nothing_and_nothing_is_written(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("p2@example.com").await;
    let suspended = db.suspend(user.id, now()).await;
    let new = new_session(user.id, 1, Duration::hours(1));
    let refused = sessions.open_without_password(new.clone(), login_audit());
    assert_eq!(refused.await.unwrap(), None);
    let found = sessions.find_active_by_token_hash(&new.token_hash, now());
    assert!(found.await.unwrap().is_none(), "no session");
    let stored = db.store.users().find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored, suspended, "no login recorded");
    assert!(db.trail().await.is_empty(), "nothing audited");
}

async fn an_unknown_user_is_not_found(db: &TestDb) {
    let sessions = db.store.sessions();
    let new = new_session(UserId::new(), 1, Duration::hours(1));
    let err = sessions.open_without_password(new, login_audit()).await;
    assert!(matches!(err, Err(StoreError::NotFound)), "{err:?}");
    assert!(db.trail().await.is_empty(), "nothing audited");
}
