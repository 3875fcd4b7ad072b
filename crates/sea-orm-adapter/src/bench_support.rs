//! A large, realistic audit trail on PostgreSQL and the plans of the audit queries over
//! it, shared by the `audit_queries` example (timings) and the plan test (indexes).
//! Behind the `bench-support` feature, so production builds do not carry it.

use crate::Store;
use auth_ports::{AuditCursor, AuditEntryId, AuditQuery, UserId};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, PaginatorTrait, QueryTrait, Statement, TransactionTrait,
};
use uuid::Uuid;

/// Newest possible entry of the seeded trail: a fixed instant, so runs are comparable.
const SEED_END: DateTime<Utc> = DateTime::from_timestamp_nanos(1_767_225_600_000_000_000);

/// Users `1..=$2` get the ids `Uuid::from_u128(n)`, so queries can name them.
const SEED_USERS: &str = "
INSERT INTO users (id, email, created_at)
SELECT lpad(to_hex(n), 32, '0')::uuid, 'bench-' || n || '@example.com', $1 - interval '1 year'
FROM generate_series(1, $2) AS n";

/// `$2` entries over the 90 days before `$1`, by `$3` users. User rank `r` has about
/// `1/(2·sqrt(r·users))` of the entries (the busiest about 1% at 10,000 users) and 2% are
/// anonymous; actions are skewed (`auth.login` about 37%, `role.delete` under 2%); 5%
/// failed, with a reason; client addresses come from 10.0.0.0/16.
const SEED_ENTRIES: &str = r#"
INSERT INTO audit_logs (user_id, action, resource_type, resource_id, ip_address, user_agent,
                        details, success, error_message, created_at)
SELECT user_id, action, 'user', user_id::text, ip_address, user_agent,
       CASE WHEN success THEN '{}' ELSE '{"reason": "invalid_credentials"}' END::jsonb,
       success, CASE WHEN success THEN NULL ELSE 'invalid credentials' END, created_at
FROM (
    SELECT CASE WHEN random() < 0.02 THEN NULL
                ELSE lpad(to_hex(1 + floor($3 * power(random(), 2))::bigint), 32, '0')::uuid
           END AS user_id,
           (ARRAY['auth.login', 'auth.logout', 'session.revoke', 'user.update',
                  'password.change', 'email.verify', 'user.register', 'password.reset.request',
                  'password.reset', 'oauth.link', 'oauth.unlink', 'auth.lockout',
                  'user.suspend', 'user.unlock', 'user.delete', 'role.assign',
                  'role.unassign', 'role.create', 'role.update', 'role.delete']
           )[1 + floor(20 * power(random(), 3))::int] AS action,
           random() >= 0.05 AS success,
           '10.0.0.0'::inet + floor(random() * 65536)::bigint AS ip_address,
           (ARRAY['Mozilla/5.0 (X11; Linux x86_64)', 'Mozilla/5.0 (Macintosh)', 'curl/8.5.0']
           )[1 + floor(random() * 3)::int] AS user_agent,
           $1 - random() * interval '90 days' AS created_at
    FROM generate_series(1, $2)
) AS entries"#;

/// A seeded audit trail of `rows` entries by `rows / 100` users.
#[derive(Clone, Copy, Debug)]
pub struct AuditSeed {
    /// Number of entries.
    pub rows: u32,
    /// Number of users.
    pub users: u32,
}

impl AuditSeed {
    /// A trail of `rows` entries, about 100 per user on average.
    #[must_use]
    pub fn new(rows: u32) -> Self {
        Self {
            rows,
            users: (rows / 100).max(1),
        }
    }

    /// Inserts the users and entries with two server-side statements (a fixed random seed,
    /// so every run makes the same data) and updates the planner statistics.
    ///
    /// # Errors
    /// The database error; nothing is inserted then.
    pub async fn insert(&self, store: &Store) -> Result<(), DbErr> {
        let pg = |sql: &str, values: Vec<sea_orm::Value>| {
            Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
        };
        let (rows, users) = (i64::from(self.rows), i64::from(self.users));
        let txn = store.db().begin().await?;
        // random() continues from setseed within the session, i.e. this transaction.
        txn.execute_unprepared("SELECT setseed(0.5)").await?;
        txn.execute_raw(pg(SEED_USERS, vec![SEED_END.into(), users.into()]))
            .await?;
        txn.execute_raw(pg(
            SEED_ENTRIES,
            vec![SEED_END.into(), rows.into(), users.into()],
        ))
        .await?;
        txn.commit().await?;
        store
            .db()
            .execute_unprepared("ANALYZE users, audit_logs")
            .await?;
        Ok(())
    }

    /// The measured queries, with a label: one user's entries (the busiest user's and a
    /// typical one's) and one action in a week, newest 50 first as the admin API asks.
    #[must_use]
    pub fn queries(&self) -> Vec<(String, AuditQuery)> {
        let page = AuditQuery {
            limit: 50,
            ..AuditQuery::default()
        };
        let user = |rank: u32| Some(UserId(Uuid::from_u128(u128::from(rank))));
        let typical = (self.users / 2).max(1);
        vec![
            (
                "user_id = busiest user".into(),
                AuditQuery {
                    user_id: user(1),
                    ..page.clone()
                },
            ),
            (
                format!("user_id = typical user (rank {typical})"),
                AuditQuery {
                    user_id: user(typical),
                    ..page.clone()
                },
            ),
            (
                "action = 'auth.login', created_at in one week".into(),
                AuditQuery {
                    action: Some("auth.login".into()),
                    from: Some(SEED_END - TimeDelta::days(30)),
                    to: Some(SEED_END - TimeDelta::days(23)),
                    ..page.clone()
                },
            ),
            // Pages far down a listing: the cursor must bound the index scan.
            (
                "user_id = busiest user, page after 60 days".into(),
                AuditQuery {
                    user_id: user(1),
                    after: Some(deep_cursor(60)),
                    ..page.clone()
                },
            ),
            (
                "action = 'auth.login', one week, page after 4 days".into(),
                AuditQuery {
                    action: Some("auth.login".into()),
                    from: Some(SEED_END - TimeDelta::days(30)),
                    to: Some(SEED_END - TimeDelta::days(23)),
                    after: Some(deep_cursor(26)),
                    ..page
                },
            ),
        ]
    }
}

/// A cursor `days` before the end of the seeded period.
fn deep_cursor(days: i64) -> AuditCursor {
    AuditCursor {
        created_at: SEED_END - TimeDelta::days(days),
        id: AuditEntryId(i64::MAX),
    }
}

/// How many entries match `query`'s filters, beyond its page.
///
/// # Errors
/// The database error.
pub async fn matching(store: &Store, query: AuditQuery) -> Result<u64, DbErr> {
    let unlimited = AuditQuery {
        limit: u32::MAX,
        ..query
    };
    crate::audit::select(unlimited).count(store.db()).await
}

/// The output of `EXPLAIN (ANALYZE, BUFFERS)`, one line per plan line.
#[derive(Clone, Debug)]
pub struct Plan(pub Vec<String>);

impl Plan {
    /// The indexes of `audit_logs` the plan reads.
    #[must_use]
    pub fn audit_indexes(&self) -> Vec<&str> {
        let mut names = Vec::new();
        for word in self.0.iter().flat_map(|line| line.split_whitespace()) {
            let index = word.starts_with("idx_audit_logs_") || word == "audit_logs_pkey";
            if index && !names.contains(&word) {
                names.push(word);
            }
        }
        names
    }

    /// Whether `audit_logs` is read through an index only, never scanned whole.
    #[must_use]
    pub fn uses_audit_index(&self) -> bool {
        !self.audit_indexes().is_empty()
            && !self
                .0
                .iter()
                .any(|line| line.contains("Seq Scan on audit_logs"))
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

/// Runs `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL of the exact statement, values bound,
/// that [`AuditRepository::query`](auth_ports::AuditRepository::query) runs for `query`.
///
/// # Errors
/// The database error.
pub async fn explain(store: &Store, query: AuditQuery) -> Result<Plan, DbErr> {
    let statement = crate::audit::select(query).build(DbBackend::Postgres);
    let explain = Statement {
        sql: format!("EXPLAIN (ANALYZE, BUFFERS) {}", statement.sql),
        ..statement
    };
    let lines = store
        .db()
        .query_all_raw(explain)
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "QUERY PLAN"))
        .collect::<Result<_, _>>()?;
    Ok(Plan(lines))
}
