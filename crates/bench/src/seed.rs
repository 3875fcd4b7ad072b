//! The users of `--sweep-users`: the run's database grown to a number of users with one
//! server-side bulk insert per table, each user active with the `user` role and one live
//! session, as after a login.

use anyhow::{Context as _, bail};
use sea_orm::{
    ConnectionTrait as _, Database as Connection, DatabaseConnection, DbBackend, Statement,
    TransactionTrait as _,
};

/// A well-formed argon2id PHC string with authd's parameters whose hash is 32 zero bytes:
/// no password verifies against it, and nobody logs these users in.
const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$YXV0aGQtYmVuY2gtdXNlcg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The statements of one backend: the inserts of users `$1..=$2` (`?1..=?2`), user `n`
/// with the id `n` and the email `user-<n>@sweep.example`, and what runs after them.
struct Dialect {
    users: &'static str,
    user_roles: &'static str,
    sessions: &'static str,
    after: Option<&'static str>,
}

/// Token hashes are SHA-256 of `n`: as spread over the unique index as real ones.
/// Sessions expire after authd's default `SESSION_TTL_SECS` (12 h). VACUUM also sets the
/// hint bits and visibility map now, so neither the first reads nor an autovacuum
/// triggered by the inserts run during the load.
const POSTGRES: Dialect = Dialect {
    users: "
INSERT INTO users (id, email, password_hash)
SELECT lpad(to_hex(n), 32, '0')::uuid, 'user-' || n || '@sweep.example', $3
FROM generate_series($1::bigint, $2::bigint) AS n",
    user_roles: "
INSERT INTO user_roles (user_id, role_id)
SELECT lpad(to_hex(n), 32, '0')::uuid, (SELECT id FROM roles WHERE name = 'user')
FROM generate_series($1::bigint, $2::bigint) AS n",
    sessions: "
INSERT INTO sessions (user_id, token_hash, expires_at, ip_address)
SELECT lpad(to_hex(n), 32, '0')::uuid, sha256(int8send(n)), NOW() + interval '12 hours',
       '127.0.0.1'::inet
FROM generate_series($1::bigint, $2::bigint) AS n",
    after: Some("VACUUM (ANALYZE) users, user_roles, sessions"),
};

/// SQLite has neither `generate_series` (outside its shell) nor SHA-256: a recursive CTE
/// counts, and a token hash starts with 4 bytes of Knuth's multiplicative hash of `n` (a
/// bijection modulo 2^32, so unique) that spread it over the index, followed by `n`.
/// Timestamps are the text authd writes and compares.
const SQLITE: Dialect = Dialect {
    users: "
WITH RECURSIVE seq(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?2)
INSERT INTO users (id, email, password_hash)
SELECT unhex(printf('%032x', n)), 'user-' || n || '@sweep.example', ?3 FROM seq",
    user_roles: "
WITH RECURSIVE seq(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?2)
INSERT INTO user_roles (user_id, role_id)
SELECT unhex(printf('%032x', n)), (SELECT id FROM roles WHERE name = 'user') FROM seq",
    sessions: "
WITH RECURSIVE seq(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?2)
INSERT INTO sessions (id, user_id, token_hash, expires_at, ip_address)
SELECT randomblob(16), unhex(printf('%032x', n)),
       unhex(printf('%08x%056x', n * 2654435761 % 4294967296, n)),
       strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '+12 hours'), '127.0.0.1'
FROM seq",
    // No ANALYZE: authd never runs it, and with statistics SQLite (built with STAT4, as
    // sqlx bundles it) re-prepares every statement that compares a parameter to an
    // indexed column whenever a new value is bound: `me` fell from 12k to 5.4k req/s
    // (docs/operations.md). The plans are the same with or without statistics.
    after: None,
};

/// Rows in the database.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    /// All users, the bench's own included.
    pub users: u64,
    /// All sessions, the bench's own included.
    pub sessions: u64,
}

/// A connection to the run's database and the users seeded so far.
pub struct Population {
    db: DatabaseConnection,
    dialect: &'static Dialect,
    seeded: u64,
}

impl Population {
    /// Connects to the database authd runs on.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let db = Connection::connect(url)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let dialect = match db.get_database_backend() {
            DbBackend::Postgres => &POSTGRES,
            DbBackend::Sqlite => &SQLITE,
            other => bail!("authd runs on PostgreSQL or SQLite, not {other:?}"),
        };
        Ok(Self {
            db,
            dialect,
            seeded: 0,
        })
    }

    /// The users and sessions in the database now.
    pub async fn counts(&self) -> anyhow::Result<Counts> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT (SELECT COUNT(*) FROM users) AS users, \
                 (SELECT COUNT(*) FROM sessions) AS sessions",
            ))
            .await?
            .context("no counts")?;
        let count =
            |column| -> anyhow::Result<u64> { Ok(u64::try_from(row.try_get::<i64>("", column)?)?) };
        Ok(Counts {
            users: count("users")?,
            sessions: count("sessions")?,
        })
    }

    /// Adds the users missing to `total` in one transaction, then runs the dialect's
    /// `after`.
    pub async fn grow_to(&mut self, total: u64) -> anyhow::Result<()> {
        let users = self.counts().await?.users;
        let missing = match total.checked_sub(users) {
            Some(0) => return Ok(()),
            Some(missing) => missing,
            None => bail!("cannot sweep {total} users: the database already has {users}"),
        };
        let first = i64::try_from(self.seeded + 1)?;
        let last = i64::try_from(self.seeded + missing)?;
        let backend = self.db.get_database_backend();
        let txn = self.db.begin().await?;
        for (table, sql, values) in [
            (
                "users",
                self.dialect.users,
                vec![first.into(), last.into(), PASSWORD_HASH.into()],
            ),
            (
                "user_roles",
                self.dialect.user_roles,
                vec![first.into(), last.into()],
            ),
            (
                "sessions",
                self.dialect.sessions,
                vec![first.into(), last.into()],
            ),
        ] {
            txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await
                .with_context(|| format!("cannot seed {table}"))?;
        }
        txn.commit().await?;
        self.seeded += missing;
        if let Some(after) = self.dialect.after {
            self.db.execute_unprepared(after).await?;
        }
        Ok(())
    }

    /// Closes the connection.
    pub async fn close(self) -> anyhow::Result<()> {
        Ok(self.db.close().await?)
    }
}
