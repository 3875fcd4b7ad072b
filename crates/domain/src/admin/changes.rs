//! Changing accounts as an operator: names and status, soft delete, unlock. Leaving
//! `active` revokes the user's sessions, and the last active admin cannot leave it; both
//! happen in the repository's transaction, together with the audit entries.

use super::service::AdminService;
use crate::audit::{AuditEvent, ClientInfo};
use crate::auth::Principal;
use crate::error::{Failure, FieldErrors};
use crate::names::{check_name, non_blank};
use crate::permission::is_granted;
use crate::rbac::{ADMIN_ROLE, outranks};
use auth_ports::{Constraint, RoleId, StoreError, User, UserId, UserStatus, UserUpdate};

/// The permission to change names.
pub const USERS_WRITE: &str = "users:write";

/// The permission to change status.
pub const USERS_SUSPEND: &str = "users:suspend";

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
    /// The caller lacks the permission this change needs.
    #[error("forbidden")]
    Forbidden,
    /// The change is malformed.
    #[error("invalid change")]
    Invalid(FieldErrors),
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
    /// revoked. Deleting a deleted account changes nothing. Only a holder of `*` may
    /// delete a holder of `*`.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `LastAdmin`, or storage failures.
    pub async fn delete_user(
        &self,
        actor: &Principal,
        id: UserId,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        self.outranks(actor, id).await?;
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

    /// Lifts a lockout and clears the failure count (`user.unlock`). Only a holder of
    /// `*` may unlock a holder of `*`.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, or storage failures.
    pub async fn unlock_user(
        &self,
        actor: &Principal,
        id: UserId,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        self.outranks(actor, id).await?;
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
mod tests {
    use super::*;
    use crate::admin::tests::{principal, service_over, user};

    #[test]
    fn only_what_changed_is_recorded() {
        let actor = UserId::new();
        let before = user(1);
        assert!(
            change_events(actor, &before, &before).is_empty(),
            "no change, no entry"
        );
        let mut after = before.clone();
        after.status = UserStatus::Deleted;
        let events = change_events(actor, &before, &after);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "user.delete");
        assert_eq!(events[0].actor, Some(actor));
        let mut suspended = before.clone();
        suspended.status = UserStatus::Suspended;
        assert!(
            change_events(actor, &suspended, &suspended).is_empty(),
            "suspended again"
        );
    }
    use auth_ports::{
        AuditWith, MockAuditRepository, MockRoleRepository, MockUserRepository, Role,
    };
    use chrono::DateTime;
    use mockall::predicate::{always, eq};

    fn admin_role() -> Role {
        Role {
            id: RoleId::new(),
            name: ADMIN_ROLE.into(),
            description: None,
            permissions: vec!["*".into()],
            created_at: DateTime::default(),
            updated_at: DateTime::default(),
        }
    }

    /// The actions of the entries `audit` makes.
    fn actions(audit: AuditWith<(User, User)>, before: &User, after: &User) -> Vec<String> {
        audit(&(before.clone(), after.clone()))
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    /// Users that hold `target` (a plain user), and roles that know the admin role.
    fn mocks(target: &User) -> (MockUserRepository, MockRoleRepository) {
        mocks_holding(target, &["profile:read"])
    }

    /// As [`mocks`], with `target` holding `permissions`.
    fn mocks_holding(
        target: &User,
        permissions: &'static [&'static str],
    ) -> (MockUserRepository, MockRoleRepository) {
        let mut users = MockUserRepository::new();
        let found = target.clone();
        users
            .expect_find_by_id()
            .returning(move |_| Ok(Some(found.clone())));
        let mut roles = MockRoleRepository::new();
        roles
            .expect_find_by_name()
            .with(eq(ADMIN_ROLE))
            .returning(|_| Ok(Some(admin_role())));
        roles
            .expect_permissions_of_user()
            .returning(move |_| Ok(permissions.iter().map(|p| (*p).to_owned()).collect()));
        (users, roles)
    }

    #[tokio::test]
    async fn only_a_holder_of_star_changes_a_holder_of_star() {
        let target = user(1);
        let (mut users, roles) = mocks_holding(&target, &["*"]);
        users.expect_update().never();
        let service = service_over(users, roles, MockAuditRepository::new());
        let moderator = principal(&["users:*"]);
        let client = ClientInfo::default();
        let err = service
            .update_user(
                &moderator,
                target.id,
                status(UserStatus::Suspended),
                &client,
            )
            .await;
        assert!(matches!(err, Err(AccountError::Forbidden)), "{err:?}");
        let err = service.delete_user(&moderator, target.id, &client).await;
        assert!(matches!(err, Err(AccountError::Forbidden)), "{err:?}");
    }

    #[tokio::test]
    async fn only_a_holder_of_star_unlocks_a_holder_of_star() {
        let target = user(1);
        let (mut users, roles) = mocks_holding(&target, &["*"]);
        users.expect_unlock().never();
        let err = service_over(users, roles, MockAuditRepository::new())
            .unlock_user(&principal(&["users:*"]), target.id, &ClientInfo::default())
            .await;
        assert!(matches!(err, Err(AccountError::Forbidden)), "{err:?}");
    }

    fn status(status: UserStatus) -> AccountChanges {
        AccountChanges {
            status: Some(status),
            ..AccountChanges::default()
        }
    }

    fn rename() -> AccountChanges {
        AccountChanges {
            first_name: Some(Some("Grace".into())),
            ..AccountChanges::default()
        }
    }

    #[tokio::test]
    async fn names_need_users_write_and_status_needs_users_suspend() {
        let target = user(1);
        for (granted, changes) in [
            (&["users:suspend"][..], rename()),
            (&["users:write"][..], status(UserStatus::Suspended)),
            (&["users:suspend"][..], AccountChanges::default()),
            (
                &["users:write"][..],
                AccountChanges {
                    status: Some(UserStatus::Active),
                    ..rename()
                },
            ),
        ] {
            let (mut users, roles) = mocks(&target);
            users.expect_update().never();
            let err = service_over(users, roles, MockAuditRepository::new())
                .update_user(
                    &principal(granted),
                    target.id,
                    changes,
                    &ClientInfo::default(),
                )
                .await;
            assert!(matches!(err, Err(AccountError::Forbidden)), "{granted:?}");
        }
    }

    #[tokio::test]
    async fn suspending_is_guarded_and_audited_as_suspend() {
        let target = user(1);
        let (mut users, roles) = mocks(&target);
        let before = target.clone();
        let mut updated = target.clone();
        updated.status = UserStatus::Suspended;
        users
            .expect_update()
            .times(1)
            .withf(|_, update, _, _| {
                update.status == Some(UserStatus::Suspended)
                    && update.keep_an_active_holder_of.is_some()
            })
            .returning(move |_, _, _, audit| {
                assert_eq!(actions(audit, &before, &updated), ["user.suspend"]);
                Ok(updated.clone())
            });
        service_over(users, roles, MockAuditRepository::new())
            .update_user(
                &principal(&["users:*"]),
                target.id,
                status(UserStatus::Suspended),
                &ClientInfo::default(),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn renaming_and_reactivating_is_one_update_event_without_a_guard() {
        let target = user(1);
        let (mut users, roles) = mocks(&target);
        let mut before = target.clone();
        before.status = UserStatus::Inactive;
        let mut updated = target.clone();
        updated.first_name = Some("Grace".into());
        users
            .expect_update()
            .times(1)
            .withf(|_, update, _, _| {
                update.first_name == Some(Some("Grace".into()))
                    && update.keep_an_active_holder_of.is_none()
            })
            .returning(move |_, _, _, audit| {
                let entries = audit(&(before.clone(), updated.clone()));
                assert_eq!(entries.len(), 1);
                assert_eq!(entries[0].action, "user.update");
                assert_eq!(
                    entries[0].details["fields"],
                    serde_json::json!(["first_name", "status"])
                );
                Ok(updated.clone())
            });
        let changes = AccountChanges {
            status: Some(UserStatus::Active),
            ..rename()
        };
        service_over(users, roles, MockAuditRepository::new())
            .update_user(
                &principal(&["*"]),
                target.id,
                changes,
                &ClientInfo::default(),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_last_admin_is_last_admin_and_deleted_is_not_a_patch_status() {
        let target = user(1);
        let (mut users, roles) = mocks(&target);
        users
            .expect_update()
            .times(1)
            .returning(|_, _, _, _| Err(StoreError::Conflict(Constraint::LastActiveHolder)));
        let service = service_over(users, roles, MockAuditRepository::new());
        let actor = principal(&["*"]);
        let client = ClientInfo::default();
        let err = service.delete_user(&actor, target.id, &client).await;
        assert!(matches!(err, Err(AccountError::LastAdmin)), "{err:?}");
        let err = service
            .update_user(&actor, target.id, status(UserStatus::Deleted), &client)
            .await;
        assert!(matches!(err, Err(AccountError::Invalid(_))), "{err:?}");
    }

    #[tokio::test]
    async fn deleted_accounts_are_neither_changed_nor_deleted_again() {
        let target = user(1);
        let (mut users, roles) = mocks(&target);
        users
            .expect_update()
            .times(2)
            .returning(|_, _, _, _| Err(StoreError::Conflict(Constraint::DeletedUser)));
        let service = service_over(users, roles, MockAuditRepository::new());
        let actor = principal(&["*"]);
        let client = ClientInfo::default();
        let err = service
            .update_user(&actor, target.id, rename(), &client)
            .await;
        assert!(matches!(err, Err(AccountError::Deleted)), "{err:?}");
        service
            .delete_user(&actor, target.id, &client)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn unlocking_an_unknown_user_is_not_found_and_otherwise_audited() {
        let mut users = MockUserRepository::new();
        let known = UserId::new();
        users
            .expect_unlock()
            .with(eq(known), always())
            .returning(|_, audit| {
                let entries = audit(&());
                assert_eq!(entries.len(), 1);
                assert_eq!(entries[0].action, "user.unlock");
                Ok(())
            });
        users
            .expect_unlock()
            .returning(|_, _| Err(StoreError::NotFound));
        let service = service_over(users, MockRoleRepository::new(), MockAuditRepository::new());
        let actor = principal(&["*"]);
        let client = ClientInfo::default();
        service.unlock_user(&actor, known, &client).await.unwrap();
        let err = service.unlock_user(&actor, UserId::new(), &client).await;
        assert!(matches!(err, Err(AccountError::NotFound)));
    }
}
