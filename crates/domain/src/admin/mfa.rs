//! A user's second factors as an operator sees them, and resetting them for a user who
//! lost every factor and every recovery code.

use super::changes::AccountError;
use super::queries::GetUserError;
use super::service::AdminService;
use crate::audit::{AuditEvent, ClientInfo};
use crate::error::Failure;
use crate::permission::USERS_WRITE;
use crate::principal::Principal;
use auth_ports::{MfaFactors, UserId};

impl AdminService {
    /// The second factors of user `id`. Needs `users:read`.
    ///
    /// # Errors
    /// `MissingPermission`, `NotFound`, or storage failures.
    pub async fn user_factors(
        &self,
        caller: &Principal,
        id: UserId,
    ) -> Result<MfaFactors, GetUserError> {
        self.get_user(caller, id).await?;
        let factors = self.ports.mfa.factors(id).await.map_err(Failure::from)?;
        Ok(factors)
    }

    /// Removes every second factor of user `id` and their pending challenges
    /// (`mfa.reset`, with `details.removed` saying whether there was anything). Needs
    /// `users:write`; only a holder of `*` may reset a holder of `*`.
    ///
    /// # Errors
    /// `MissingPermission`, `Forbidden`, `NotFound`, or storage failures.
    pub async fn reset_mfa(
        &self,
        actor: &Principal,
        id: UserId,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        self.may_manage(actor, USERS_WRITE, id).await?;
        let users = &self.ports.users;
        if users.find_by_id(id).await.map_err(Failure::from)?.is_none() {
            return Err(AccountError::NotFound);
        }
        let event = AuditEvent::new("mfa.reset")
            .by(actor.user.id)
            .on("user", id);
        let audit = self.ports.audit.after(client, move |removed: &bool| {
            vec![event.with("removed", *removed)]
        });
        self.ports
            .mfa
            .reset(id, audit)
            .await
            .map_err(Failure::from)?;
        Ok(())
    }
}
