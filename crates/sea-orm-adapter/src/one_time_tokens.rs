//! [`OneTimeTokenRepository`] on sea-orm. A redemption locks the owner's row, then uses
//! the token up with one conditional `UPDATE`, so of concurrent redemptions exactly one
//! gets the row, in the user-then-tokens order every other writer keeps.

use crate::audit::commit_with;
use crate::entities::{one_time_tokens, users};
use crate::error::{DbResultExt, begin_write};
use crate::mail_outbox::{MailSignal, enqueue};
use crate::shared_writes::{
    apply_password_change, clear_sources, live_at, lock, lock_one, mark_verified, token_row, use_up,
};
use auth_ports::{
    AuditWith, MailMessage, NewOneTimeToken, OneTimeTokenRepository, PasswordChange, Redemption,
    RevokeSessions, StoreError, TokenHash, TokenPurpose, UserId, UserStatus,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, QueryTrait,
};

/// Stores one-time tokens in the `one_time_tokens` table.
#[derive(Clone, Debug)]
pub struct SeaOrmOneTimeTokenRepository {
    db: DatabaseConnection,
    mail: MailSignal,
}

impl SeaOrmOneTimeTokenRepository {
    /// A repository over the pool; `mail` hears of the mail its writes commit.
    #[must_use]
    pub fn new(db: DatabaseConnection, mail: MailSignal) -> Self {
        Self { db, mail }
    }
}

/// The owner of the live token `token_hash` of `purpose`, locked for the rest of the
/// transaction by [`lock_one`]; `NotFound` if there is no such token.
async fn lock_owner(
    txn: &DatabaseTransaction,
    token_hash: &TokenHash,
    purpose: TokenPurpose,
    at: DateTime<Utc>,
) -> Result<users::Model, StoreError> {
    let owner = one_time_tokens::Entity::find()
        .select_only()
        .column(one_time_tokens::Column::UserId)
        .filter(one_time_tokens::Column::TokenHash.eq(token_hash.0.to_vec()))
        .filter(one_time_tokens::Column::Purpose.eq(purpose.as_str()))
        .filter(live_at(at))
        .into_query();
    let owner_row = users::Entity::find().filter(users::Column::Id.in_subquery(owner));
    lock_one(txn, owner_row).await
}

/// The owner of the live token `token_hash` of `purpose`, read without a lock.
async fn live_owner(
    conn: &impl ConnectionTrait,
    token_hash: &TokenHash,
    purpose: TokenPurpose,
    now: DateTime<Utc>,
) -> Result<Option<UserId>, StoreError> {
    Ok(one_time_tokens::Entity::find()
        .filter(one_time_tokens::Column::TokenHash.eq(token_hash.0.to_vec()))
        .filter(one_time_tokens::Column::Purpose.eq(purpose.as_str()))
        .filter(live_at(now))
        .one(conn)
        .await
        .store()?
        .map(|row| UserId(row.user_id)))
}

#[async_trait::async_trait]
impl OneTimeTokenRepository for SeaOrmOneTimeTokenRepository {
    async fn issue(
        &self,
        token: NewOneTimeToken,
        mail: MailMessage,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError> {
        let txn = begin_write(&self.db).await?;
        // Serialises issues for one user, so only the newest token stays live.
        lock(&txn, token.user_id).await?;
        use_up(&txn, token.user_id, Some(token.purpose), token.created_at).await?;
        let at = token.created_at;
        token_row(token).insert(&txn).await.store()?;
        enqueue(&txn, mail, at).await?;
        commit_with(txn, audit, &()).await?;
        self.mail.mail_committed();
        Ok(())
    }

    async fn find_live(
        &self,
        token_hash: &TokenHash,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        live_owner(&self.db, token_hash, purpose, now).await
    }

    async fn redeem(
        &self,
        token_hash: &TokenHash,
        redemption: Redemption,
        at: DateTime<Utc>,
        audit: AuditWith<UserId>,
    ) -> Result<UserId, StoreError> {
        let txn = begin_write(&self.db).await?;
        let purpose = redemption.purpose();
        // A reset clears the sources' failure records, and those go before the user row:
        // the order logins and failures lock them in.
        if matches!(redemption, Redemption::ResetPassword { .. })
            && let Some(user) = live_owner(&txn, token_hash, purpose, at).await?
        {
            clear_sources(&txn, user).await?;
        }
        // The user row before the token, as every writer that also touches tokens does
        // (`issue`, password changes, status changes): the opposite order deadlocks.
        let owner = lock_owner(&txn, token_hash, purpose, at).await?;
        // Only an active account may use its links (a rollback keeps the token).
        if owner.status != UserStatus::Active.as_str() {
            return Err(StoreError::NotFound);
        }
        let user = UserId(owner.id);
        // Conditional, so of concurrent redemptions only the first one to commit counts.
        let used = one_time_tokens::Entity::update_many()
            .col_expr(one_time_tokens::Column::UsedAt, Expr::val(at))
            .filter(one_time_tokens::Column::TokenHash.eq(token_hash.0.to_vec()))
            .filter(one_time_tokens::Column::UserId.eq(user.0))
            .filter(one_time_tokens::Column::Purpose.eq(purpose.as_str()))
            .filter(live_at(at))
            .exec(&txn)
            .await
            .store()?;
        if used.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        match redemption {
            Redemption::VerifyEmail => mark_verified(&txn, user, at).await?,
            Redemption::ResetPassword { hash, notice } => {
                let change = PasswordChange {
                    hash,
                    revoke: RevokeSessions::All,
                    clear_lockout: true,
                    notice: Some(notice),
                };
                apply_password_change(&txn, user, change, at).await?;
                // The link reached its owner through the mailbox: that proves the address.
                mark_verified(&txn, user, at).await?;
            }
        }
        commit_with(txn, audit, &user).await?;
        self.mail.mail_committed();
        Ok(user)
    }

    async fn delete_spent(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let spent = Condition::any()
            .add(one_time_tokens::Column::UsedAt.is_not_null())
            .add(one_time_tokens::Column::ExpiresAt.lte(now));
        Ok(one_time_tokens::Entity::delete_many()
            .filter(spent)
            .exec(&self.db)
            .await
            .store()?
            .rows_affected)
    }
}
