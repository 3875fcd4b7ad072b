//! A fresh, migrated database per test (see `auth-testing`) and helpers to fill it.

use auth_ports::{
    AuditEntry, AuditQuery, AuditRepository, Email, MailMessage, NewSession, NewUser, PasswordHash,
    RoleId, RoleRepository, Session, SessionId, SessionRepository, User, UserId, UserRepository,
    UserStatus, UserUpdate,
};
use auth_sea_orm::{PoolConfig, Store};
use auth_testing::TestDatabase;
use auth_testing::unaudited;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{Database, DatabaseConnection};
use std::time::Duration;

/// A message to `to` with `subject`, its bodies naming the subject too.
pub fn mail(to: &str, subject: &str) -> MailMessage {
    MailMessage {
        to: Email::parse(to).unwrap(),
        subject: subject.to_owned(),
        text: format!("text of {subject}"),
        html: format!("<p>html of {subject}</p>"),
    }
}

/// One test's own database, migrated.
pub struct TestDb {
    pub store: Store,
    database: TestDatabase,
}

impl TestDb {
    /// Connects to the fresh database with a pool of 10 and migrates it.
    pub async fn open(database: TestDatabase) -> Self {
        Self::open_with(database, 10).await
    }

    /// Connects to the fresh database with a pool of `max_connections` and migrates it.
    pub async fn open_with(database: TestDatabase, max_connections: u32) -> Self {
        let store = Store::connect(&PoolConfig {
            url: database.url().to_owned(),
            max_connections,
            min_connections: 1,
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        })
        .await
        .unwrap();
        store.migrate_up().await.unwrap();
        Self { store, database }
    }

    /// A separate raw connection, for reading the catalog.
    pub async fn raw(&self) -> DatabaseConnection {
        Database::connect(self.database.url()).await.unwrap()
    }

    /// Every audit entry (up to 100), sorted by action.
    pub async fn trail(&self) -> Vec<AuditEntry> {
        let audit = self.store.audit();
        let query = AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        };
        let mut trail = audit.query(query).await.unwrap();
        trail.sort_by(|a, b| a.entry.action.cmp(&b.entry.action));
        trail
    }

    /// The names of `user`'s roles.
    pub async fn role_names(&self, user: UserId) -> Vec<String> {
        let roles = self.store.roles().roles_of_user(user).await.unwrap();
        roles.into_iter().map(|role| role.name).collect()
    }

    /// Gives `user` the role, unaudited and by no one; whether it was new.
    pub async fn assign(&self, user: UserId, role: RoleId) -> bool {
        let roles = self.store.roles();
        let assigned = roles.assign(user, role, None, now(), unaudited());
        assigned.await.unwrap()
    }

    /// Suspends `user` at `at`, unaudited; the user as stored then.
    pub async fn suspend(&self, user: UserId, at: DateTime<Utc>) -> User {
        let suspend = UserUpdate {
            status: Some(UserStatus::Suspended),
            ..UserUpdate::default()
        };
        let users = self.store.users();
        users.update(user, suspend, at, unaudited()).await.unwrap()
    }

    /// `n` new users `{prefix}-{i}@example.com`, each holding `role`.
    pub async fn holders(&self, prefix: &str, n: usize, role: RoleId) -> Vec<UserId> {
        let mut holders = Vec::with_capacity(n);
        for i in 0..n {
            let user = self.user(&format!("{prefix}-{i}@example.com")).await;
            self.assign(user.id, role).await;
            holders.push(user.id);
        }
        holders
    }

    /// The ids of `user`'s active sessions at `now`, newest first.
    pub async fn active_sessions(&self, user: UserId, now: DateTime<Utc>) -> Vec<SessionId> {
        let sessions = self.store.sessions().list_active_for_user(user, now).await;
        sessions.unwrap().into_iter().map(|s| s.id).collect()
    }

    /// Creates an active password user with the `user` role.
    pub async fn user(&self, email: &str) -> User {
        self.store
            .users()
            .create(new_user(email), unaudited())
            .await
            .unwrap()
    }
}

/// The client source the tests' failures and logins come from.
pub const SRC: &str = "192.0.2.1";

/// [`SRC`] as a login from it sees it, with no failures on record.
pub fn source() -> auth_ports::LoginSource {
    auth_ports::LoginSource {
        key: SRC.to_owned(),
        failures: 0,
    }
}

/// Opens a session as a login does (unaudited); the user must not be locked.
pub async fn open(sessions: &impl SessionRepository, new: NewSession) -> Session {
    sessions
        .open_at_login(new, &stub_hash(), &source(), unaudited())
        .await
        .unwrap()
        .expect("the user is not locked")
        .session
}

/// Now, at the microsecond precision PostgreSQL keeps, so stored times compare equal.
#[allow(clippy::disallowed_methods)] // the tests' own clock
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The password hash of the users of [`new_user`].
pub fn stub_hash() -> PasswordHash {
    PasswordHash::new("$argon2id$v=19$stub".into())
}

/// A password user to create, with the `user` role.
pub fn new_user(email: &str) -> NewUser {
    NewUser {
        email: Email::parse(email).unwrap(),
        password_hash: Some(stub_hash()),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email_verified: false,
        role: Some("user".into()),
        verification: None,
        created_at: now(),
    }
}
