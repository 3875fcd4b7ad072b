//! How the pools stand, as `Store::pool_stats` reads them for the metrics.

use crate::harness::{SRC, TestDb};
use auth_ports::{Email, UserRepository};
use auth_sea_orm::PoolKind;
use sea_orm::DbBackend;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    pool_stats_describe_each_pool_as_it_stands,
);

/// The main pool (of 10 here), and PostgreSQL's batch pool of two after it; a
/// connection the hot lane keeps is in use for the pool.
async fn pool_stats_describe_each_pool_as_it_stands(db: &TestDb) {
    let postgres = db.raw().await.get_database_backend() == DbBackend::Postgres;
    let stats = db.store.pool_stats();
    let kinds: Vec<PoolKind> = stats.iter().map(|pool| pool.pool).collect();
    if postgres {
        assert_eq!(kinds, [PoolKind::Main, PoolKind::Batch]);
        let batch = stats[1];
        assert_eq!(batch.max, 2, "{batch:?}");
        assert!(
            batch.idle <= batch.open && batch.open <= batch.max,
            "{batch:?}"
        );
    } else {
        assert_eq!(kinds, [PoolKind::Main]);
    }
    let main = stats[0];
    assert_eq!((main.max, main.kept), (10, 0), "{main:?}");
    assert!(main.open >= 1 && main.open <= main.max, "{main:?}");
    assert!(main.idle <= main.open, "{main:?}");

    // A login's account lookup runs on the hot lane, which keeps its connection.
    let email = Email::parse("nobody@example.com").unwrap();
    let found = db.store.users().find_for_login(&email, SRC).await.unwrap();
    assert!(found.is_none());
    let main = db.store.pool_stats()[0];
    assert_eq!(main.kept, 1, "{main:?}");
    assert!(main.in_use() >= 1 && main.open <= main.max, "{main:?}");
}
