//! The providers linked to an account: listing them, linking one at the end of a link
//! flow, and unlinking one unless it is the last way to log in.

use super::errors::{OAuthError, UnlinkError};
use super::service::{Attempt, OAuthService, link_event};
use crate::audit::{AuditEvent, ClientInfo};
use crate::error::Failure;
use crate::principal::Principal;
use auth_ports::{
    Constraint, ExternalIdentity, OAuthAccount, SessionId, StoreError, UserId, UserStatus,
};

impl OAuthService {
    /// The caller's linked accounts, oldest first.
    ///
    /// # Errors
    /// Storage failures only.
    pub async fn accounts(&self, principal: &Principal) -> Result<Vec<OAuthAccount>, Failure> {
        let user = principal.user.id;
        Ok(self.ports.accounts.list_for_user(user).await?)
    }

    /// Unlinks the caller's account of `provider` (`oauth.unlink`, in the same
    /// transaction). A provider no longer configured can still be unlinked.
    ///
    /// # Errors
    /// `ReauthenticationRequired` unless the session was authenticated within the step-up
    /// window; `NotFound` when it is not linked; `LastLoginMethod` when the caller has no
    /// password and no other link (nothing is changed).
    pub async fn unlink(
        &self,
        principal: &Principal,
        provider: &str,
        client: &ClientInfo,
    ) -> Result<(), UnlinkError> {
        principal.require_recent_authentication(self.ports.clock.now())?;
        let user = principal.user.id;
        let event = AuditEvent::self_service("oauth.unlink", user).with("provider", provider);
        let audit = self.ports.audit.event(event, client);
        match self.ports.accounts.unlink(user, provider, audit).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(UnlinkError::NotFound),
            Err(StoreError::Conflict(Constraint::LastLoginMethod)) => {
                Err(UnlinkError::LastLoginMethod)
            }
            Err(other) => Err(Failure::from(other).into()),
        }
    }

    /// Links `identity` to `user`, who began the link flow in `session`, and answers
    /// their linked accounts. Linking the account they have linked already changes
    /// nothing. Refused as `InvalidState` once that session is no longer active: a
    /// thief of a session who began a link loses it when the owner logs out everywhere.
    pub(super) async fn link(
        &self,
        user: UserId,
        session: Option<SessionId>,
        identity: &ExternalIdentity,
        attempt: &Attempt<'_>,
    ) -> Result<Vec<OAuthAccount>, OAuthError> {
        let found = self
            .ports
            .users
            .find_by_id(user)
            .await
            .map_err(Failure::from)?;
        let disabled = OAuthError::AccountDisabled;
        let Some(owner) = found else {
            // Deleted since the flow began: no actor to name.
            return Err(self
                .refuse(attempt, None, disabled, Some("no such user"))
                .await?);
        };
        if owner.status != UserStatus::Active {
            return Err(self.refuse(attempt, Some(user), disabled, None).await?);
        }
        // Checked last before the write, after the exchange at the provider.
        if !self.session_active(user, session).await? {
            let cause = Some("the session that began the link is no longer active");
            let invalid = OAuthError::InvalidState;
            return Err(self.refuse(attempt, Some(user), invalid, cause).await?);
        }
        let link = self.link_of(attempt.provider, identity);
        let audit = self
            .ports
            .audit
            .after(attempt.client, |account: &OAuthAccount| {
                vec![link_event(account).with("via", "link")]
            });
        let conflict = match self.ports.accounts.link(user, link, audit).await {
            Ok(_) => None,
            Err(StoreError::Conflict(
                constraint @ (Constraint::OAuthSubject | Constraint::OAuthUserProvider),
            )) => Some(constraint),
            Err(StoreError::Conflict(Constraint::DeletedUser)) => {
                return Err(self.refuse(attempt, Some(user), disabled, None).await?);
            }
            Err(other) => return Err(Failure::from(other).into()),
        };
        if let Some(constraint) = conflict {
            self.refuse_conflicting_link(user, identity, constraint, attempt)
                .await?;
        }
        Ok(self
            .ports
            .accounts
            .list_for_user(user)
            .await
            .map_err(Failure::from)?)
    }

    /// Whether `session` is one of `user`'s active, unexpired sessions now.
    async fn session_active(
        &self,
        user: UserId,
        session: Option<SessionId>,
    ) -> Result<bool, Failure> {
        let Some(session) = session else {
            return Ok(false);
        };
        let now = self.ports.clock.now();
        let active = self.ports.sessions.list_active_for_user(user, now).await?;
        Ok(active.iter().any(|active| active.id == session))
    }

    /// `Ok` when the link that conflicted is this very account linked to `user` already
    /// (a repeated link); otherwise the refusal: the external account belongs to another
    /// user, or `user` has another account of the provider.
    async fn refuse_conflicting_link(
        &self,
        user: UserId,
        identity: &ExternalIdentity,
        constraint: Constraint,
        attempt: &Attempt<'_>,
    ) -> Result<(), OAuthError> {
        let accounts = &self.ports.accounts;
        let holder = accounts
            .find_by_subject(attempt.provider, &identity.subject)
            .await
            .map_err(Failure::from)?
            .map(|account| account.user_id);
        let error = match holder {
            Some(holder) if holder == user => return Ok(()),
            Some(_) => OAuthError::ProviderAccountTaken,
            // Either constraint may be reported when both would be broken; without a
            // holder of the subject it is the user's other account of the provider.
            None if constraint == Constraint::OAuthUserProvider => OAuthError::AlreadyLinked,
            None => OAuthError::ProviderAccountTaken,
        };
        Err(self.refuse(attempt, Some(user), error, None).await?)
    }
}
