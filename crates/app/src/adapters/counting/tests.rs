//! The decorators over a real SQLite store: only what the store did is counted.

use super::*;
use crate::adapters::SystemClock;
use auth_ports::{Clock as _, RevokeSessions};
use auth_sea_orm::{PoolConfig, Store};
use auth_testing::{TestDatabase, unaudited};

/// A migrated store on a fresh SQLite file, with the decorators over it.
struct Counted {
    users: CountingUserRepository<auth_sea_orm::SeaOrmUserRepository>,
    sessions: CountingSessionRepository<auth_sea_orm::SeaOrmSessionRepository>,
    counters: AuthCounters,
    now: DateTime<Utc>,
    _database: TestDatabase,
}

impl Counted {
    async fn open() -> Self {
        let database = TestDatabase::sqlite();
        let store = Store::connect(&PoolConfig {
            url: database.url().to_owned(),
            max_connections: 2,
            min_connections: 1,
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        })
        .await
        .unwrap();
        store.migrate_up().await.unwrap();
        let counters = AuthCounters::default();
        Self {
            users: CountingUserRepository::new(store.users(), counters.clone()),
            sessions: CountingSessionRepository::new(store.sessions(), counters.clone()),
            counters,
            now: SystemClock::new().now(),
            _database: database,
        }
    }

    async fn user(&self, email: &str) -> User {
        let new = NewUser {
            email: Email::parse(email).unwrap(),
            password_hash: Some(hash()),
            first_name: None,
            last_name: None,
            email_verified: true,
            role: None,
            verification: None,
            created_at: self.now,
        };
        self.users.create(new, unaudited()).await.unwrap()
    }

    /// Opens a session of `user` as a password login does; `None` when refused.
    async fn login(&self, user: &User) -> Option<Session> {
        let new = NewSession {
            user_id: user.id,
            token_hash: token_hash(),
            expires_at: self.now + chrono::Duration::hours(1),
            ip_address: None,
            user_agent: None,
            created_at: self.now,
            auth_methods: vec![AuthMethod::Password],
        };
        let source = LoginSource {
            key: "192.0.2.1".into(),
            failures: 0,
        };
        let verified = hash();
        let opened = self
            .sessions
            .open_at_login(new, &verified, &source, unaudited());
        opened.await.unwrap().map(|opened| opened.session)
    }

    fn created(&self) -> u64 {
        self.counters.sessions_created.get()
    }

    fn revoked(&self) -> u64 {
        self.counters.sessions_revoked.get()
    }

    fn lockouts(&self, scope: LockScope) -> u64 {
        let lockouts = &self.counters.lockouts;
        lockouts.get_or_create(&Lockout::of(scope)).get()
    }
}

fn hash() -> PasswordHash {
    PasswordHash::new("$argon2id$v=19$stub".into())
}

/// A token hash no other session has: 16 random bytes.
fn token_hash() -> TokenHash {
    let mut hash = [0; 32];
    hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    TokenHash(hash)
}

#[tokio::test]
async fn opened_sessions_are_counted_and_refused_ones_are_not() {
    let store = Counted::open().await;
    let user = store.user("ada@example.com").await;
    assert!(store.login(&user).await.is_some());
    assert!(store.login(&user).await.is_some());
    assert_eq!(store.created(), 2);

    let suspend = UserUpdate {
        status: Some(auth_ports::UserStatus::Suspended),
        ..UserUpdate::default()
    };
    store
        .users
        .update(user.id, suspend, store.now, unaudited())
        .await
        .unwrap();
    assert!(store.login(&user).await.is_none(), "suspended");
    assert_eq!(store.created(), 2);
}

#[tokio::test]
async fn revoked_sessions_are_counted_as_the_store_reports_them() {
    let store = Counted::open().await;
    let user = store.user("ada@example.com").await;
    let mut sessions = Vec::new();
    for _ in 0..5 {
        sessions.push(store.login(&user).await.unwrap());
    }

    let (first, kept) = (sessions[0].id, sessions[1].id);
    let revoke = store
        .sessions
        .revoke(user.id, first, store.now, unaudited());
    revoke.await.unwrap();
    assert_eq!(store.revoked(), 1);
    let again = store
        .sessions
        .revoke(user.id, first, store.now, unaudited());
    assert!(matches!(again.await, Err(StoreError::NotFound)));
    assert_eq!(store.revoked(), 1, "nothing revoked the second time");

    // A password change ends the three other sessions still active.
    let change = PasswordChange {
        hash: PasswordHash::new("$argon2id$v=19$other".into()),
        revoke: RevokeSessions::AllExcept(kept),
        clear_lockout: false,
        notice: None,
    };
    let changed = store
        .users
        .change_password(user.id, change, store.now, unaudited());
    assert_eq!(changed.await.unwrap(), 3);
    assert_eq!(store.revoked(), 4);

    let all = store
        .sessions
        .revoke_all_for_user(user.id, store.now, unaudited());
    assert_eq!(all.await.unwrap(), 1);
    assert_eq!(store.revoked(), 5);
}

#[tokio::test]
async fn a_lock_is_counted_once_by_its_scope() {
    let store = Counted::open().await;
    let user = store.user("ada@example.com").await;
    let policy = LockoutPolicy {
        threshold: 2,
        global_threshold: 3,
        duration: Duration::from_secs(900),
    };
    let fail = |source: &'static str| {
        store
            .users
            .record_failed_login(user.id, source, policy, store.now, unaudited())
    };
    assert!(matches!(
        fail("a").await.unwrap(),
        FailedLogin::Counted { locked: None, .. }
    ));
    assert_eq!(store.lockouts(LockScope::Source), 0);
    fail("a").await.unwrap();
    assert_eq!(store.lockouts(LockScope::Source), 1);
    assert!(matches!(
        fail("a").await.unwrap(),
        FailedLogin::AlreadyLocked { .. }
    ));
    assert_eq!(store.lockouts(LockScope::Source), 1, "locked already");

    // The third failure on record, from another source, locks the account.
    fail("b").await.unwrap();
    assert_eq!(store.lockouts(LockScope::Account), 1);
    assert_eq!(store.lockouts(LockScope::Source), 1);
}
