//! Session lookups that arrive while others are in flight are asked together, in one
//! statement for up to [`MAX_BATCH`] tokens: the database prepares and starts one query
//! instead of one per request, and one round trip (on SQLite one hand-off to the
//! connection's thread) wakes both sides once. Under light load a batch holds one
//! lookup, asked at once; under load batches grow by themselves. A failed batch leaves
//! its lookups to run alone, as every lookup does for a [`PAUSE`] after it.

use super::dialect::Dialect;
use super::hot_lane::HotLane;
use super::session_rows::sessions_in;
use crate::error::store_error;
use auth_ports::{ActiveSession, StoreError, TokenHash};
use sea_orm::Statement;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most tokens one statement asks for.
const MAX_BATCH: usize = 64;

/// How many batches may be in flight at once. Fewer make bigger batches, and the
/// database's cost is mostly per statement: on the bench machine one asker answered 27k
/// PostgreSQL lookups/s at a third of a core of the server, ten 14k at a whole core.
/// Two keep lookups flowing while one connection stalls.
pub(crate) const ASKERS: usize = 2;

/// How long lookups run alone after a batch failed, before the next batch is tried: a
/// failure of the batches' own connections (a pooler refusing their settings, a server
/// out of connections) must not cost every request a timeout.
const PAUSE: Duration = Duration::from_secs(1);

/// The queue of lookups waiting for a batch, served by asker tasks.
#[derive(Clone, Debug)]
pub(crate) struct Batches {
    queue: flume::Sender<Waiting>,
    paused: Arc<Paused>,
    patience: Duration,
}

/// Until when lookups run alone.
#[derive(Debug, Default)]
struct Paused(Mutex<Option<Instant>>);

impl Paused {
    fn now(&self) -> bool {
        let until = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        until.is_some_and(|until| Instant::now() < until)
    }

    fn start(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + PAUSE);
    }
}

#[derive(Debug)]
struct Waiting {
    token_hash: TokenHash,
    /// Dropped unanswered when the batch failed: the lookup then runs alone and meets
    /// any failure itself.
    answer: oneshot::Sender<Option<ActiveSession>>,
}

impl Batches {
    /// Starts `askers` tasks (no more than `lane` keeps connections) that each ask one
    /// batch at a time through `lane`, giving up on a statement after `patience`. Call
    /// inside a Tokio runtime; the tasks end when the last clone is dropped.
    pub(crate) fn start(
        dialect: Dialect,
        lane: HotLane,
        askers: usize,
        patience: Duration,
    ) -> Self {
        let (queue, waiting) = flume::unbounded();
        let paused = Arc::new(Paused::default());
        let sql = dialect.batch_sql();
        for _ in 0..askers {
            let asker = Asker {
                waiting: waiting.clone(),
                lane: lane.clone(),
                paused: paused.clone(),
                dialect,
                sql: sql.clone(),
                patience,
            };
            tokio::spawn(asker.run());
        }
        Self {
            queue,
            paused,
            patience,
        }
    }

    /// What the batch `token_hash` was asked in found for it (its session in whatever
    /// state); `None` when the lookup should run alone: batches are paused after a
    /// failure, this one failed, or no answer came within the patience (no asker left).
    pub(crate) async fn ask(&self, token_hash: TokenHash) -> Option<Option<ActiveSession>> {
        if self.paused.now() {
            return None;
        }
        let (answer, answered) = oneshot::channel();
        self.queue.send(Waiting { token_hash, answer }).ok()?;
        tokio::time::timeout(self.patience, answered)
            .await
            .ok()?
            .ok()
    }
}

/// One task asking batches.
struct Asker {
    waiting: flume::Receiver<Waiting>,
    lane: HotLane,
    paused: Arc<Paused>,
    dialect: Dialect,
    sql: String,
    patience: Duration,
}

impl Asker {
    /// Asks what is waiting, batch by batch, until every sender is gone.
    async fn run(self) {
        let mut failing = false;
        while let Ok(first) = self.waiting.recv_async().await {
            // A lookup whose request has gone no longer listens.
            let batch: Vec<Waiting> = std::iter::once(first)
                .chain(self.waiting.try_iter())
                .filter(|waiting| !waiting.answer.is_closed())
                .take(MAX_BATCH)
                .collect();
            if batch.is_empty() {
                continue;
            }
            match self.ask(&batch).await {
                Ok(found) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("batched session lookups work again");
                    }
                    for waiting in batch {
                        let session = found
                            .iter()
                            .find(|found| found.session.token_hash == waiting.token_hash)
                            .cloned();
                        let _ = waiting.answer.send(session);
                    }
                }
                Err(error) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(
                            error = %error,
                            source = ?std::error::Error::source(&error),
                            "a batched session lookup failed; lookups run alone until a batch works"
                        );
                    }
                    // This batch's lookups and all queued run alone at once.
                    self.paused.start();
                    drop(batch);
                    self.waiting.drain().for_each(drop);
                }
            }
        }
    }

    /// The sessions of the batch's tokens; a statement taking longer than the
    /// patience is `Other` (its connection is closed, not returned to the pool).
    async fn ask(&self, batch: &[Waiting]) -> Result<Vec<ActiveSession>, StoreError> {
        let tokens: Vec<TokenHash> = batch.iter().map(|waiting| waiting.token_hash).collect();
        let statement = Statement::from_sql_and_values(
            self.dialect.db_backend(),
            &self.sql,
            [self.dialect.token_set(&tokens)],
        );
        let rows = tokio::time::timeout(self.patience, self.lane.query_all(statement))
            .await
            .map_err(|elapsed| StoreError::Other(Box::new(elapsed)))?
            .map_err(store_error)?;
        sessions_in(&rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{migrated, stub_user};
    use auth_ports::{NewSession, SessionRepository};
    use auth_testing::{TestDatabase, unaudited};
    use chrono::{DateTime, Duration as Span};

    /// One batch statement, run through the lane, finds every token's session (a token
    /// asked twice once, a revoked one as it is, an unknown one not at all).
    async fn a_batch_finds_each_tokens_session(database: TestDatabase) {
        let store = migrated(&database).await;
        let at = DateTime::UNIX_EPOCH + Span::days(20_000);
        let (user, verified) = stub_user(&store, "batch@example.com", at).await;
        let sessions = store.sessions();
        let mut opened = Vec::new();
        for byte in [1, 2] {
            let new = NewSession {
                user_id: user.id,
                token_hash: TokenHash([byte; 32]),
                expires_at: at + Span::hours(1),
                ip_address: None,
                user_agent: None,
                created_at: at,
                auth_methods: vec![auth_ports::AuthMethod::Password],
            };
            let source = auth_ports::LoginSource {
                key: "192.0.2.1".into(),
                failures: 0,
            };
            let login = sessions.open_at_login(new, &verified, &source, unaudited());
            opened.push(login.await.unwrap().unwrap().session);
        }
        let revoke = sessions.revoke(user.id, opened[1].id, at, unaudited());
        revoke.await.unwrap();

        let (sender, waiting) = flume::unbounded();
        drop(sender);
        let dialect = store.backend.dialect;
        let asker = Asker {
            waiting,
            lane: store.backend.lane.clone(),
            paused: Arc::default(),
            dialect,
            sql: dialect.batch_sql(),
            patience: std::time::Duration::from_secs(10),
        };
        let tokens = [
            opened[0].token_hash,
            opened[1].token_hash,
            opened[0].token_hash,
            TokenHash([9; 32]),
        ];
        let batch: Vec<Waiting> = tokens
            .iter()
            .map(|token_hash| Waiting {
                token_hash: *token_hash,
                answer: oneshot::channel().0,
            })
            .collect();
        let found = asker.ask(&batch).await.unwrap();
        let mut states: Vec<_> = found
            .iter()
            .map(|found| {
                (
                    found.session.token_hash,
                    found.session.id,
                    found.session.is_active,
                    found.user.id,
                )
            })
            .collect();
        states.sort_by_key(|(token, ..)| token.0);
        assert_eq!(
            states,
            [
                (opened[0].token_hash, opened[0].id, true, user.id),
                (opened[1].token_hash, opened[1].id, false, user.id),
            ]
        );
    }

    /// A batch that fails (here: no `sessions` table) leaves its lookup to run alone, and
    /// the next lookups too, without queueing, for a pause.
    #[tokio::test]
    async fn a_failed_batch_leaves_lookups_to_run_alone_for_a_pause() {
        let database = TestDatabase::sqlite();
        let store = crate::Store::connect(&crate::PoolConfig {
            url: database.url().to_owned(),
            max_connections: 4,
            min_connections: 1,
            idle_timeout: std::time::Duration::from_secs(30),
            connect_timeout: std::time::Duration::from_secs(10),
        })
        .await
        .unwrap();
        let backend = &store.backend;
        let patience = std::time::Duration::from_secs(10);
        let batches = Batches::start(backend.dialect, backend.lane.clone(), 1, patience);
        assert!(!batches.paused.now());
        assert_eq!(batches.ask(TokenHash([1; 32])).await, None);
        assert!(batches.paused.now());
        assert_eq!(batches.ask(TokenHash([2; 32])).await, None);
    }

    #[tokio::test]
    async fn a_batch_finds_each_tokens_session_on_sqlite() {
        a_batch_finds_each_tokens_session(TestDatabase::sqlite()).await;
    }

    #[tokio::test]
    async fn a_batch_finds_each_tokens_session_on_postgres() {
        if let Some(database) = TestDatabase::postgres().await {
            a_batch_finds_each_tokens_session(database).await;
        }
    }
}
