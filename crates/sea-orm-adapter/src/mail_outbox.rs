//! [`MailOutbox`] on sea-orm. Messages are claimed with one `UPDATE … WHERE id IN
//! (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`: on PostgreSQL, concurrent workers skip
//! each other's rows instead of waiting on them; SQLite has one writer, so the statement
//! is atomic by itself. A claim moves the message's next attempt to the end of a lease,
//! so no open transaction spans a delivery.

use crate::entities::mail_outbox;
use crate::error::{DbResultExt, corrupt};
use auth_ports::{Email, MailId, MailMessage, MailOutbox, OutboxBacklog, QueuedMail, StoreError};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set,
};
use std::sync::Arc;
use tokio::sync::Notify;

/// The outbox in the `mail_outbox` table.
#[derive(Clone, Debug)]
pub struct SeaOrmMailOutbox {
    db: DatabaseConnection,
}

impl SeaOrmMailOutbox {
    /// An outbox over the pool.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// Wakes this process's delivery worker when one of its writes committed mail, so the
/// mail goes out at once instead of at the worker's next poll.
#[derive(Clone, Debug, Default)]
pub struct MailSignal(Arc<Notify>);

impl MailSignal {
    /// Says that mail was committed. A signal while the worker is busy is kept, so the
    /// worker looks again when it is done.
    pub fn mail_committed(&self) {
        self.0.notify_one();
    }

    /// Resolves at the next [`Self::mail_committed`] (or at once if one is pending).
    pub async fn committed(&self) {
        self.0.notified().await;
    }
}

/// The row of `message`, due at once.
pub(crate) fn mail_row(message: MailMessage, at: DateTime<Utc>) -> mail_outbox::ActiveModel {
    mail_outbox::ActiveModel {
        id: Set(MailId::new().0),
        recipient: Set(message.to.as_str().to_owned()),
        subject: Set(message.subject),
        body_text: Set(message.text),
        body_html: Set(message.html),
        attempts: Set(0),
        next_attempt_at: Set(Some(at)),
        last_error: Set(None),
        failed_at: Set(None),
        created_at: Set(at),
    }
}

/// Adds `message` to the outbox on the caller's transaction.
pub(crate) async fn enqueue(
    txn: &impl ConnectionTrait,
    message: MailMessage,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    mail_row(message, at).insert(txn).await.store()?;
    Ok(())
}

impl TryFrom<mail_outbox::Model> for QueuedMail {
    type Error = StoreError;

    fn try_from(m: mail_outbox::Model) -> Result<Self, StoreError> {
        Ok(QueuedMail {
            id: MailId(m.id),
            message: MailMessage {
                to: Email::parse(&m.recipient).map_err(|e| corrupt("mail_outbox.recipient", e))?,
                subject: m.subject,
                text: m.body_text,
                html: m.body_html,
            },
            attempt: u32::try_from(m.attempts).map_err(|e| corrupt("mail_outbox.attempts", e))?,
        })
    }
}

/// Longest error text kept per message: enough for an SMTP reply.
const MAX_ERROR_CHARS: usize = 500;

fn error_text(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

#[async_trait::async_trait]
impl MailOutbox for SeaOrmMailOutbox {
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        use mail_outbox::Column;
        let due = mail_outbox::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::NextAttemptAt.lte(now))
            .order_by_asc(Column::NextAttemptAt)
            .limit(u64::from(limit))
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .into_query();
        let claimed = mail_outbox::Entity::update_many()
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::NextAttemptAt, Expr::val(lease_until))
            .filter(Column::Id.in_subquery(due))
            .exec_with_returning(&self.db)
            .await
            .store()?;
        let mut claimed = claimed
            .into_iter()
            .map(QueuedMail::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING follows no order; the oldest goes first.
        claimed.sort_by_key(|mail| mail.id.0);
        Ok(claimed)
    }

    async fn delivered(&self, ids: &[MailId]) -> Result<(), StoreError> {
        mail_outbox::Entity::delete_many()
            .filter(mail_outbox::Column::Id.is_in(ids.iter().map(|id| id.0)))
            .exec(&self.db)
            .await
            .store()?;
        Ok(())
    }

    async fn retry(&self, id: MailId, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        use mail_outbox::Column;
        mail_outbox::Entity::update_many()
            .col_expr(Column::NextAttemptAt, Expr::val(at))
            .col_expr(Column::LastError, Expr::val(error_text(error)))
            .filter(Column::Id.eq(id.0))
            .filter(Column::FailedAt.is_null())
            .exec(&self.db)
            .await
            .store()?;
        Ok(())
    }

    async fn give_up(&self, id: MailId, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        use mail_outbox::Column;
        mail_outbox::Entity::update_many()
            .col_expr(
                Column::NextAttemptAt,
                Expr::val(Option::<DateTime<Utc>>::None),
            )
            .col_expr(Column::FailedAt, Expr::val(at))
            .col_expr(Column::LastError, Expr::val(error_text(error)))
            .col_expr(Column::BodyText, Expr::val(""))
            .col_expr(Column::BodyHtml, Expr::val(""))
            .filter(Column::Id.eq(id.0))
            .exec(&self.db)
            .await
            .store()?;
        Ok(())
    }

    async fn backlog(&self) -> Result<OutboxBacklog, StoreError> {
        use mail_outbox::Column;
        let (queued, failed, next_due): (i64, i64, Option<DateTime<Utc>>) =
            mail_outbox::Entity::find()
                .select_only()
                .expr(Expr::col(Column::NextAttemptAt).count())
                .expr(Expr::col(Column::FailedAt).count())
                .expr(Expr::col(Column::NextAttemptAt).min())
                .into_tuple()
                .one(&self.db)
                .await
                .store()?
                .unwrap_or_default();
        let count = |n: i64, what| u64::try_from(n).map_err(|e| corrupt(what, e));
        Ok(OutboxBacklog {
            queued: count(queued, "mail_outbox count")?,
            failed: count(failed, "mail_outbox count")?,
            next_due,
        })
    }

    async fn delete_failed(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(mail_outbox::Entity::delete_many()
            .filter(mail_outbox::Column::FailedAt.lt(cutoff))
            .exec(&self.db)
            .await
            .store()?
            .rows_affected)
    }
}
