//! A fresh database per test: a temporary SQLite file, or a PostgreSQL database with a
//! random name created on `TEST_DATABASE_URL` and dropped when the test ends.

use auth_ports::{Email, NewUser, User, UserRepository};
use auth_sea_orm::{PoolConfig, Store};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use std::time::Duration;

/// Runs each named `async fn(&TestDb)` of the calling module once on SQLite and once on
/// PostgreSQL.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = crate::harness::TestDb::sqlite().await;
                    super::$test(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(db) = crate::harness::TestDb::postgres().await else { return };
                    super::$test(&db).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

/// One test's own database, migrated.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _cleanup: Cleanup,
}

enum Cleanup {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A migrated SQLite database in a temporary file (a file, not `:memory:`, so that
    /// several pooled connections share it and concurrency is real).
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("authd.db").display()
        );
        Self::open(url, Cleanup::Sqlite { _dir: dir }).await
    }

    /// A migrated PostgreSQL database of its own, or `None` (after saying so) when
    /// `TEST_DATABASE_URL` is unset. Under `CI=true` a skip is a failure.
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "TEST_DATABASE_URL must be set under CI: PostgreSQL tests may not be skipped"
            );
            eprintln!("skipped: TEST_DATABASE_URL is not set, PostgreSQL test not run");
            return None;
        };
        let name = format!("authd_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url.as_str()).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = with_database(&admin_url, &name);
        Some(Self::open(url, Cleanup::Postgres { admin_url, name }).await)
    }

    async fn open(url: String, cleanup: Cleanup) -> Self {
        let store = Store::connect(&PoolConfig {
            url: url.clone(),
            max_connections: 10,
            min_connections: 1,
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        })
        .await
        .unwrap();
        store.migrate_up().await.unwrap();
        Self {
            store,
            url,
            _cleanup: cleanup,
        }
    }

    /// A separate raw connection, for reading the catalog or bending time.
    pub async fn raw(&self) -> DatabaseConnection {
        Database::connect(self.url.as_str()).await.unwrap()
    }

    /// Creates an active password user with the `user` role.
    pub async fn user(&self, email: &str) -> User {
        self.store.users().create(new_user(email)).await.unwrap()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime, which cannot block on async work.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let admin = Database::connect(admin_url.as_str()).await?;
                    admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await?;
                    admin.close().await
                })?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("warning: test database could not be dropped");
            }
        }
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').unwrap();
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Now, at the microsecond precision PostgreSQL keeps, so stored times compare equal.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A password user to create, with the `user` role.
pub fn new_user(email: &str) -> NewUser {
    NewUser {
        email: Email::parse(email).unwrap(),
        password_hash: Some(auth_ports::PasswordHash::new("$argon2id$v=19$stub".into())),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email_verified: false,
        role: Some("user".into()),
        created_at: now(),
    }
}
