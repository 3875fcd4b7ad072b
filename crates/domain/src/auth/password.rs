//! Changing one's password (SPEC.md section 4.1): guessing the current one is limited
//! and locked out like guessing at login.

use super::service::AuthService;
use crate::audit::{AuditEvent, ClientInfo};
use crate::error::{Failure, FieldErrors};
use crate::messages::PasswordChangeKind;
use crate::password_policy::MAX_PASSWORD_CHARS;
use crate::principal::{Principal, ReauthenticationRequired};
use auth_ports::{Password, PasswordChange, RevokeSessions, Verification};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Why a password change failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// The current password was not confirmed.
    #[error(transparent)]
    Password(#[from] PasswordCheckError),
    /// The new password breaks a rule.
    #[error("invalid password: {0}")]
    Invalid(FieldErrors),
    /// The session was authenticated too long ago for this change.
    #[error(transparent)]
    ReauthenticationRequired(#[from] ReauthenticationRequired),
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Why the caller's current password was not confirmed, for every change that asks for
/// it (a password change, deleting the account).
#[derive(Debug, thiserror::Error)]
pub enum PasswordCheckError {
    /// Too many attempts for this account: guessing the current password through a
    /// stolen session is limited like guessing it at login.
    #[error("rate limited")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// The password is wrong (audited and counted towards the lockout).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many wrong passwords from this source, or for the account: locked until then.
    #[error("account locked")]
    AccountLocked {
        /// When the lock ends.
        until: DateTime<Utc>,
    },
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl AuthService {
    /// Checks that `password` is the caller's, as a login would: limited per account,
    /// refused while a lock is in force, and a wrong one recorded as `event` failed and
    /// counted towards the lockout. An account without a password never matches.
    ///
    /// # Errors
    /// See [`PasswordCheckError`].
    pub(crate) async fn confirm_password(
        &self,
        principal: &Principal,
        password: &Password,
        client: &ClientInfo,
        event: AuditEvent,
    ) -> Result<(), PasswordCheckError> {
        let user = &principal.user;
        self.limit_account(&user.email)
            .await
            .map_err(|retry_after| PasswordCheckError::RateLimited { retry_after })?;
        // Guessing the current password is counted and locked out like guessing at login.
        let source = Self::ip_key(client);
        let now = self.ports.clock.now();
        let account = self
            .ports
            .users
            .find_for_login(&user.email, &source)
            .await
            .map_err(Failure::from)?;
        if let Some(until) = account.and_then(|account| account.locked_until(now)) {
            self.ports
                .audit
                .record(event.failed("account_locked"), client)
                .await?;
            return Err(PasswordCheckError::AccountLocked { until });
        }
        let verification = if password.expose().chars().count() > MAX_PASSWORD_CHARS {
            Verification::Mismatch
        } else {
            self.ports
                .hasher
                .verify(password, user.password_hash.clone())
                .await
                .map_err(Failure::from)?
        };
        if verification == Verification::Mismatch {
            return Err(
                match self.count_failure(user, &source, client, event).await? {
                    Some(until) => PasswordCheckError::AccountLocked { until },
                    None => PasswordCheckError::InvalidCredentials,
                },
            );
        }
        Ok(())
    }

    /// Replaces the caller's password after checking the current one, and revokes every
    /// other session of theirs (`password.change`).
    ///
    /// # Errors
    /// `ReauthenticationRequired` unless the session was authenticated within the step-up
    /// window; `InvalidCredentials` for a wrong current password (audited as a failure
    /// and counted towards the lockout); `AccountLocked` while the caller's source or the
    /// account is locked; `Invalid` when the new one breaks the policy.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &Password,
        new: &Password,
        client: &ClientInfo,
    ) -> Result<(), ChangePasswordError> {
        self.require_fresh(principal)?;
        let user = &principal.user;
        let event = AuditEvent::self_service("password.change", user.id);
        self.confirm_password(principal, current, client, event.clone())
            .await?;
        if let Err(rejection) = self.policy.password.check(new, &user.email) {
            let mut errors = FieldErrors::default();
            errors.add("new_password", format!("password {rejection}"));
            return Err(ChangePasswordError::Invalid(errors));
        }
        let hash = self.ports.hasher.hash(new).await.map_err(Failure::from)?;
        let now = self.ports.clock.now();
        let notice =
            self.password_changed_notice(&user.email, PasswordChangeKind::Changed, now, client);
        let change = PasswordChange {
            hash,
            revoke: RevokeSessions::AllExcept(principal.session.id),
            clear_lockout: false,
            notice: Some(notice),
        };
        let audit = self.ports.audit.after(client, move |revoked: &u64| {
            vec![event.with("revoked_sessions", *revoked)]
        });
        self.ports
            .users
            .change_password(user.id, change, now, audit)
            .await
            .map_err(Failure::from)?;
        Ok(())
    }
}
