//! The storage adapter of authd: sea-orm entities and the implementations of the
//! storage ports for PostgreSQL and SQLite. Entities stay private to this crate; callers
//! see only port models and [`Store`].

mod audit;
#[cfg(feature = "bench-support")]
pub mod bench_support;
mod entities;
mod error;
mod hot_lane;
mod keyset;
mod lookup_batches;
mod migrate;
mod oauth;
mod one_statement;
mod one_time_tokens;
mod readiness;
mod roles;
mod session_lookup;
mod sessions;
mod store;
mod users;

pub use audit::SeaOrmAuditRepository;
pub use migrate::{MigrationState, MigrationsError};
pub use oauth::SeaOrmOAuthAccountRepository;
pub use one_time_tokens::SeaOrmOneTimeTokenRepository;
pub use roles::SeaOrmRoleRepository;
pub use sessions::SeaOrmSessionRepository;
pub use store::{PoolConfig, Store};
pub use users::SeaOrmUserRepository;
