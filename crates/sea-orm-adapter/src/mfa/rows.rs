//! The rows of second factors: conversions into the port models, and the writes the
//! repository's transactions share.

use crate::entities::{mfa_recovery_codes, mfa_totp, passkeys};
use crate::error::{DbResultExt, corrupt};
use auth_ports::{Passkey, PasskeyId, RecoveryCodeSet, StoreError, TotpEnrollment, UserId};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    Set,
};

impl From<mfa_totp::Model> for TotpEnrollment {
    fn from(m: mfa_totp::Model) -> Self {
        TotpEnrollment {
            sealed_secret: m.sealed_secret,
            confirmed_at: m.confirmed_at,
            last_used_step: m.last_used_step,
            created_at: m.created_at,
        }
    }
}

impl From<passkeys::Model> for Passkey {
    fn from(m: passkeys::Model) -> Self {
        Passkey {
            id: PasskeyId(m.id),
            user_id: UserId(m.user_id),
            credential_id: m.credential_id,
            name: m.name,
            data: m.data,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
        }
    }
}

/// How many of the user's recovery codes are unused.
pub(super) async fn codes_left(
    conn: &impl ConnectionTrait,
    user_id: UserId,
) -> Result<u32, StoreError> {
    let left = mfa_recovery_codes::Entity::find()
        .filter(mfa_recovery_codes::Column::UserId.eq(user_id.0))
        .filter(mfa_recovery_codes::Column::UsedAt.is_null())
        .count(conn)
        .await
        .store()?;
    u32::try_from(left).map_err(|e| corrupt("recovery code count", e))
}

/// Stores `codes` in place of the user's recovery codes, on the caller's transaction.
pub(super) async fn replace_codes(
    txn: &DatabaseTransaction,
    user_id: UserId,
    codes: RecoveryCodeSet,
) -> Result<(), StoreError> {
    delete_codes(txn, user_id).await?;
    let rows = codes
        .hashes
        .iter()
        .map(|hash| mfa_recovery_codes::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(user_id.0),
            code_hash: Set(hash.0.to_vec()),
            used_at: Set(None),
            created_at: Set(codes.created_at),
        });
    // An empty set inserts nothing (sea-orm sends no statement).
    mfa_recovery_codes::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await
        .store()?;
    Ok(())
}

/// Deletes every recovery code of the user; how many.
pub(super) async fn delete_codes(
    conn: &impl ConnectionTrait,
    user_id: UserId,
) -> Result<u64, StoreError> {
    let deleted = mfa_recovery_codes::Entity::delete_many()
        .filter(mfa_recovery_codes::Column::UserId.eq(user_id.0))
        .exec(conn)
        .await
        .store()?;
    Ok(deleted.rows_affected)
}

/// Deletes the user's recovery codes when no second factor is left (no confirmed TOTP,
/// no passkey): recovery codes alone never keep MFA on. The caller holds the user's
/// lock, so no factor is added meanwhile.
pub(super) async fn drop_codes_without_factor(
    txn: &DatabaseTransaction,
    user_id: UserId,
) -> Result<(), StoreError> {
    let totp = mfa_totp::Entity::find_by_id(user_id.0)
        .filter(mfa_totp::Column::ConfirmedAt.is_not_null())
        .count(txn)
        .await
        .store()?;
    let passkeys = passkeys::Entity::find()
        .filter(passkeys::Column::UserId.eq(user_id.0))
        .count(txn)
        .await
        .store()?;
    if totp == 0 && passkeys == 0 {
        delete_codes(txn, user_id).await?;
    }
    Ok(())
}
