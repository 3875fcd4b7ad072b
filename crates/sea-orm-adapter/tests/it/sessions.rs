//! The session repository contract.

use crate::audit::entry;
use crate::harness::{SRC, TestDb, now, open, source, stub_hash};
use auth_ports::{
    AuditQuery, AuditRepository, AuditWith, LockoutPolicy, NewSession, RoleRepository,
    SessionRepository, StoreError, TokenHash, UserId, UserRepository,
};
use auth_testing::{TestDatabase, unaudited};
use chrono::Duration;
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration as StdDuration;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    create_stores_every_field,
    found_with_every_column_of_session_and_user,
    found_with_the_users_roles_and_permissions_in_one_read,
    found_by_token_hash_only_while_active_and_unexpired,
    list_shows_only_live_sessions_newest_first,
    touch_writes_at_most_once_per_interval,
    revoke_is_limited_to_the_owner,
    revoke_all_ends_every_session_and_audits_the_count,
    delete_expired_removes_only_expired,
    create_for_unknown_user_is_not_found,
    writes_find_connections_among_many_lookups,
);

pub fn new_session(user_id: UserId, byte: u8, expires_in: Duration) -> NewSession {
    NewSession {
        user_id,
        token_hash: TokenHash([byte; 32]),
        expires_at: now() + expires_in,
        ip_address: Some("203.0.113.7".parse().unwrap()),
        user_agent: Some("curl/8".into()),
        created_at: now(),
        auth_methods: vec![auth_ports::AuthMethod::Password],
    }
}

async fn create_stores_every_field(db: &TestDb) {
    let user = db.user("s1@example.com").await;
    for (byte, ip) in [(1u8, "198.51.100.1"), (2, "2001:db8::1")] {
        let mut new = new_session(user.id, byte, Duration::hours(12));
        new.ip_address = Some(ip.parse::<IpAddr>().unwrap());
        let opened = db
            .store
            .sessions()
            .open_at_login(new.clone(), &stub_hash(), &source(), unaudited())
            .await
            .unwrap()
            .unwrap();
        let session = opened.session;
        assert_eq!(session.user_id, user.id);
        assert_eq!(session.token_hash, new.token_hash);
        assert_eq!(session.expires_at, new.expires_at);
        assert_eq!(
            session.ip_address, new.ip_address,
            "INET round trip of {ip}"
        );
        assert_eq!(session.user_agent.as_deref(), Some("curl/8"));
        assert!(session.is_active);
        assert_eq!(session.last_accessed_at, new.created_at);
        assert_eq!(session.revoked_at, None);
        let found = db
            .store
            .sessions()
            .find_active_by_token_hash(&new.token_hash, now())
            .await
            .unwrap();
        let found = found.unwrap();
        assert_eq!(found.session, session);
        assert_eq!(found.user, opened.user);
        let stored = db.store.users().find_by_id(user.id).await.unwrap();
        assert_eq!(stored.as_ref(), Some(&opened.user), "the user as written");
        assert_eq!(opened.user.last_login_at, Some(new.created_at));
    }
}

/// The lookup reads columns by position: every nullable time set to a different value
/// shows that none is read from its neighbour's place.
async fn found_with_every_column_of_session_and_user(db: &TestDb) {
    let users = db.store.users();
    let user = db.user("s10@example.com").await;
    let start = now();
    let at = |hours| start - Duration::hours(hours);
    let sessions = db.store.sessions();
    let mut new = new_session(user.id, 1, Duration::hours(12));
    new.created_at = at(5);
    let session = open(&sessions, new).await;
    users
        .mark_email_verified(user.id, at(3), unaudited())
        .await
        .unwrap();
    let policy = LockoutPolicy {
        threshold: 1,
        global_threshold: 1,
        duration: StdDuration::from_secs(60),
    };
    users
        .record_failed_login(user.id, SRC, policy, at(2), unaudited())
        .await
        .unwrap();
    assert!(
        sessions
            .touch(session.id, at(-1), StdDuration::ZERO)
            .await
            .unwrap()
    );

    let found = sessions
        .find_active_by_token_hash(&session.token_hash, now())
        .await
        .unwrap()
        .unwrap();
    let stored = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(found.user, stored);
    let times = [
        stored.last_login_at,
        stored.email_verified_at,
        stored.last_failed_login_at,
        stored.locked_until,
    ];
    assert!(times.iter().all(Option::is_some), "{times:?}");
    let expected = auth_ports::Session {
        last_accessed_at: at(-1),
        ..session
    };
    assert_eq!(found.session, expected);
}

async fn found_with_the_users_roles_and_permissions_in_one_read(db: &TestDb) {
    let sessions = db.store.sessions();
    let roles = db.store.roles();
    // `db.user` holds the seeded `user` role; give this one `moderator` too.
    let user = db.user("s9@example.com").await;
    let moderator = roles.find_by_name("moderator").await.unwrap().unwrap();
    db.assign(user.id, moderator.id).await;
    let session = open(&sessions, new_session(user.id, 1, Duration::hours(1))).await;
    let found = sessions
        .find_active_by_token_hash(&session.token_hash, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.roles, ["moderator", "user"]);
    let mut expected: Vec<String> = roles.permissions_of_user(user.id).await.unwrap();
    expected.sort();
    assert_eq!(found.permissions, expected);
    assert!(found.permissions.contains(&"users:suspend".to_owned()));

    // Without roles: one row with empty role columns.
    let user_role = roles.find_by_name("user").await.unwrap().unwrap();
    for role in [moderator.id, user_role.id] {
        roles
            .unassign(user.id, role, false, unaudited())
            .await
            .unwrap();
    }
    let found = sessions
        .find_active_by_token_hash(&session.token_hash, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.session, session);
    assert!(found.roles.is_empty() && found.permissions.is_empty());
}

async fn found_by_token_hash_only_while_active_and_unexpired(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("s2@example.com").await;
    let live = open(&sessions, new_session(user.id, 1, Duration::hours(1))).await;
    let expired = open(&sessions, new_session(user.id, 2, Duration::seconds(-1))).await;
    let revoked = open(&sessions, new_session(user.id, 3, Duration::hours(1))).await;
    sessions
        .revoke(user.id, revoked.id, now(), unaudited())
        .await
        .unwrap();

    let at = now();
    assert!(
        sessions
            .find_active_by_token_hash(&live.token_hash, at)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        sessions
            .find_active_by_token_hash(&expired.token_hash, at)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        sessions
            .find_active_by_token_hash(&revoked.token_hash, at)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        sessions
            .find_active_by_token_hash(&TokenHash([9; 32]), at)
            .await
            .unwrap(),
        None
    );
    // The same live session, looked up after its expiry.
    let later = live.expires_at + Duration::seconds(1);
    assert_eq!(
        sessions
            .find_active_by_token_hash(&live.token_hash, later)
            .await
            .unwrap(),
        None
    );
}

async fn list_shows_only_live_sessions_newest_first(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("s3@example.com").await;
    let other = db.user("s3-other@example.com").await;
    let mut older = new_session(user.id, 1, Duration::hours(1));
    older.created_at = now() - Duration::minutes(5);
    let older = open(&sessions, older).await;
    let newer = open(&sessions, new_session(user.id, 2, Duration::hours(1))).await;
    open(&sessions, new_session(user.id, 3, Duration::seconds(-1))).await;
    open(&sessions, new_session(other.id, 4, Duration::hours(1))).await;
    let listed = sessions.list_active_for_user(user.id, now()).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [newer.id, older.id]
    );
}

async fn touch_writes_at_most_once_per_interval(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("s4@example.com").await;
    let session = open(&sessions, new_session(user.id, 1, Duration::hours(1))).await;
    let interval = StdDuration::from_secs(60);
    let soon = session.created_at + Duration::seconds(30);
    assert!(!sessions.touch(session.id, soon, interval).await.unwrap());
    let later = session.created_at + Duration::seconds(61);
    assert!(sessions.touch(session.id, later, interval).await.unwrap());
    assert!(!sessions.touch(session.id, later, interval).await.unwrap());
    let stored = sessions
        .find_active_by_token_hash(&session.token_hash, later)
        .await
        .unwrap();
    assert_eq!(stored.unwrap().session.last_accessed_at, later);
}

async fn revoke_is_limited_to_the_owner(db: &TestDb) {
    let sessions = db.store.sessions();
    let owner = db.user("s5@example.com").await;
    let intruder = db.user("s5-intruder@example.com").await;
    let session = open(&sessions, new_session(owner.id, 1, Duration::hours(1))).await;
    let err = sessions
        .revoke(intruder.id, session.id, now(), unaudited())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound));
    assert!(
        sessions
            .find_active_by_token_hash(&session.token_hash, now())
            .await
            .unwrap()
            .is_some()
    );

    let at = now();
    sessions
        .revoke(owner.id, session.id, at, unaudited())
        .await
        .unwrap();
    assert!(matches!(
        sessions.revoke(owner.id, session.id, at, unaudited()).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        sessions
            .list_active_for_user(owner.id, at)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn revoke_all_ends_every_session_and_audits_the_count(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("s6@example.com").await;
    for byte in 1..5 {
        open(&sessions, new_session(user.id, byte, Duration::hours(1))).await;
    }
    let audit: AuditWith<u64> = Box::new(move |revoked| {
        let mut logout = entry(Some(user.id), "auth.logout", now());
        logout.details = json!({ "revoked": revoked });
        vec![logout]
    });
    assert_eq!(
        sessions
            .revoke_all_for_user(user.id, now(), audit)
            .await
            .unwrap(),
        4
    );
    assert!(
        sessions
            .list_active_for_user(user.id, now())
            .await
            .unwrap()
            .is_empty()
    );
    let audit = db.store.audit();
    let trail = audit.query(AuditQuery {
        user_id: Some(user.id),
        limit: 10,
        ..AuditQuery::default()
    });
    let trail = trail.await.unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].entry.details, json!({ "revoked": 4 }));
}

async fn delete_expired_removes_only_expired(db: &TestDb) {
    let sessions = db.store.sessions();
    let user = db.user("s7@example.com").await;
    let live = open(&sessions, new_session(user.id, 1, Duration::hours(1))).await;
    open(&sessions, new_session(user.id, 2, Duration::seconds(-10))).await;
    open(&sessions, new_session(user.id, 3, Duration::seconds(-20))).await;
    assert_eq!(sessions.delete_expired(now()).await.unwrap(), 2);
    assert_eq!(sessions.delete_expired(now()).await.unwrap(), 0);
    assert!(
        sessions
            .find_active_by_token_hash(&live.token_hash, now())
            .await
            .unwrap()
            .is_some()
    );
}

async fn create_for_unknown_user_is_not_found(db: &TestDb) {
    let err = db
        .store
        .sessions()
        .open_at_login(
            new_session(UserId::new(), 1, Duration::hours(1)),
            &stub_hash(),
            &source(),
            unaudited(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

/// Lookups keep at most half the pool's connections (5 of 10 here): with many
/// concurrent lookups, writes still find connections.
async fn writes_find_connections_among_many_lookups(db: &TestDb) {
    let user = db.user("s10@example.com").await;
    let new = new_session(user.id, 10, Duration::hours(1));
    open(&db.store.sessions(), new.clone()).await;
    let lookups = (0..40).map(|_| {
        let sessions = db.store.sessions();
        let hash = new.token_hash;
        async move { sessions.find_active_by_token_hash(&hash, now()).await }
    });
    let writes = (11..16).map(|byte| {
        let sessions = db.store.sessions();
        let new = new_session(user.id, byte, Duration::hours(1));
        async move {
            let hash = stub_hash();
            sessions
                .open_at_login(new, &hash, &source(), unaudited())
                .await
        }
    });
    let (found, written) = tokio::join!(
        futures::future::join_all(lookups),
        futures::future::join_all(writes)
    );
    for found in found {
        assert_eq!(found.unwrap().unwrap().session.user_id, user.id);
    }
    for written in written {
        written.unwrap();
    }
}

/// A kept connection whose server process went away (a restart, a pooler's reap) is
/// replaced without the request seeing an error.
#[tokio::test]
async fn a_broken_kept_connection_is_replaced_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let db = TestDb::open(database).await;
    let user = db.user("s11@example.com").await;
    let new = new_session(user.id, 11, Duration::hours(1));
    let sessions = db.store.sessions();
    open(&sessions, new.clone()).await;
    let lookups = (0..5).map(|_| sessions.find_active_by_token_hash(&new.token_hash, now()));
    for found in futures::future::join_all(lookups).await {
        assert!(found.unwrap().is_some());
    }
    let raw = db.raw().await;
    use sea_orm::ConnectionTrait as _;
    let killed = raw
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) AS killed \
             FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "killed")
        .unwrap();
    assert!(killed >= 1, "the kept connections were terminated");
    for _ in 0..10 {
        let found = sessions
            .find_active_by_token_hash(&new.token_hash, now())
            .await;
        assert!(found.unwrap().is_some());
    }
}

/// With a pool of one connection nothing is kept for lookups: writes still get it.
async fn a_pool_of_one_keeps_nothing_for_lookups(database: TestDatabase) {
    let db = TestDb::open_with(database, 1).await;
    let user = db.user("s12@example.com").await;
    let sessions = db.store.sessions();
    for byte in 20..23 {
        let new = new_session(user.id, byte, Duration::hours(1));
        open(&sessions, new.clone()).await;
        let found = sessions.find_active_by_token_hash(&new.token_hash, now());
        assert!(found.await.unwrap().is_some());
    }
}

#[tokio::test]
async fn a_pool_of_one_keeps_nothing_for_lookups_on_sqlite() {
    a_pool_of_one_keeps_nothing_for_lookups(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn a_pool_of_one_keeps_nothing_for_lookups_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        a_pool_of_one_keeps_nothing_for_lookups(database).await;
    }
}

/// Many lookups at once (asked together in batches, by one asker here)
/// each find what a lone lookup of their token finds: their own session, user and
/// roles, or nothing for a revoked, expired or unknown token, also when several
/// lookups share a token.
async fn concurrent_lookups_each_find_their_own_session(database: TestDatabase) {
    let db = TestDb::open_with(database, 2).await;
    let sessions = db.store.sessions();
    let roles = db.store.roles();
    let moderator = roles.find_by_name("moderator").await.unwrap().unwrap();
    let mut tokens = vec![TokenHash([99; 32])];
    for n in 0..6u8 {
        let user = db.user(&format!("c{n}@example.com")).await;
        if n % 2 == 0 {
            db.assign(user.id, moderator.id).await;
        }
        let live = open(&sessions, new_session(user.id, 30 + n, Duration::hours(1))).await;
        let expired = open(
            &sessions,
            new_session(user.id, 40 + n, Duration::seconds(-1)),
        )
        .await;
        let revoked = open(&sessions, new_session(user.id, 50 + n, Duration::hours(1))).await;
        sessions
            .revoke(user.id, revoked.id, now(), unaudited())
            .await
            .unwrap();
        tokens.extend([live.token_hash, expired.token_hash, revoked.token_hash]);
    }
    let mut alone = Vec::new();
    for token in &tokens {
        alone.push(
            sessions
                .find_active_by_token_hash(token, now())
                .await
                .unwrap(),
        );
    }
    assert_eq!(alone.iter().filter(|found| found.is_some()).count(), 6);
    let rounds = 4;
    let together = (0..rounds).flat_map(|_| &tokens).map(|token| {
        let sessions = db.store.sessions();
        async move { sessions.find_active_by_token_hash(token, now()).await }
    });
    let together = futures::future::join_all(together).await;
    for (at, found) in together.into_iter().enumerate() {
        assert_eq!(found.unwrap(), alone[at % tokens.len()], "lookup {at}");
    }
}

#[tokio::test]
async fn concurrent_lookups_each_find_their_own_session_on_sqlite() {
    concurrent_lookups_each_find_their_own_session(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn concurrent_lookups_each_find_their_own_session_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        concurrent_lookups_each_find_their_own_session(database).await;
    }
}
