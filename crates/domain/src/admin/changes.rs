//! Changing accounts as an operator: names and status, soft delete, unlock. Leaving
//! `active` revokes the user's sessions, and the last active admin cannot leave it; both
//! happen in the repository's transaction, together with the audit entries.

use super::service::AdminService;
use crate::audit::{AuditEvent, ClientInfo};
use crate::error::{Failure, FieldErrors};
use crate::names::{check_name, non_blank};
use crate::permission::{MissingPermission, USERS_DELETE, USERS_SUSPEND, USERS_WRITE, is_granted};
use crate::principal::Principal;
use crate::rbac::{ADMIN_ROLE, outranks};
use auth_ports::{Constraint, RoleId, StoreError, User, UserId, UserStatus, UserUpdate};

/// What an operator asks to change; `None` leaves a field alone, `Some(None)` (or a
/// blank name) clears a name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChanges {
    /// New given name.
    pub first_name: Option<Option<String>>,
    /// New family name.
    pub last_name: Option<Option<String>>,
    /// New status: `active`, `inactive` or `suspended` (`deleted` is [`AdminService::delete_user`]).
    pub status: Option<UserStatus>,
}

/// Why an account could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// No such user.
    #[error("no such user")]
    NotFound,
    /// The caller lacks the permission this change needs, or the user holds `*` and
    /// the caller does not.
    #[error("forbidden")]
    Forbidden,
    /// The caller lacks the permission of the operation itself.
    #[error(transparent)]
    MissingPermission(#[from] MissingPermission),
    /// The change is malformed.
    #[error("invalid change")]
    Invalid(FieldErrors),
    /// The email belongs to another account already.
    #[error("email taken")]
    EmailTaken,
    /// The account is deleted, which is final.
    #[error("deleted account")]
    Deleted,
    /// The user is the last active holder of `admin`.
    #[error("last admin")]
    LastAdmin,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl AdminService {
    /// Changes names (needs `users:write`) and/or status (needs `users:suspend`), as
    /// `user.update` (names, or back to `active`) and `user.suspend` (out of `active`).
    /// An empty change needs `users:write` and writes nothing. Only a holder of `*` may
    /// change a holder of `*` (a moderator cannot suspend an administrator).
    ///
    /// # Errors
    /// `Forbidden`, `Invalid`, `NotFound`, `Deleted`, `LastAdmin`, or storage failures;
    /// nothing is written on error.
    pub async fn update_user(
        &self,
        actor: &Principal,
        id: UserId,
        changes: AccountChanges,
        client: &ClientInfo,
    ) -> Result<User, AccountError> {
        let renames = changes.first_name.is_some() || changes.last_name.is_some();
        let granted = |permission| is_granted(&actor.permissions, permission);
        if ((renames || changes.status.is_none()) && !granted(USERS_WRITE))
            || (changes.status.is_some() && !granted(USERS_SUSPEND))
        {
            return Err(AccountError::Forbidden);
        }
        let first_name = changes.first_name.map(non_blank);
        let last_name = changes.last_name.map(non_blank);
        let mut errors = FieldErrors::default();
        check_name(
            &mut errors,
            "first_name",
            first_name.as_ref().and_then(Option::as_ref),
        );
        check_name(
            &mut errors,
            "last_name",
            last_name.as_ref().and_then(Option::as_ref),
        );
        if changes.status == Some(UserStatus::Deleted) {
            errors.add(
                "status",
                "must be active, inactive or suspended (delete with DELETE)",
            );
        }
        errors.into_result().map_err(AccountError::Invalid)?;
        self.outranks(actor, id).await?;

        if first_name.is_none() && last_name.is_none() && changes.status.is_none() {
            return self
                .ports
                .users
                .find_by_id(id)
                .await
                .map_err(Failure::from)?
                .ok_or(AccountError::NotFound);
        }
        let update = UserUpdate {
            first_name,
            last_name,
            status: changes.status,
            keep_an_active_holder_of: None,
        };
        self.apply(actor, id, update, client).await
    }

    /// Soft-deletes the account (`user.delete`): status `deleted`, every session
    /// revoked. Deleting a deleted account changes nothing. Needs `users:delete`; only a
    /// holder of `*` may delete a holder of `*`.
    ///
    /// # Errors
    /// `MissingPermission`, `Forbidden`, `NotFound`, `LastAdmin`, or storage failures.
    pub async fn delete_user(
        &self,
        actor: &Principal,
        id: UserId,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        self.may_manage(actor, USERS_DELETE, id).await?;
        let update = UserUpdate {
            status: Some(UserStatus::Deleted),
            ..UserUpdate::default()
        };
        match self.apply(actor, id, update, client).await {
            // Deleted already: nothing changes, nothing is recorded.
            Ok(_) | Err(AccountError::Deleted) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Lifts a lockout and clears the failure count (`user.unlock`). Needs
    /// `users:write`; only a holder of `*` may unlock a holder of `*`.
    ///
    /// # Errors
    /// `MissingPermission`, `Forbidden`, `NotFound`, or storage failures.
    pub async fn unlock_user(
        &self,
        actor: &Principal,
        id: UserId,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        self.may_manage(actor, USERS_WRITE, id).await?;
        let event = AuditEvent::new("user.unlock")
            .by(actor.user.id)
            .on("user", id);
        self.ports
            .users
            .unlock(id, self.ports.audit.event(event, client))
            .await
            .map_err(account_error)
    }

    /// Writes `update` by `actor`, audited by what it changed; a change out of `active`
    /// keeps an active admin.
    async fn apply(
        &self,
        actor: &Principal,
        id: UserId,
        mut update: UserUpdate,
        client: &ClientInfo,
    ) -> Result<User, AccountError> {
        if update.status.is_some_and(|s| s != UserStatus::Active) {
            update.keep_an_active_holder_of = self.admin_role().await?;
        }
        let actor = actor.user.id;
        let audit = self
            .ports
            .audit
            .after(client, move |(before, after): &(User, User)| {
                change_events(actor, before, after)
            });
        self.ports
            .users
            .update(id, update, self.ports.clock.now(), audit)
            .await
            .map_err(account_error)
    }

    /// `MissingPermission` unless the actor holds `permission`, then as [`Self::outranks`].
    pub(super) async fn may_manage(
        &self,
        actor: &Principal,
        permission: &'static str,
        target: UserId,
    ) -> Result<(), AccountError> {
        actor.require(permission)?;
        self.outranks(actor, target).await
    }

    /// `Forbidden` when `target` holds `*` and the actor does not: a permission to manage
    /// users is not one to manage those who hold every permission.
    async fn outranks(&self, actor: &Principal, target: UserId) -> Result<(), AccountError> {
        if outranks(self.ports.roles.as_ref(), actor, target).await? {
            Ok(())
        } else {
            Err(AccountError::Forbidden)
        }
    }

    /// The id of the protected `admin` role.
    async fn admin_role(&self) -> Result<Option<RoleId>, Failure> {
        let admin = self.ports.roles.find_by_name(ADMIN_ROLE).await?;
        Ok(admin.map(|role| role.id))
    }
}

/// The events of a change by `actor`, from the user before and after it (under the row
/// lock): `user.update` with the names of the changed fields (and `status` for a return
/// to `active`), `user.suspend` for a move to `suspended` or `inactive`, `user.delete`;
/// none for a change that changed nothing.
fn change_events(actor: UserId, before: &User, after: &User) -> Vec<AuditEvent> {
    let event = |action| AuditEvent::new(action).by(actor).on("user", after.id);
    let status_changed = before.status != after.status;
    let mut fields = Vec::new();
    if before.first_name != after.first_name {
        fields.push("first_name");
    }
    if before.last_name != after.last_name {
        fields.push("last_name");
    }
    if status_changed && after.status == UserStatus::Active {
        fields.push("status");
    }
    let mut events = Vec::new();
    if !fields.is_empty() {
        events.push(event("user.update").with("fields", fields));
    }
    match after.status {
        _ if !status_changed => {}
        UserStatus::Active => {}
        UserStatus::Deleted => events.push(event("user.delete")),
        left => events.push(event("user.suspend").with("status", left.as_str())),
    }
    events
}

fn account_error(err: StoreError) -> AccountError {
    match err {
        StoreError::NotFound => AccountError::NotFound,
        StoreError::Conflict(Constraint::LastActiveHolder) => AccountError::LastAdmin,
        StoreError::Conflict(Constraint::DeletedUser) => AccountError::Deleted,
        other => AccountError::Failure(other.into()),
    }
}

#[cfg(test)]
mod tests;
