//! Sessions (SPEC.md section 4.1): authenticating a token, logging out, listing and
//! revoking one's sessions.

use super::service::AuthService;
use crate::audit::{AuditEvent, ClientInfo};
use crate::error::Failure;
use crate::principal::{Principal, ReauthenticationRequired};
use auth_ports::{ActiveSession, BearerToken, Session, SessionId, StoreError, UserStatus};

/// Why a session token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// Missing, unknown, expired, idle, revoked, or the user is not active.
    #[error("unauthorized")]
    Unauthorized,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Why a session could not be revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// The caller has no such live session.
    #[error("no such session")]
    NotFound,
    /// Ending other sessions needs a session authenticated within the step-up window.
    #[error(transparent)]
    ReauthenticationRequired(#[from] ReauthenticationRequired),
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// A live session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// The session.
    pub session: Session,
    /// Whether it is the one making the request.
    pub current: bool,
}

impl AuthService {
    /// The principal behind a session token, counting the request as activity. One read
    /// of the store; a write only when the stored last access is older than the touch
    /// interval (at most once a minute per session).
    ///
    /// # Errors
    /// `Unauthorized` for a missing, unknown, expired, idle or revoked session, or a user
    /// who is no longer active.
    pub async fn authenticate(&self, token: &BearerToken) -> Result<Principal, AuthenticateError> {
        let now = self.ports.clock.now();
        let hash = self.ports.tokens.hash(token);
        let ActiveSession {
            session,
            user,
            roles,
            permissions,
        } = self
            .ports
            .sessions
            .find_active_by_token_hash(&hash, now)
            .await
            .map_err(Failure::from)?
            .ok_or(AuthenticateError::Unauthorized)?;
        let idle = (now - session.last_accessed_at)
            .to_std()
            .unwrap_or_default();
        if idle > self.policy.idle_timeout || user.status != UserStatus::Active {
            return Err(AuthenticateError::Unauthorized);
        }
        let interval = self.policy.touch_interval();
        if idle >= interval {
            self.ports
                .sessions
                .touch(session.id, now, interval)
                .await
                .map_err(Failure::from)?;
        }
        Ok(Principal {
            user,
            session,
            roles,
            permissions,
        })
    }

    /// Ends the caller's session (`auth.logout`).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn logout(&self, principal: &Principal, client: &ClientInfo) -> Result<(), Failure> {
        let user = principal.user.id;
        let event = AuditEvent::self_service("auth.logout", user)
            .with("session_id", principal.session.id.to_string());
        let audit = self.ports.audit.event(event, client);
        match self
            .ports
            .sessions
            .revoke(user, principal.session.id, self.ports.clock.now(), audit)
            .await
        {
            // Revoked concurrently (and audited by whoever did): the caller's goal is reached.
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    /// Ends every session of the caller (`auth.logout` with `details.all = true`).
    ///
    /// # Errors
    /// `ReauthenticationRequired` unless the session was authenticated within the
    /// step-up window (a stolen token must not sign its owner out everywhere); storage
    /// failures.
    pub async fn logout_all(
        &self,
        principal: &Principal,
        client: &ClientInfo,
    ) -> Result<(), RevokeError> {
        self.require_fresh(principal)?;
        let user = principal.user.id;
        let audit = self.ports.audit.after(client, move |revoked: &u64| {
            vec![
                AuditEvent::self_service("auth.logout", user)
                    .with("all", true)
                    .with("revoked", *revoked),
            ]
        });
        self.ports
            .sessions
            .revoke_all_for_user(user, self.ports.clock.now(), audit)
            .await
            .map_err(|e| RevokeError::Failure(e.into()))?;
        Ok(())
    }

    /// The caller's live sessions, newest first; idle-timed-out ones are left out.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<SessionView>, Failure> {
        let now = self.ports.clock.now();
        let live = self
            .ports
            .sessions
            .list_active_for_user(principal.user.id, now)
            .await?;
        Ok(live
            .into_iter()
            .filter(|s| {
                (now - s.last_accessed_at).to_std().unwrap_or_default() <= self.policy.idle_timeout
            })
            .map(|session| SessionView {
                current: session.id == principal.session.id,
                session,
            })
            .collect())
    }

    /// Revokes one of the caller's sessions (`session.revoke`).
    ///
    /// # Errors
    /// `NotFound` when it is not the caller's live session; `ReauthenticationRequired`
    /// for another session than the caller's own unless the caller's was authenticated
    /// within the step-up window.
    pub async fn revoke_session(
        &self,
        principal: &Principal,
        id: SessionId,
        client: &ClientInfo,
    ) -> Result<(), RevokeError> {
        if id != principal.session.id {
            self.require_fresh(principal)?;
        }
        let user = principal.user.id;
        let event = AuditEvent::new("session.revoke").by(user).on("session", id);
        let audit = self.ports.audit.event(event, client);
        match self
            .ports
            .sessions
            .revoke(user, id, self.ports.clock.now(), audit)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(RevokeError::NotFound),
            Err(other) => Err(RevokeError::Failure(other.into())),
        }
    }
}
