//! Sessions and second factors: a login that answered a challenge opens its session
//! once, with the same checks as a login, and nothing when they fail; a step-up records
//! a fresh authentication; sessions read back when and how their user authenticated,
//! on the lookup of every request too.

use crate::audit::entry;
use crate::challenges::mfa_login;
use crate::harness::{SRC, TestDb, now, open, source, stub_hash};
use crate::sessions::new_session;
use auth_ports::{
    AuditWith, AuthMethod, ChallengeId, ChallengeKind, ChallengeRepository, LockoutPolicy,
    LoginSource, NewSession, PasswordHash, Session, SessionRepository, StoreError, UserId,
    UserRepository,
};
use auth_testing::unaudited;
use chrono::Duration;
use sea_orm::{ConnectionTrait, Statement};
use std::time::Duration as StdDuration;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    a_challenge_opens_one_session_with_its_methods,
    a_challenge_opens_nothing_when_the_login_checks_fail,
    a_passwordless_challenge_opens_a_session_without_password_checks,
    one_challenge_opened_concurrently_has_one_winner,
    a_challenge_for_an_unknown_user_is_not_found,
    logins_store_when_and_how_the_user_authenticated,
    reauthenticate_records_a_fresh_authentication,
    sessions_made_before_mfa_read_their_login_as_authentication,
);

/// An audit of one `auth.login` entry naming the session's methods.
fn login_audit() -> AuditWith<Session> {
    Box::new(|session| {
        let mut login = entry(Some(session.user_id), "auth.login", session.created_at);
        let methods: Vec<&str> = session.auth_methods.iter().map(|m| m.as_str()).collect();
        login.details = serde_json::json!({ "methods": methods });
        vec![login]
    })
}

/// A session of `user` with token `[byte; 32]` authenticated by `methods`.
fn by(user: UserId, byte: u8, methods: &[AuthMethod]) -> NewSession {
    NewSession {
        auth_methods: methods.to_vec(),
        ..new_session(user, byte, Duration::hours(1))
    }
}

/// The password as the challenge bound it, and the tests' source.
fn first_factor() -> Option<(PasswordHash, LoginSource)> {
    Some((stub_hash(), source()))
}

/// An MFA login challenge of `user`, stored; its id.
async fn challenge(db: &TestDb, user: UserId, byte: u8) -> ChallengeId {
    let challenges = db.store.challenges();
    let created = challenges.create(mfa_login(user, byte, Duration::minutes(5)));
    created.await.unwrap().id
}

async fn live(db: &TestDb, byte: u8) -> bool {
    let (challenges, hash) = (db.store.challenges(), auth_ports::TokenHash([byte; 32]));
    let found = challenges.find_live(&hash, ChallengeKind::MfaLogin, now());
    found.await.unwrap().is_some()
}

async fn a_challenge_opens_one_session_with_its_methods(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("l1@example.com").await;
    let id = challenge(db, user.id, 1).await;
    // Given out of order and twice: stored sorted, without repeats.
    let new = by(
        user.id,
        1,
        &[AuthMethod::Totp, AuthMethod::Password, AuthMethod::Totp],
    );
    let opened = sessions.open_with_challenge(id, new.clone(), first_factor(), login_audit());
    let opened = opened.await.unwrap().expect("the challenge was live");
    let session = &opened.session;
    assert_eq!(
        session.auth_methods,
        [AuthMethod::Password, AuthMethod::Totp]
    );
    assert_eq!(session.authenticated_at, new.created_at);
    assert_eq!(opened.user.last_login_at, Some(new.created_at));
    let stored = db.store.users().find_by_id(user.id).await.unwrap();
    assert_eq!(stored.as_ref(), Some(&opened.user), "the user as written");
    let found = sessions.find_active_by_token_hash(&new.token_hash, now());
    assert_eq!(&found.await.unwrap().unwrap().session, session);
    assert!(!live(db, 1).await, "the challenge is used up");
    let trail = db.trail().await;
    assert_eq!(trail.len(), 1);
    assert_eq!(
        trail[0].entry.details["methods"],
        serde_json::json!(["password", "totp"])
    );

    let again = sessions.open_with_challenge(
        id,
        by(user.id, 2, &[AuthMethod::Password]),
        first_factor(),
        login_audit(),
    );
    assert_eq!(again.await.unwrap(), None, "a used challenge opens nothing");
    let second = sessions.find_active_by_token_hash(&auth_ports::TokenHash([2; 32]), now());
    assert_eq!(second.await.unwrap(), None);
    assert_eq!(db.trail().await.len(), 1);
}

/// Each refusal leaves the challenge live, writes no session, no login and no audit.
async fn a_challenge_opens_nothing_when_the_login_checks_fail(db: &TestDb) {
    let sessions = db.store.sessions();
    let users = db.store.users();
    let user = db.user("l2@example.com").await;
    let id = challenge(db, user.id, 1).await;
    let methods = [AuthMethod::Password, AuthMethod::RecoveryCode];
    let refused = |byte: u8, first_factor: Option<(PasswordHash, LoginSource)>| {
        let sessions = db.store.sessions();
        async move {
            let new = by(user.id, byte, &methods);
            let opened = sessions.open_with_challenge(id, new.clone(), first_factor, login_audit());
            assert_eq!(opened.await.unwrap(), None, "token {byte}");
            let found = sessions.find_active_by_token_hash(&new.token_hash, now());
            assert_eq!(found.await.unwrap(), None, "token {byte}: no session");
        }
    };
    // The password changed since the challenge was made.
    let changed = PasswordHash::new("$argon2id$v=19$before-the-change".into());
    refused(1, Some((changed, source()))).await;
    // The client's source is locked out.
    let policy = LockoutPolicy {
        threshold: 1,
        global_threshold: 100,
        duration: StdDuration::from_secs(900),
    };
    let failed = users.record_failed_login(user.id, "198.51.100.9", policy, now(), unaudited());
    failed.await.unwrap();
    let locked_source = LoginSource {
        key: "198.51.100.9".into(),
        failures: 1,
    };
    refused(2, Some((stub_hash(), locked_source))).await;
    // The account is locked.
    let account = LockoutPolicy {
        global_threshold: 1,
        ..policy
    };
    let failed = users.record_failed_login(user.id, SRC, account, now(), unaudited());
    failed.await.unwrap();
    refused(3, first_factor()).await;
    let before = users.find_by_id(user.id).await.unwrap().unwrap();
    assert!(before.locked_until.is_some());
    // An inactive account, with or without a password.
    let other = db.user("l2b@example.com").await;
    let other_id = challenge(db, other.id, 2).await;
    let suspended = db.suspend(other.id, now()).await;
    for first_factor in [first_factor(), None] {
        let new = by(other.id, 4, &methods);
        let opened = sessions.open_with_challenge(other_id, new, first_factor, login_audit());
        assert_eq!(opened.await.unwrap(), None);
    }
    assert_eq!(
        users.find_by_id(other.id).await.unwrap().unwrap(),
        suspended
    );
    assert!(live(db, 2).await);

    assert!(live(db, 1).await, "the challenge is still there");
    assert_eq!(
        users.find_by_id(user.id).await.unwrap().unwrap(),
        before,
        "no login recorded"
    );
    assert!(
        sessions
            .list_active_for_user(user.id, now())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(db.trail().await.is_empty());

    // An expired challenge opens nothing either, and one used up otherwise.
    let unlocked = db.user("l2c@example.com").await;
    let mut expired = mfa_login(unlocked.id, 3, Duration::minutes(5));
    expired.expires_at = now() - Duration::seconds(1);
    let expired = db.store.challenges().create(expired).await.unwrap().id;
    let opened = sessions.open_with_challenge(
        expired,
        by(unlocked.id, 5, &methods),
        first_factor(),
        unaudited(),
    );
    assert_eq!(opened.await.unwrap(), None);
    let consumed = challenge(db, unlocked.id, 4).await;
    assert!(db.store.challenges().consume(consumed).await.unwrap());
    let opened = sessions.open_with_challenge(
        consumed,
        by(unlocked.id, 6, &methods),
        first_factor(),
        unaudited(),
    );
    assert_eq!(opened.await.unwrap(), None);
    let stored = users.find_by_id(unlocked.id).await.unwrap().unwrap();
    assert_eq!(stored.last_login_at, None);
}

/// A passkey login checks no password: a lock of the password does not stop it, an
/// inactive account does.
async fn a_passwordless_challenge_opens_a_session_without_password_checks(db: &TestDb) {
    let sessions = db.store.sessions();
    let users = db.store.users();
    let user = db.user("l3@example.com").await;
    let policy = LockoutPolicy {
        threshold: 1,
        global_threshold: 1,
        duration: StdDuration::from_secs(900),
    };
    let failed = users.record_failed_login(user.id, SRC, policy, now(), unaudited());
    failed.await.unwrap();
    let id = challenge(db, user.id, 1).await;
    let new = by(user.id, 1, &[AuthMethod::Webauthn]);
    let opened = sessions.open_with_challenge(id, new.clone(), None, login_audit());
    let opened = opened
        .await
        .unwrap()
        .expect("no password, no password lock");
    assert_eq!(opened.session.auth_methods, [AuthMethod::Webauthn]);
    assert_eq!(
        opened.user.failed_login_attempts, 1,
        "failures are left alone"
    );
    assert_eq!(opened.user.last_login_at, Some(new.created_at));
    let stored = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(
        opened.user, stored,
        "the user as written, updated_at included"
    );
    assert!(stored.updated_at >= user.updated_at);
    assert!(!live(db, 1).await);
}

async fn one_challenge_opened_concurrently_has_one_winner(db: &TestDb) {
    let user = db.user("l4@example.com").await;
    for round in 0..6u8 {
        let id = challenge(db, user.id, round).await;
        let opens = [0u8, 1].map(|i| {
            let sessions = db.store.sessions();
            let new = by(
                user.id,
                round * 2 + i,
                &[AuthMethod::Password, AuthMethod::Totp],
            );
            tokio::spawn(async move {
                let opened = sessions.open_with_challenge(id, new, first_factor(), login_audit());
                opened.await.unwrap()
            })
        });
        let mut won = Vec::new();
        for opened in opens {
            won.push(opened.await.unwrap());
        }
        assert_eq!(won.iter().flatten().count(), 1, "round {round}: {won:?}");
    }
    let sessions = db
        .store
        .sessions()
        .list_active_for_user(user.id, now())
        .await;
    assert_eq!(sessions.unwrap().len(), 6, "one session per challenge");
    assert_eq!(db.trail().await.len(), 6, "one login audited per challenge");
}

async fn a_challenge_for_an_unknown_user_is_not_found(db: &TestDb) {
    let user = db.user("l5@example.com").await;
    let id = challenge(db, user.id, 1).await;
    let sessions = db.store.sessions();
    for first_factor in [first_factor(), None] {
        let new = by(UserId::new(), 1, &[AuthMethod::Webauthn]);
        let err = sessions.open_with_challenge(id, new, first_factor, login_audit());
        let err = err.await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }
    assert!(live(db, 1).await, "nothing written");
}

/// A password login and an OAuth login store their methods and time; the lookup of every
/// request and the list read them back.
async fn logins_store_when_and_how_the_user_authenticated(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("l6@example.com").await;
    let password = open(&sessions, by(user.id, 1, &[AuthMethod::Password])).await;
    let oauth = sessions.open_without_password(by(user.id, 2, &[AuthMethod::OAuth]), unaudited());
    let oauth = oauth.await.unwrap().unwrap().session;
    for (session, methods) in [
        (&password, [AuthMethod::Password]),
        (&oauth, [AuthMethod::OAuth]),
    ] {
        assert_eq!(session.auth_methods, methods);
        assert_eq!(session.authenticated_at, session.created_at);
        let found = sessions.find_active_by_token_hash(&session.token_hash, now());
        assert_eq!(&found.await.unwrap().unwrap().session, session);
    }
    let mut listed = sessions.list_active_for_user(user.id, now()).await.unwrap();
    listed.sort_by_key(|s| s.token_hash.0);
    assert_eq!(listed, [password, oauth]);
}

async fn reauthenticate_records_a_fresh_authentication(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("l7@example.com").await;
    let mut new = by(user.id, 1, &[AuthMethod::Password]);
    new.created_at = now() - Duration::hours(2);
    let session = open(&sessions, new).await;
    let at = now();
    let audit: AuditWith<()> = Box::new(move |()| vec![entry(Some(user.id), "mfa.verify", at)]);
    let methods = vec![AuthMethod::Totp, AuthMethod::Password];
    assert!(
        sessions
            .reauthenticate(session.id, at, methods, audit)
            .await
            .unwrap()
    );
    let found = sessions.find_active_by_token_hash(&session.token_hash, now());
    let found = found.await.unwrap().unwrap().session;
    let expected = Session {
        authenticated_at: at,
        auth_methods: vec![AuthMethod::Password, AuthMethod::Totp],
        ..session.clone()
    };
    assert_eq!(found, expected, "only when and how changed");
    assert_eq!(
        sessions.list_active_for_user(user.id, now()).await.unwrap(),
        [expected]
    );
    assert_eq!(db.trail().await.len(), 1);

    // Revoked, expired or unknown: nothing written, nothing audited.
    let expired = open(&sessions, new_session(user.id, 2, Duration::seconds(-1))).await;
    let revoked = open(&sessions, new_session(user.id, 3, Duration::hours(1))).await;
    sessions
        .revoke(user.id, revoked.id, now(), unaudited())
        .await
        .unwrap();
    for id in [expired.id, revoked.id, auth_ports::SessionId::new()] {
        let audit: AuditWith<()> = Box::new(move |()| vec![entry(None, "mfa.verify", at)]);
        let refused = sessions.reauthenticate(id, now(), vec![AuthMethod::Password], audit);
        assert!(!refused.await.unwrap());
    }
    assert_eq!(db.trail().await.len(), 1);
    let revoked_now = sessions.list_active_for_user(user.id, now()).await.unwrap();
    assert_eq!(revoked_now.len(), 1);
}

/// Rows from before the MFA migration have no authentication time and no methods: they
/// read as authenticated at login, by nothing known. An unknown name is a corrupt row.
async fn sessions_made_before_mfa_read_their_login_as_authentication(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("l8@example.com").await;
    let session = open(&sessions, by(user.id, 1, &[AuthMethod::Password])).await;
    let raw = db.raw().await;
    let backend = raw.get_database_backend();
    let update = |sql: &str| {
        let statement = Statement::from_string(backend, sql.to_owned());
        let raw = &raw;
        async move { raw.execute_raw(statement).await.unwrap() }
    };
    update("UPDATE sessions SET authenticated_at = NULL, auth_methods = ''").await;
    let found = sessions.find_active_by_token_hash(&session.token_hash, now());
    let found = found.await.unwrap().unwrap().session;
    assert_eq!(found.authenticated_at, session.created_at);
    assert!(found.auth_methods.is_empty());
    update("UPDATE sessions SET auth_methods = 'password,sms'").await;
    let err = sessions
        .list_active_for_user(user.id, now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
}
