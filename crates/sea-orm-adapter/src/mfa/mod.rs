//! [`MfaRepository`] on sea-orm. Every write that changes which factors a user has
//! locks the user's row first (the order every writer keeps), so two removals cannot
//! each see the other's factor and leave recovery codes behind without one. A use of a
//! TOTP step or of a recovery code is one conditional `UPDATE`, so of concurrent uses
//! exactly one wins.

mod rows;

use crate::audit::commit_with;
use crate::backend::Backend;
use crate::entities::{auth_challenges, mfa_recovery_codes, mfa_totp, passkeys, sessions};
use crate::error::{DbResultExt, begin_write};
use crate::shared_writes::lock;
use auth_ports::{
    AuditWith, MfaFactors, MfaRepository, NewPasskey, Passkey, PasskeyId, RecoveryCodeSet,
    StoreError, TokenHash, UserId,
};
use chrono::{DateTime, Utc};
use rows::{codes_left, delete_codes, drop_codes_without_factor, replace_codes};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, Set,
};

/// Stores second factors in `mfa_totp`, `passkeys` and `mfa_recovery_codes`.
#[derive(Clone, Debug)]
pub struct SeaOrmMfaRepository {
    db: DatabaseConnection,
    /// For the database's clock.
    backend: Backend,
}

impl SeaOrmMfaRepository {
    pub(crate) fn new(db: DatabaseConnection, backend: Backend) -> Self {
        Self { db, backend }
    }
}

/// A write transaction holding the user's row; `None` (nothing written) without a user.
async fn locked(
    db: &DatabaseConnection,
    user_id: UserId,
) -> Result<Option<DatabaseTransaction>, StoreError> {
    let txn = begin_write(db).await?;
    match lock(&txn, user_id).await {
        Ok(_) => Ok(Some(txn)),
        Err(StoreError::NotFound) => Ok(None),
        Err(other) => Err(other),
    }
}

#[async_trait::async_trait]
impl MfaRepository for SeaOrmMfaRepository {
    async fn factors(&self, user_id: UserId) -> Result<MfaFactors, StoreError> {
        let totp = mfa_totp::Entity::find_by_id(user_id.0)
            .one(&self.db)
            .await
            .store()?;
        let passkeys = passkeys::Entity::find()
            .filter(passkeys::Column::UserId.eq(user_id.0))
            .order_by_asc(passkeys::Column::CreatedAt)
            .order_by_asc(passkeys::Column::Id)
            .all(&self.db)
            .await
            .store()?;
        Ok(MfaFactors {
            totp: totp.map(Into::into),
            passkeys: passkeys.into_iter().map(Into::into).collect(),
            recovery_codes_left: codes_left(&self.db, user_id).await?,
        })
    }

    async fn begin_totp(
        &self,
        user_id: UserId,
        sealed_secret: Vec<u8>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // One statement: a pending secret is replaced, a confirmed one is left alone
        // (the upsert's condition fails and nothing is written).
        let pending = mfa_totp::ActiveModel {
            user_id: Set(user_id.0),
            sealed_secret: Set(sealed_secret),
            confirmed_at: Set(None),
            last_used_step: Set(None),
            created_at: Set(at),
        };
        let upsert = OnConflict::column(mfa_totp::Column::UserId)
            .update_columns([
                mfa_totp::Column::SealedSecret,
                mfa_totp::Column::LastUsedStep,
                mfa_totp::Column::CreatedAt,
            ])
            .action_and_where(
                Expr::col((mfa_totp::Entity, mfa_totp::Column::ConfirmedAt)).is_null(),
            )
            .to_owned();
        let written = mfa_totp::Entity::insert(pending)
            .on_conflict(upsert)
            .exec_without_returning(&self.db)
            .await
            .store()?;
        match written {
            0 => Err(StoreError::Conflict(auth_ports::Constraint::TotpEnrolled)),
            _ => Ok(()),
        }
    }

    async fn confirm_totp(
        &self,
        user_id: UserId,
        sealed_secret: Vec<u8>,
        step: i64,
        recovery_codes: Option<RecoveryCodeSet>,
        audit: AuditWith<()>,
    ) -> Result<bool, StoreError> {
        let Some(txn) = locked(&self.db, user_id).await? else {
            return Ok(false);
        };
        // The port gives no time: confirmed at the database's clock.
        let confirmed = mfa_totp::Entity::update_many()
            .col_expr(mfa_totp::Column::ConfirmedAt, self.backend.now())
            .col_expr(mfa_totp::Column::LastUsedStep, Expr::val(step))
            .filter(mfa_totp::Column::UserId.eq(user_id.0))
            .filter(mfa_totp::Column::SealedSecret.eq(sealed_secret))
            .filter(mfa_totp::Column::ConfirmedAt.is_null())
            .exec(&txn)
            .await
            .store()?;
        if confirmed.rows_affected == 0 {
            // Dropped uncommitted, the transaction rolls back (it wrote nothing).
            return Ok(false);
        }
        if let Some(codes) = recovery_codes {
            replace_codes(&txn, user_id, codes).await?;
        }
        commit_with(txn, audit, &()).await?;
        Ok(true)
    }

    async fn use_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError> {
        let used = mfa_totp::Entity::update_many()
            .col_expr(mfa_totp::Column::LastUsedStep, Expr::val(step))
            .filter(mfa_totp::Column::UserId.eq(user_id.0))
            .filter(mfa_totp::Column::ConfirmedAt.is_not_null())
            .filter(
                Condition::any()
                    .add(mfa_totp::Column::LastUsedStep.is_null())
                    .add(mfa_totp::Column::LastUsedStep.lt(step)),
            )
            .exec(&self.db)
            .await
            .store()?;
        Ok(used.rows_affected > 0)
    }

    async fn remove_totp(&self, user_id: UserId, audit: AuditWith<()>) -> Result<bool, StoreError> {
        let Some(txn) = locked(&self.db, user_id).await? else {
            return Ok(false);
        };
        let removed = mfa_totp::Entity::delete_by_id(user_id.0)
            .exec(&txn)
            .await
            .store()?;
        if removed.rows_affected == 0 {
            return Ok(false);
        }
        drop_codes_without_factor(&txn, user_id).await?;
        commit_with(txn, audit, &()).await?;
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: UserId,
        codes: RecoveryCodeSet,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError> {
        let txn = locked(&self.db, user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        replace_codes(&txn, user_id, codes).await?;
        commit_with(txn, audit, &()).await
    }

    async fn use_recovery_code(
        &self,
        user_id: UserId,
        code_hash: TokenHash,
        at: DateTime<Utc>,
        audit: AuditWith<u32>,
    ) -> Result<Option<u32>, StoreError> {
        // The user's row first, as removals take it before the codes (the audit entry
        // refers to the user: taking its row after a code could deadlock with them).
        let Some(txn) = locked(&self.db, user_id).await? else {
            return Ok(None);
        };
        let used = mfa_recovery_codes::Entity::update_many()
            .col_expr(mfa_recovery_codes::Column::UsedAt, Expr::val(at))
            .filter(mfa_recovery_codes::Column::UserId.eq(user_id.0))
            .filter(mfa_recovery_codes::Column::CodeHash.eq(code_hash.0.to_vec()))
            .filter(mfa_recovery_codes::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .store()?;
        if used.rows_affected == 0 {
            return Ok(None);
        }
        let left = codes_left(&txn, user_id).await?;
        commit_with(txn, audit, &left).await?;
        Ok(Some(left))
    }

    async fn add_passkey(
        &self,
        passkey: NewPasskey,
        recovery_codes: Option<RecoveryCodeSet>,
        audit: AuditWith<Passkey>,
    ) -> Result<Passkey, StoreError> {
        let user_id = passkey.user_id;
        let txn = locked(&self.db, user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let row = passkeys::ActiveModel {
            id: Set(PasskeyId::new().0),
            user_id: Set(user_id.0),
            credential_id: Set(passkey.credential_id),
            name: Set(passkey.name),
            data: Set(passkey.data),
            created_at: Set(passkey.created_at),
            last_used_at: Set(None),
        };
        let added: Passkey = row.insert(&txn).await.store()?.into();
        if let Some(codes) = recovery_codes {
            replace_codes(&txn, user_id, codes).await?;
        }
        commit_with(txn, audit, &added).await?;
        Ok(added)
    }

    async fn find_passkey(&self, credential_id: &[u8]) -> Result<Option<Passkey>, StoreError> {
        let found = passkeys::Entity::find()
            .filter(passkeys::Column::CredentialId.eq(credential_id.to_vec()))
            .one(&self.db)
            .await
            .store()?;
        Ok(found.map(Into::into))
    }

    async fn record_passkey_use(
        &self,
        id: PasskeyId,
        data: String,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let recorded = passkeys::Entity::update_many()
            .col_expr(passkeys::Column::Data, Expr::val(data))
            .col_expr(passkeys::Column::LastUsedAt, Expr::val(at))
            .filter(passkeys::Column::Id.eq(id.0))
            .exec(&self.db)
            .await
            .store()?;
        match recorded.rows_affected {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn remove_passkey(
        &self,
        user_id: UserId,
        id: PasskeyId,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError> {
        let txn = locked(&self.db, user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let removed = passkeys::Entity::delete_many()
            .filter(passkeys::Column::Id.eq(id.0))
            .filter(passkeys::Column::UserId.eq(user_id.0))
            .exec(&txn)
            .await
            .store()?;
        if removed.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        drop_codes_without_factor(&txn, user_id).await?;
        commit_with(txn, audit, &()).await
    }

    async fn reset(&self, user_id: UserId, audit: AuditWith<bool>) -> Result<bool, StoreError> {
        let Some(txn) = locked(&self.db, user_id).await? else {
            return Ok(false);
        };
        let totp = mfa_totp::Entity::delete_by_id(user_id.0)
            .exec(&txn)
            .await
            .store()?;
        let passkeys = passkeys::Entity::delete_many()
            .filter(passkeys::Column::UserId.eq(user_id.0))
            .exec(&txn)
            .await
            .store()?;
        let codes = delete_codes(&txn, user_id).await?;
        // The user's challenges, and those bound to one of their sessions.
        let their_sessions = Query::select()
            .column(sessions::Column::Id)
            .from(sessions::Entity)
            .and_where(sessions::Column::UserId.eq(user_id.0))
            .to_owned();
        let challenges = auth_challenges::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(auth_challenges::Column::UserId.eq(user_id.0))
                    .add(auth_challenges::Column::SessionId.in_subquery(their_sessions)),
            )
            .exec(&txn)
            .await
            .store()?;
        let removed =
            totp.rows_affected + passkeys.rows_affected + codes + challenges.rows_affected > 0;
        commit_with(txn, audit, &removed).await?;
        Ok(removed)
    }
}
