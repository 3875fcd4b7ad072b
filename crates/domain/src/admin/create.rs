//! Accounts an operator makes (`POST /v1/admin/users`): the rules of a registration, a
//! verified email (the operator vouches for it, as `authd user create` does), and a
//! role the operator may give.

use super::changes::AccountError;
use super::service::AdminService;
use crate::audit::{AuditEvent, ClientInfo};
use crate::auth::{CheckedRegistration, DEFAULT_ROLE, Registration, check_registration};
use crate::error::Failure;
use crate::permission::{ROLES_ASSIGN, USERS_WRITE, holds_all};
use crate::principal::Principal;
use auth_ports::{NewUser, StoreError, User};

impl AdminService {
    /// Creates an active account with a verified email and `role` (`user` when `None`),
    /// recorded as `user.register` by the operator (`details.via = "admin"`). Needs
    /// `users:write`; naming a role needs `roles:assign` too and every permission of the
    /// role, as assigning it would.
    ///
    /// # Errors
    /// `MissingPermission`, `Forbidden` (a role of permissions the operator lacks),
    /// `Invalid` (the registration's rules, or an unknown role), `EmailTaken`, storage
    /// failures; nothing is written on error.
    pub async fn create_user(
        &self,
        actor: &Principal,
        registration: Registration,
        role: Option<String>,
        client: &ClientInfo,
    ) -> Result<User, AccountError> {
        actor.require(USERS_WRITE)?;
        let named = role.is_some();
        if named {
            actor.require(ROLES_ASSIGN)?;
        }
        let role = role.unwrap_or_else(|| DEFAULT_ROLE.to_owned());
        let checked = check_registration(&self.ports.password, &registration);
        let found = self
            .ports
            .roles
            .find_by_name(&role)
            .await
            .map_err(Failure::from)?;
        let (checked, found) = match (checked, found) {
            (Ok(checked), Some(found)) => (checked, found),
            (checked, found) => {
                let mut errors = checked.err().unwrap_or_default();
                if found.is_none() {
                    errors.add("role", format!("there is no role named {role:?}"));
                }
                return Err(AccountError::Invalid(errors));
            }
        };
        // The default role is what any registration gets; a named one is an assignment.
        if named && !holds_all(&actor.permissions, &found.permissions) {
            return Err(AccountError::Forbidden);
        }
        let CheckedRegistration {
            email,
            first_name,
            last_name,
        } = checked;
        let hash = self
            .ports
            .hasher
            .hash(&registration.password)
            .await
            .map_err(Failure::from)?;
        let actor = actor.user.id;
        let role_name = role.clone();
        let audit = self.ports.audit.after(client, move |user: &User| {
            vec![
                AuditEvent::new("user.register")
                    .by(actor)
                    .on("user", user.id)
                    .with("via", "admin")
                    .with("role", role_name),
            ]
        });
        let new_user = NewUser {
            email,
            password_hash: Some(hash),
            first_name,
            last_name,
            email_verified: true,
            role: Some(role),
            verification: None,
            created_at: self.ports.clock.now(),
        };
        self.ports
            .users
            .create(new_user, audit)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(_) => AccountError::EmailTaken,
                other => AccountError::Failure(other.into()),
            })
    }
}
