//! Erasing an account at its owner's request: the row stays (the audit trail refers to
//! it) with nothing personal left in it, and everything that hangs off it goes.

use crate::entities::{
    auth_challenges, login_failures, mail_outbox, mfa_recovery_codes, mfa_totp, oauth_accounts,
    one_time_tokens, passkeys, roles, sessions, user_roles, users,
};
use crate::error::DbResultExt;
use crate::roles::refuse_last_active_holder;
use crate::shared_writes::lock;
use auth_ports::{Constraint, Email, RoleId, StoreError, UserId, UserStatus};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

/// Erases the user `id` on `txn` (see `UserRepository::erase`).
pub(super) async fn erase(
    txn: &DatabaseTransaction,
    id: UserId,
    placeholder: Email,
    guarded: &str,
) -> Result<(), StoreError> {
    let current = lock(txn, id).await?;
    if current.status == UserStatus::Deleted.as_str() {
        return Err(StoreError::Conflict(Constraint::DeletedUser));
    }
    let guarded = roles::Entity::find()
        .filter(roles::Column::Name.eq(guarded))
        .one(txn)
        .await
        .store()?;
    if current.status == UserStatus::Active.as_str()
        && let Some(role) = guarded
    {
        refuse_last_active_holder(txn, RoleId(role.id), id).await?;
    }
    let email = current.email.clone();
    let mut row: users::ActiveModel = current.into();
    row.email = Set(placeholder.as_str().to_owned());
    row.password_hash = Set(None);
    row.status = Set(UserStatus::Deleted.as_str().to_owned());
    row.email_verified = Set(false);
    row.email_verified_at = Set(None);
    row.failed_login_attempts = Set(0);
    row.last_failed_login_at = Set(None);
    row.locked_until = Set(None);
    row.first_name = Set(None);
    row.last_name = Set(None);
    row.oauth_providers = Set(serde_json::json!([]));
    row.last_login_at = Set(None);
    row.update(txn).await.store()?;
    // Sessions hold addresses and user agents: deleted, which also revokes them.
    macro_rules! delete_of_user {
        ($($entity:ident),*) => {
            $(
                $entity::Entity::delete_many()
                    .filter($entity::Column::UserId.eq(id.0))
                    .exec(txn)
                    .await
                    .store()?;
            )*
        };
    }
    delete_of_user!(
        sessions,
        user_roles,
        oauth_accounts,
        mfa_totp,
        passkeys,
        mfa_recovery_codes,
        one_time_tokens,
        login_failures,
        auth_challenges
    );
    // Mail not yet sent names the address and may carry live links.
    mail_outbox::Entity::delete_many()
        .filter(mail_outbox::Column::Recipient.eq(email))
        .exec(txn)
        .await
        .store()?;
    Ok(())
}
