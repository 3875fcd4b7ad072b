use super::*;
use crate::test_support::{migrated_postgres, stub_user};
use auth_ports::{
    AuditQuery, AuditRepository, MailMessage, NewUser, NewVerification, SessionId,
    SessionRepository,
};
use auth_testing::unaudited;
use chrono::DateTime;
use sea_orm::TransactionTrait as _;

/// How many audit entries the store holds (up to 10).
async fn audited(store: &crate::Store) -> usize {
    let audit = store.audit();
    let trail = audit.query(AuditQuery {
        limit: 10,
        ..AuditQuery::default()
    });
    trail.await.unwrap().len()
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: auth_ports::Email::parse(email).unwrap(),
        password_hash: Some(PasswordHash::new("$argon2id$v=19$stub".into())),
        first_name: None,
        last_name: None,
        email_verified: false,
        role: Some("user".into()),
        verification: Some(NewVerification {
            token_hash: TokenHash([9; 32]),
            expires_at: DateTime::UNIX_EPOCH,
            mail: MailMessage {
                to: auth_ports::Email::parse(email).unwrap(),
                subject: "Confirm".into(),
                text: "text".into(),
                html: "html".into(),
            },
        }),
        created_at: DateTime::UNIX_EPOCH,
    }
}

/// The statement run again after its first run committed (its connection lost before
/// the answer, so the hot lane retries) answers as the first run did, and writes
/// nothing more.
#[tokio::test]
async fn an_account_statement_run_again_after_it_committed_answers_as_it_did() {
    let Some((_database, store)) = migrated_postgres().await else {
        return;
    };
    let (db, lane) = (store.db(), &store.backend.lane);
    let account = NewAccount::new(new_user("retry@example.com"), &[]).unwrap();
    let audit = || -> AuditWith<User> {
        Box::new(|user| {
            vec![NewAuditEntry::new(
                Some(user.id),
                "user.register",
                user.created_at,
            )]
        })
    };
    let first = create_account(db, lane, account.clone(), audit());
    let first = first.await.unwrap();
    let again = create_account(db, lane, account, audit()).await;
    assert_eq!(again.unwrap(), first);
    assert_eq!(audited(&store).await, 1, "audited once");

    // Another account with the address taken is still refused.
    let other = NewAccount::new(new_user("retry@example.com"), &[]).unwrap();
    let taken = create_account(db, lane, other, unaudited()).await;
    assert!(
        matches!(taken, Err(StoreError::Conflict(Constraint::UserEmail))),
        "{taken:?}"
    );
}

/// The statement run again after its first run committed (its connection lost before
/// the answer, so the hot lane retries) answers as the first run did, and writes
/// nothing more.
#[tokio::test]
async fn a_login_statement_run_again_after_it_committed_answers_as_it_did() {
    let Some((_database, store)) = migrated_postgres().await else {
        return;
    };
    let (db, lane) = (store.db(), &store.backend.lane);
    let at = DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
    let (user, hash) = stub_user(&store, "login-retry@example.com", at).await;
    let created = Session {
        id: SessionId::new(),
        user_id: user.id,
        token_hash: TokenHash([3; 32]),
        expires_at: at + chrono::Duration::hours(1),
        ip_address: None,
        user_agent: None,
        is_active: true,
        last_accessed_at: at,
        created_at: at,
        revoked_at: None,
        authenticated_at: at,
        auth_methods: vec![auth_ports::AuthMethod::Password],
    };
    let entry = || vec![NewAuditEntry::new(Some(user.id), "auth.login", at)];
    let source = LoginSource {
        key: "192.0.2.1".into(),
        failures: 0,
    };
    let first = open_at_login(db, lane, &created, &hash, &source, entry()).await;
    let first = first.unwrap().expect("the login is recorded");
    let again = open_at_login(db, lane, &created, &hash, &source, entry()).await;
    assert_eq!(again.unwrap(), Some(first));
    let sessions = store.sessions();
    let listed = sessions.list_active_for_user(user.id, at).await.unwrap();
    assert_eq!(listed.len(), 1, "one session");
    assert_eq!(audited(&store).await, 1, "audited once");
}

/// The batched lookups' connections run on PostgreSQL's generic plan; the main pool's
/// keep the default.
#[tokio::test]
async fn only_the_batch_pool_forces_generic_plans_on_postgres() {
    let Some((_database, store)) = migrated_postgres().await else {
        return;
    };
    let show = Statement::from_string(DbBackend::Postgres, "SHOW plan_cache_mode");
    let backend = &store.backend;
    let (_, batch_lane) = backend.batch.as_ref().expect("a pool of its own");
    for (lane, expected) in [(batch_lane, "force_generic_plan"), (&backend.lane, "auto")] {
        let rows = lane.query_all(show.clone()).await.unwrap();
        let mode: String = rows[0].try_get_by_index(0).unwrap();
        assert_eq!(mode, expected);
    }
}

/// PostgreSQL's generic plan of the batch (the one a kept connection settles on) probes
/// the unique index once per token, even on a table never analyzed, where the planner
/// guesses hundreds of rows.
#[tokio::test]
async fn a_batch_probes_the_token_hash_index_for_each_token_on_postgres() {
    let Some((_database, store)) = migrated_postgres().await else {
        return;
    };
    let txn = store.db().begin().await.unwrap();
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    let sql = batch_sql().replace("$1", "$1::bytea[]");
    txn.execute_unprepared(&format!("PREPARE batch AS {sql}"))
        .await
        .unwrap();
    let plan = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "EXPLAIN EXECUTE batch('{}')",
        ))
        .await
        .unwrap();
    let plan: Vec<String> = plan
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index Cond: (token_hash = t.token_hash)"),
        "{plan}"
    );
    assert!(plan.contains("Function Scan on unnest t"), "{plan}");
    assert!(!plan.contains("Seq Scan on sessions"), "{plan}");
}
