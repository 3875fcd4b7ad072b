//! The one-time token repository contract.

use crate::harness::{TestDb, now};
use auth_ports::{OneTimeTokenRepository, UserId};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

auth_testing::on_both_backends!(crate::harness::TestDb; delete_spent_removes_used_and_expired_only);

/// Inserts a token row directly (the flows that issue tokens come later).
async fn insert(
    raw: &DatabaseConnection,
    user: UserId,
    byte: u8,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
) {
    let insert = Query::insert()
        .into_table(Alias::new("one_time_tokens"))
        .columns(
            [
                "id",
                "user_id",
                "purpose",
                "token_hash",
                "expires_at",
                "used_at",
                "created_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            Expr::val(uuid::Uuid::now_v7()),
            Expr::val(user.0),
            Expr::val("password_reset"),
            Expr::val(vec![byte; 32]),
            Expr::val(expires_at),
            Expr::val(used_at),
            Expr::val(now()),
        ])
        .to_owned();
    raw.execute(&insert).await.unwrap();
}

async fn remaining(raw: &DatabaseConnection) -> i64 {
    let row = raw
        .query_one_raw(Statement::from_string(
            raw.get_database_backend(),
            "SELECT COUNT(*) FROM one_time_tokens",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn delete_spent_removes_used_and_expired_only(db: &TestDb) {
    let raw = db.raw().await;
    let user = db.user("ott@example.com").await;
    let at = now();
    insert(
        &raw,
        user.id,
        1,
        at + Duration::minutes(30),
        Some(at - Duration::minutes(1)),
    )
    .await;
    insert(&raw, user.id, 2, at - Duration::seconds(1), None).await;
    insert(&raw, user.id, 3, at + Duration::minutes(30), None).await;
    let tokens = db.store.one_time_tokens();
    assert_eq!(tokens.delete_spent(at).await.unwrap(), 2);
    assert_eq!(tokens.delete_spent(at).await.unwrap(), 0);
    assert_eq!(remaining(&raw).await, 1, "the live, unused token stays");
}
