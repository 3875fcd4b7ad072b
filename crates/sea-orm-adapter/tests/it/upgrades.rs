//! A store that served on the schema before the MFA step and then applied it in-process
//! (as `serve` with auto-migrate does on an older database) serves the new session
//! columns on every connection it had already used. SQLite keeps prepared statements
//! per connection, and a pool that had prepared statements before a step that added a
//! column was once seen failing later `… RETURNING` statements.

use crate::harness::{SRC, TestDb, now, source, stub_hash};
use crate::sessions::new_session;
use auth_ports::{
    AuthMethod, LockoutPolicy, NewSession, SessionRepository, TokenHash, UserId, UserRepository,
};
use auth_testing::unaudited;
use chrono::Duration;
use std::time::Duration as StdDuration;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    a_store_migrated_in_process_serves_the_new_session_columns,
);

/// The writes and reads a running instance makes that the older schema serves, on
/// several connections at once.
async fn serve_the_older_schema(db: &TestDb, user: UserId) {
    let policy = LockoutPolicy {
        threshold: 100,
        global_threshold: 100,
        duration: StdDuration::from_secs(60),
    };
    let rounds = (0..8).map(|i| {
        let (users, sessions) = (db.store.users(), db.store.sessions());
        tokio::spawn(async move {
            let email = format!("old-{i}@example.com");
            let new_user = crate::harness::new_user(&email);
            users.create(new_user, unaudited()).await.unwrap();
            let failed = users.record_failed_login(user, SRC, policy, now(), unaudited());
            failed.await.unwrap();
            users.find_by_id(user).await.unwrap().unwrap();
            let id = auth_ports::SessionId::new();
            sessions.touch(id, now(), StdDuration::ZERO).await.unwrap();
            sessions
                .revoke_all_for_user(user, now(), unaudited())
                .await
                .unwrap();
            sessions.delete_expired(now()).await.unwrap();
            // What reads the new columns fails on the older schema (and is not kept).
            let token = TokenHash([i; 32]);
            let lookup = sessions.find_active_by_token_hash(&token, now());
            assert!(lookup.await.is_err());
        })
    });
    for round in rounds.collect::<Vec<_>>() {
        round.await.unwrap();
    }
}

/// Logins (token bytes `first..first + 8`, eight at once) that write and read the new
/// session columns and step up; each ends with the session as stored.
async fn logins_with_the_new_columns(db: &TestDb, user: UserId, first: u8) {
    let logins = (first..first + 8).map(|i| {
        let sessions = db.store.sessions();
        let new = NewSession {
            auth_methods: vec![AuthMethod::Password],
            ..new_session(user, i, Duration::hours(1))
        };
        tokio::spawn(async move {
            let (mut src, hash) = (source(), stub_hash());
            src.failures = 1;
            let opened = sessions.open_at_login(new, &hash, &src, unaudited());
            let opened = opened.await.unwrap().expect("not locked").session;
            let found = sessions.find_active_by_token_hash(&opened.token_hash, now());
            assert_eq!(found.await.unwrap().unwrap().session, opened);
            let at = now();
            let methods = vec![AuthMethod::Password, AuthMethod::Totp];
            let stepped = sessions.reauthenticate(opened.id, at, methods, unaudited());
            assert!(stepped.await.unwrap());
            let found = sessions.find_active_by_token_hash(&opened.token_hash, now());
            let found = found.await.unwrap().unwrap().session;
            assert_eq!(found.authenticated_at, at);
            assert_eq!(found.auth_methods, [AuthMethod::Password, AuthMethod::Totp]);
        })
    });
    for login in logins.collect::<Vec<_>>() {
        login.await.unwrap();
    }
}

/// The statements of the new columns prepared first, then the step taken down (the
/// columns dropped, with the mail outbox's step after it) and the older schema served,
/// then the steps applied again: every connection serves the new columns.
async fn a_store_migrated_in_process_serves_the_new_session_columns(db: &TestDb) {
    let user = db.user("upgrade@example.com").await;
    logins_with_the_new_columns(db, user.id, 0).await;
    db.store.migrate_down(2).await.unwrap();
    serve_the_older_schema(db, user.id).await;
    db.store.migrate_up().await.unwrap();
    logins_with_the_new_columns(db, user.id, 8).await;

    let sessions = db.store.sessions();
    let oauth = NewSession {
        auth_methods: vec![AuthMethod::OAuth],
        ..new_session(user.id, 100, Duration::hours(1))
    };
    let opened = sessions
        .open_without_password(oauth, unaudited())
        .await
        .unwrap();
    assert_eq!(opened.unwrap().session.auth_methods, [AuthMethod::OAuth]);
    let listed = sessions.list_active_for_user(user.id, now()).await.unwrap();
    assert_eq!(
        listed.len(),
        9,
        "the older schema's revocation ended the first eight"
    );
    let stored = db.store.users().find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.failed_login_attempts, 0);
}
