//! The storage adapter of authd: sea-orm entities and the implementations of the
//! storage ports for PostgreSQL and SQLite. Entities stay private to this crate; callers
//! see only port models and [`Store`].

mod audit;
mod backend;
#[cfg(feature = "bench-support")]
pub mod bench_support;
mod challenges;
mod entities;
mod error;
mod keyset;
mod login;
mod mail_outbox;
mod mfa;
mod migrate;
mod new_account;
mod oauth;
mod oauth_flows;
mod one_time_tokens;
mod readiness;
mod roles;
mod sessions;
mod shared_writes;
mod store;
#[cfg(test)]
mod test_support;
mod transfer;
mod users;

pub use audit::SeaOrmAuditRepository;
pub use backend::{PoolConfig, PoolKind, PoolStats};
pub use challenges::SeaOrmChallengeRepository;
pub use mail_outbox::{MailSignal, SeaOrmMailOutbox};
pub use mfa::SeaOrmMfaRepository;
pub use migrate::{MigrationState, MigrationsError};
pub use oauth::SeaOrmOAuthAccountRepository;
pub use oauth_flows::SeaOrmOAuthFlowRepository;
pub use one_time_tokens::SeaOrmOneTimeTokenRepository;
pub use roles::SeaOrmRoleRepository;
pub use sessions::SeaOrmSessionRepository;
pub use store::Store;
pub use transfer::SeaOrmUserTransfer;
pub use users::SeaOrmUserRepository;
