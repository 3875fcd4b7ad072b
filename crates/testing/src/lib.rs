//! Test support: every test gets a database of its own, so tests never share state. A
//! SQLite database is a temporary file; a PostgreSQL one is created with a random name
//! on the server of `TEST_DATABASE_URL` and dropped (forcibly) when the test ends. And
//! second factors as a user has them: TOTP codes and a software passkey authenticator.

mod totp;
mod webauthn;

pub use totp::totp_code;
pub use webauthn::{SoftAuthenticator, SoftAuthenticatorError};

use auth_ports::AuditWith;
use sea_orm::{ConnectionTrait, Database};

/// An audit for test set-up writes that need no entry.
#[must_use]
pub fn unaudited<T>() -> AuditWith<T> {
    Box::new(|_| Vec::new())
}

/// A database that exists for as long as this value lives.
pub struct TestDatabase {
    url: String,
    backing: Backing,
}

enum Backing {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A new, empty SQLite database file in a temporary directory (a file rather than
    /// `:memory:`, so pooled connections share it and concurrency is real).
    ///
    /// # Panics
    /// When no temporary directory can be made.
    #[allow(clippy::expect_used)]
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("authd.db").display()
        );
        Self {
            url,
            backing: Backing::Sqlite { _dir: dir },
        }
    }

    /// A new, empty PostgreSQL database on the server of `TEST_DATABASE_URL`. When that is
    /// unset, prints that the test is skipped and returns `None`; under `CI=true`
    /// a skip is not allowed and this panics instead.
    ///
    /// # Panics
    /// Under `CI=true` without `TEST_DATABASE_URL`, or when the database cannot be made.
    #[allow(clippy::expect_used, clippy::panic)]
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "TEST_DATABASE_URL must be set under CI: PostgreSQL tests may not be skipped"
                );
            }
            eprintln!("skipped: TEST_DATABASE_URL is not set, so this PostgreSQL test did not run");
            return None;
        };
        let name = format!("authd_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url.as_str())
            .await
            .expect("TEST_DATABASE_URL answers");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("a test database can be created");
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Some(Self {
            url,
            backing: Backing::Postgres { admin_url, name },
        })
    }

    /// The connection URL of this database.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Backing::Postgres { admin_url, name } = &self.backing else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop may run inside the test's runtime, which cannot block on async work: use a
        // thread with a runtime of its own.
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
            eprintln!("warning: test database {} could not be dropped", self.url);
        }
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Runs each named `async fn(&Fixture)` of the calling module twice: on SQLite and on
/// PostgreSQL. `Fixture` must have `async fn open(TestDatabase) -> Self`. The PostgreSQL
/// run is skipped (with a message) when `TEST_DATABASE_URL` is unset, unless `CI=true`.
///
/// ```ignore
/// auth_testing::on_both_backends!(crate::harness::TestDb; creates_a_user, deletes_a_user);
/// ```
#[macro_export]
macro_rules! on_both_backends {
    ($fixture:ty; $($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let fixture = <$fixture>::open($crate::TestDatabase::sqlite()).await;
                    super::$test(&fixture).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(database) = $crate::TestDatabase::postgres().await else { return };
                    let fixture = <$fixture>::open(database).await;
                    super::$test(&fixture).await;
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_name() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
