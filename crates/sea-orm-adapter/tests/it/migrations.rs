//! The schema: migrations go up, report status, come down to nothing and go up again,
//! and the catalog holds every table, index, constraint, trigger, view and function.

use crate::audit::entry;
use crate::harness::{TestDb, now};
use auth_ports::{AuditRepository, RoleRepository, UserRepository};
use chrono::Duration;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::collections::BTreeSet;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    status_lists_every_migration_applied,
    down_one_step_then_all_then_up_again,
    mfa_step_goes_down_and_up_keeping_the_sessions,
    fresh_on_a_database_in_use_starts_over,
    catalog_holds_the_schema,
);

const TABLES: [&str; 15] = [
    "audit_logs",
    "auth_challenges",
    "login_failures",
    "mail_outbox",
    "mfa_recovery_codes",
    "mfa_totp",
    "oauth_accounts",
    "oauth_flows",
    "one_time_tokens",
    "passkeys",
    "roles",
    "schema_migrations",
    "sessions",
    "user_roles",
    "users",
];

const INDEXES: [&str; 29] = [
    "idx_audit_logs_action",
    "idx_audit_logs_action_created_at",
    "idx_audit_logs_created_at",
    "idx_audit_logs_failed",
    "idx_audit_logs_ip_address",
    "idx_audit_logs_resource",
    "idx_audit_logs_user_id",
    "idx_audit_logs_user_id_created_at",
    "idx_auth_challenges_expires_at",
    "idx_auth_challenges_session_id",
    "idx_auth_challenges_user_id",
    "idx_login_failures_last_failed_at",
    "idx_mail_outbox_failed_at",
    "idx_mail_outbox_next_attempt_at",
    "idx_mfa_recovery_codes_user_id",
    "idx_oauth_flows_expires_at",
    "idx_oauth_flows_link_session_id",
    "idx_oauth_flows_link_user_id",
    "idx_one_time_tokens_expires_at",
    "idx_one_time_tokens_user_id_purpose",
    "idx_passkeys_user_id",
    "idx_sessions_expires_at",
    "idx_sessions_is_active_expires_at",
    "idx_sessions_user_id",
    "idx_sessions_user_id_is_active",
    "idx_user_roles_role_id",
    "idx_users_created_at",
    "idx_users_locked_until",
    "idx_users_status",
];

const CONSTRAINTS: [&str; 21] = [
    "users_email_key",
    "users_status_check",
    "roles_name_key",
    "sessions_token_hash_key",
    "oauth_accounts_provider_subject_key",
    "oauth_accounts_user_provider_key",
    "oauth_flows_state_hash_check",
    "oauth_flows_link_session_check",
    "one_time_tokens_token_hash_key",
    "one_time_tokens_purpose_check",
    "one_time_tokens_token_hash_check",
    "mfa_recovery_codes_user_id_code_hash_key",
    "mfa_recovery_codes_code_hash_check",
    "passkeys_credential_id_key",
    "auth_challenges_token_hash_key",
    "auth_challenges_token_hash_check",
    "auth_challenges_kind_check",
    "auth_challenges_failures_check",
    "sessions_token_hash_check",
    "mail_outbox_attempts_check",
    "mail_outbox_state_check",
];

const TRIGGERS: [&str; 3] = [
    "trg_oauth_accounts_updated_at",
    "trg_roles_updated_at",
    "trg_users_updated_at",
];

async fn strings(db: &DatabaseConnection, sql: &str) -> BTreeSet<String> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

/// Whether each known migration is applied, oldest first.
async fn applied(db: &TestDb) -> Vec<bool> {
    let status = db.store.migration_status().await.unwrap();
    status.iter().map(|m| m.applied).collect()
}

async fn tables(db: &DatabaseConnection) -> BTreeSet<String> {
    strings(
        db,
        match db.get_database_backend() {
            DbBackend::Postgres => {
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'"
            }
            _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        },
    )
    .await
}

async fn indexes(db: &DatabaseConnection) -> BTreeSet<String> {
    strings(
        db,
        match db.get_database_backend() {
            DbBackend::Postgres => {
                "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'"
            }
            _ => "SELECT name FROM sqlite_master WHERE type = 'index'",
        },
    )
    .await
}

async fn status_lists_every_migration_applied(db: &TestDb) {
    let status = db.store.migration_status().await.unwrap();
    assert_eq!(status.len(), 12);
    assert!(status.iter().all(|m| m.applied), "{status:?}");
    assert!(status[0].name.ends_with("create_users"));
}

/// The columns of `table`.
async fn columns(db: &DatabaseConnection, table: &str) -> BTreeSet<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = '{table}'"
        ),
        _ => format!("SELECT name FROM pragma_table_info('{table}')"),
    };
    strings(db, &sql).await
}

const MFA_TABLES: [&str; 4] = [
    "auth_challenges",
    "mfa_recovery_codes",
    "mfa_totp",
    "passkeys",
];

/// The MFA step down and up again on a database in use: its tables and the sessions'
/// new columns go and come back, the sessions stay, and a session from before reads
/// its login as its authentication.
async fn mfa_step_goes_down_and_up_keeping_the_sessions(db: &TestDb) {
    use auth_ports::SessionRepository;
    let raw = db.raw().await;
    let user = db.user("down@example.com").await;
    let sessions = db.store.sessions();
    let new = crate::sessions::new_session(user.id, 1, Duration::hours(1));
    let session = crate::harness::open(&sessions, new).await;
    let before: BTreeSet<String> = columns(&raw, "sessions").await;
    assert!(before.contains("authenticated_at") && before.contains("auth_methods"));

    // The mail outbox's step, then the MFA step.
    db.store.migrate_down(2).await.unwrap();
    let left = tables(&raw).await;
    assert!(MFA_TABLES.iter().all(|t| !left.contains(*t)), "{left:?}");
    assert!(left.contains("oauth_flows"));
    let mut expected = before.clone();
    expected.remove("authenticated_at");
    expected.remove("auth_methods");
    assert_eq!(columns(&raw, "sessions").await, expected);
    let count = strings(&raw, "SELECT CAST(COUNT(*) AS TEXT) FROM sessions").await;
    assert_eq!(count, BTreeSet::from(["1".to_owned()]), "the sessions stay");
    let left = indexes(&raw).await;
    for gone in [
        "idx_auth_challenges",
        "idx_passkeys",
        "idx_mfa_recovery_codes",
    ] {
        assert!(
            !left.iter().any(|index| index.starts_with(gone)),
            "{left:?}"
        );
    }

    db.store.migrate_up().await.unwrap();
    assert_eq!(columns(&raw, "sessions").await, before);
    let found = sessions.find_active_by_token_hash(&session.token_hash, now());
    let found = found.await.unwrap().unwrap().session;
    assert_eq!(
        found.authenticated_at, session.created_at,
        "read as its login"
    );
    assert!(found.auth_methods.is_empty(), "unknown before the step");
}

async fn down_one_step_then_all_then_up_again(db: &TestDb) {
    let raw = db.raw().await;
    db.store.migrate_down(1).await.unwrap();
    let status = db.store.migration_status().await.unwrap();
    assert_eq!(status.iter().filter(|m| m.applied).count(), 11);
    assert!(!status[11].applied, "the newest step is rolled back first");
    assert!(!tables(&raw).await.contains("mail_outbox"));
    assert!(tables(&raw).await.contains("passkeys"));
    let left = indexes(&raw).await;
    assert!(
        !left
            .iter()
            .any(|index| index.starts_with("idx_mail_outbox")),
        "its indexes go with it: {left:?}"
    );
    db.store.migrate_down(1).await.unwrap();
    assert!(!tables(&raw).await.contains("passkeys"));
    db.store.migrate_down(1).await.unwrap();
    assert!(!tables(&raw).await.contains("oauth_flows"));
    assert!(tables(&raw).await.contains("login_failures"));
    let left = indexes(&raw).await;
    assert!(
        !left
            .iter()
            .any(|index| index.starts_with("idx_oauth_flows")),
        "its indexes go with it: {left:?}"
    );
    db.store.migrate_down(1).await.unwrap();
    assert!(!tables(&raw).await.contains("login_failures"));
    assert!(tables(&raw).await.contains("one_time_tokens"));

    // More steps than applied: everything is rolled back.
    db.store.migrate_down(100).await.unwrap();
    assert!(applied(db).await.iter().all(|applied| !applied));
    assert_eq!(
        tables(&raw).await,
        BTreeSet::from(["schema_migrations".to_owned()])
    );
    if raw.get_database_backend() == DbBackend::Postgres {
        let leftovers = strings(
            &raw,
            "SELECT proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'public'",
        )
        .await;
        assert!(
            leftovers.is_empty(),
            "down drops the functions too: {leftovers:?}"
        );
    }

    db.store.migrate_up().await.unwrap();
    assert!(applied(db).await.into_iter().all(|applied| applied));
    assert_eq!(
        tables(&raw).await,
        TABLES.iter().map(|t| (*t).to_owned()).collect()
    );
    assert_eq!(
        db.store.roles().list().await.unwrap().len(),
        3,
        "roles seeded again"
    );
}

/// `fresh` on a migrated database with data: every row is gone, the schema is whole
/// again (sea-orm's own `fresh` dropped the tables only, and the view and functions
/// left behind made the first `up` fail).
async fn fresh_on_a_database_in_use_starts_over(db: &TestDb) {
    let raw = db.raw().await;
    let user = db.user("fresh@example.com").await;
    db.store.migrate_fresh().await.unwrap();
    let status = db.store.migration_status().await.unwrap();
    assert!(status.iter().all(|m| m.applied), "{status:?}");
    assert_eq!(
        tables(&raw).await,
        TABLES.iter().map(|t| (*t).to_owned()).collect()
    );
    assert_eq!(db.store.users().find_by_id(user.id).await.unwrap(), None);
    assert_eq!(db.store.roles().list().await.unwrap().len(), 3);
}

async fn catalog_holds_the_schema(db: &TestDb) {
    let raw = db.raw().await;
    assert_eq!(
        tables(&raw).await,
        TABLES.iter().map(|t| (*t).to_owned()).collect()
    );
    let expect = |found: &BTreeSet<String>, names: &[&str]| {
        for name in names {
            assert!(found.contains(*name), "missing {name}; found {found:?}");
        }
    };
    match raw.get_database_backend() {
        DbBackend::Postgres => {
            let indexes = indexes(&raw).await;
            expect(&indexes, &INDEXES);
            expect(
                &indexes,
                &["idx_roles_permissions", "idx_audit_logs_details"],
            );
            let gin = strings(
                &raw,
                "SELECT indexname::text FROM pg_indexes WHERE indexdef LIKE '%USING gin%'",
            )
            .await;
            assert_eq!(
                gin,
                BTreeSet::from([
                    "idx_audit_logs_details".into(),
                    "idx_roles_permissions".into()
                ])
            );
            let partial = strings(
                &raw,
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_audit_logs_failed'",
            )
            .await;
            assert!(
                partial
                    .iter()
                    .any(|d| d.contains("WHERE (success = false)")),
                "{partial:?}"
            );
            let constraints = strings(&raw, "SELECT conname::text FROM pg_constraint").await;
            expect(&constraints, &CONSTRAINTS);
            let triggers = strings(
                &raw,
                "SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal",
            )
            .await;
            expect(&triggers, &TRIGGERS);
            let views = strings(
                &raw,
                "SELECT viewname::text FROM pg_views WHERE schemaname = 'public'",
            )
            .await;
            expect(&views, &["recent_audit_activity"]);
            let types = strings(
                &raw,
                "SELECT table_name || '.' || column_name || ':' || data_type \
                 FROM information_schema.columns WHERE table_schema = 'public'",
            )
            .await;
            expect(
                &types,
                &[
                    "users.id:uuid",
                    "users.created_at:timestamp with time zone",
                    "users.oauth_providers:jsonb",
                    "sessions.ip_address:inet",
                    "audit_logs.ip_address:inet",
                    "audit_logs.details:jsonb",
                    "roles.permissions:jsonb",
                    "oauth_flows.state_hash:bytea",
                    "oauth_flows.link_user_id:uuid",
                    "oauth_flows.link_session_id:uuid",
                    "oauth_flows.expires_at:timestamp with time zone",
                    "sessions.authenticated_at:timestamp with time zone",
                    "sessions.auth_methods:text",
                    "mfa_totp.user_id:uuid",
                    "mfa_totp.sealed_secret:bytea",
                    "mfa_totp.last_used_step:bigint",
                    "mfa_recovery_codes.code_hash:bytea",
                    "passkeys.credential_id:bytea",
                    "auth_challenges.token_hash:bytea",
                    "auth_challenges.session_id:uuid",
                    "auth_challenges.failures:integer",
                    "auth_challenges.expires_at:timestamp with time zone",
                ],
            );
            // The cleanup function deletes what is older than N days, and only that.
            let audit = db.store.audit();
            audit
                .append(entry(None, "old", now() - Duration::days(91)))
                .await
                .unwrap();
            audit
                .append(entry(None, "new", now() - Duration::days(1)))
                .await
                .unwrap();
            let removed = raw
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT cleanup_old_audit_logs(90)",
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<i64>(0)
                .unwrap();
            assert_eq!(removed, 1);
        }
        _ => {
            let of_type =
                |kind: &str| format!("SELECT name FROM sqlite_master WHERE type = '{kind}'");
            expect(&indexes(&raw).await, &INDEXES);
            expect(&strings(&raw, &of_type("trigger")).await, &TRIGGERS);
            expect(
                &strings(&raw, &of_type("view")).await,
                &["recent_audit_activity"],
            );
            let ddl = strings(&raw, "SELECT sql FROM sqlite_master WHERE type = 'table'").await;
            let words: Vec<&str> = ddl.iter().flat_map(|sql| sql.split_whitespace()).collect();
            for constraint in CONSTRAINTS {
                let declared = words.windows(2).any(|w| w == ["CONSTRAINT", constraint]);
                assert!(declared, "missing {constraint}");
            }
            let partial = strings(
                &raw,
                "SELECT sql FROM sqlite_master WHERE name = 'idx_audit_logs_failed'",
            )
            .await;
            assert!(
                partial.iter().any(|d| d.contains("WHERE success = 0")),
                "{partial:?}"
            );
        }
    }
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    let err = auth_sea_orm::Store::connect(&auth_sea_orm::PoolConfig {
        url: "postgres://nobody@127.0.0.1:1/none".into(),
        max_connections: 1,
        min_connections: 0,
        idle_timeout: std::time::Duration::from_secs(1),
        connect_timeout: std::time::Duration::from_secs(2),
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, auth_ports::StoreError::Unavailable(_)),
        "{err:?}"
    );
}

/// Instances starting together on one empty database each migrate: exactly one applies
/// the schema, the others find it applied, and none fails.
async fn concurrent_start_ups_migrate_once(url: &str) {
    let config = auth_sea_orm::PoolConfig {
        url: url.to_owned(),
        max_connections: 2,
        min_connections: 0,
        idle_timeout: std::time::Duration::from_secs(10),
        connect_timeout: std::time::Duration::from_secs(10),
    };
    let instances = futures::future::join_all((0..4).map(|_| {
        let config = config.clone();
        tokio::spawn(async move {
            let store = auth_sea_orm::Store::connect(&config).await.unwrap();
            store.migrate_up().await.unwrap();
            store
        })
    }))
    .await;
    let store = instances.into_iter().next().unwrap().unwrap();
    let status = store.migration_status().await.unwrap();
    assert!(status.iter().all(|m| m.applied), "{status:?}");
    assert_eq!(
        store.roles().list().await.unwrap().len(),
        3,
        "roles seeded once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_start_ups_migrate_once_on_sqlite() {
    let db = auth_testing::TestDatabase::sqlite();
    concurrent_start_ups_migrate_once(db.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_start_ups_migrate_once_on_postgres() {
    let Some(db) = auth_testing::TestDatabase::postgres().await else {
        return;
    };
    concurrent_start_ups_migrate_once(db.url()).await;
}

/// An instance starting on a new SQLite file while another holds the file's first write
/// transaction (before the file is in WAL mode) waits for it instead of failing at once.
#[tokio::test]
async fn a_start_up_waits_for_the_first_writer_of_a_new_sqlite_file() {
    use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    use sea_orm::sqlx::{ConnectOptions as _, Executor as _};
    use std::str::FromStr as _;
    let db = auth_testing::TestDatabase::sqlite();
    let mut first = SqliteConnectOptions::from_str(db.url())
        .unwrap()
        .journal_mode(SqliteJournalMode::Delete)
        .connect()
        .await
        .unwrap();
    first.execute("BEGIN IMMEDIATE").await.unwrap();
    first.execute("CREATE TABLE other (x)").await.unwrap();
    let config = auth_sea_orm::PoolConfig {
        url: db.url().to_owned(),
        max_connections: 2,
        min_connections: 0,
        idle_timeout: std::time::Duration::from_secs(10),
        connect_timeout: std::time::Duration::from_secs(10),
    };
    let commit_later = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        first.execute("COMMIT").await.unwrap();
    };
    let (store, ()) = tokio::join!(auth_sea_orm::Store::connect(&config), commit_later);
    let store = store.expect("opened once the first writer committed");
    store.migrate_up().await.unwrap();
}

/// A SQLite file that authd creates is its owner's only (0600), and so are the `-wal`
/// and `-shm` files SQLite makes beside it; an existing file keeps its mode.
#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let mode = |name: &str| {
        let meta = std::fs::metadata(dir.path().join(name)).unwrap();
        meta.permissions().mode() & 0o777
    };
    let config = |name: &str| auth_sea_orm::PoolConfig {
        url: format!("sqlite://{}?mode=rwc", dir.path().join(name).display()),
        max_connections: 2,
        min_connections: 1,
        idle_timeout: std::time::Duration::from_secs(10),
        connect_timeout: std::time::Duration::from_secs(10),
    };
    let store = auth_sea_orm::Store::connect(&config("new.db"))
        .await
        .unwrap();
    store.migrate_up().await.unwrap();
    for name in ["new.db", "new.db-wal", "new.db-shm"] {
        assert_eq!(mode(name), 0o600, "{name}");
    }

    let existing = dir.path().join("old.db");
    std::fs::write(&existing, b"").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o640)).unwrap();
    let store = auth_sea_orm::Store::connect(&config("old.db"))
        .await
        .unwrap();
    store.migrate_up().await.unwrap();
    assert_eq!(mode("old.db"), 0o640, "an existing file is left as it is");
}
