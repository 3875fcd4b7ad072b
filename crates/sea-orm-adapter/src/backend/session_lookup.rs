//! The session lookup every authenticated request makes: one statement joining the
//! session, its user and the user's roles ([`session_rows`](super::session_rows)), for
//! one token or, through [`Batches`], for every token whose lookup arrived while others
//! were in flight. Nothing is cached: every lookup reads the database after it was
//! asked, so a revocation counts at once on every instance.
//!
//! The statements filter on the token alone, so the database always finds sessions
//! through the unique `token_hash` index (PostgreSQL's generic plan for
//! `token_hash = ANY($1) AND expires_at > $2` scanned every unexpired session);
//! whether a session is active and unexpired at the request's clock is checked here.

use super::dialect::Dialect;
use super::hot_lane::HotLane;
use super::lookup_batches::Batches;
use super::session_rows::{active_session, lookup_query};
use crate::entities::sessions;
use crate::error::DbResultExt;
use auth_ports::{ActiveSession, StoreError, TokenHash};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DbBackend, QueryTrait, Statement};

/// Looks sessions up, batching concurrent lookups.
#[derive(Clone, Debug)]
pub(crate) struct SessionLookups {
    lane: HotLane,
    backend: DbBackend,
    /// The statement for one token, built once (building it per request had cost a
    /// third of `me`'s throughput).
    single: String,
    batches: Batches,
}

impl SessionLookups {
    /// Lookups asked in `batches`, or alone through `lane`.
    pub(crate) fn new(dialect: Dialect, lane: HotLane, batches: Batches) -> Self {
        let backend = dialect.db_backend();
        Self {
            single: lookup_query(sessions::Column::TokenHash.eq(Vec::<u8>::new()))
                .build(backend)
                .sql,
            lane,
            backend,
            batches,
        }
    }

    /// The active, unexpired session of `token_hash` at `now`, with its user and roles.
    pub(crate) async fn find(
        &self,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, StoreError> {
        let found = match self.batches.ask(*token_hash).await {
            Some(found) => found,
            // Batches failed or paused, or no answer in time: this lookup runs alone and
            // meets any failure itself.
            None => {
                let statement = Statement::from_sql_and_values(
                    self.backend,
                    &self.single,
                    [token_hash.0.to_vec().into()],
                );
                active_session(&self.lane.query_all(statement).await.store()?)?
            }
        };
        Ok(found.filter(|found| found.session.is_active && found.session.expires_at > now))
    }
}
