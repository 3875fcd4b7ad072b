//! Stores for the adapter's own unit tests.

use crate::{PoolConfig, Store};
use std::time::Duration;

/// A migrated PostgreSQL database of its own, for the adapter's tests of PostgreSQL-only
/// paths; `None` (the test skips) without `TEST_DATABASE_URL`.
pub(crate) async fn migrated_postgres() -> Option<(auth_testing::TestDatabase, Store)> {
    let database = auth_testing::TestDatabase::postgres().await?;
    let store = migrated(&database).await;
    Some((database, store))
}

/// A store on `database`, migrated.
pub(crate) async fn migrated(database: &auth_testing::TestDatabase) -> Store {
    let store = Store::connect(&PoolConfig {
        url: database.url().to_owned(),
        max_connections: 4,
        min_connections: 1,
        idle_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
    })
    .await
    .expect("the test database answers");
    store.migrate_up().await.expect("the migrations apply");
    store
}

/// A verified user with a stub password hash, created at `at`, and that hash.
pub(crate) async fn stub_user(
    store: &Store,
    email: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> (auth_ports::User, auth_ports::PasswordHash) {
    use auth_ports::UserRepository as _;
    let hash = auth_ports::PasswordHash::new("$argon2id$v=19$stub".into());
    let new_user = auth_ports::NewUser {
        email: auth_ports::Email::parse(email).expect("a valid email"),
        password_hash: Some(hash.clone()),
        first_name: None,
        last_name: None,
        email_verified: true,
        role: None,
        verification: None,
        created_at: at,
    };
    let users = store.users();
    let created = users.create(new_user, auth_testing::unaudited()).await;
    (created.expect("the user is created"), hash)
}
