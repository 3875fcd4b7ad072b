//! The caller's own account as a whole: deleting it (`DELETE /v1/auth/account`),
//! confirmed with the password (or, for an account without one, a recent sign-in), then
//! erased in one transaction that keeps the audit trail; and the part of the audit trail
//! about it, for `GET /v1/auth/account/export`.

use super::password::PasswordCheckError;
use super::service::AuthService;
use crate::audit::{AuditEvent, ClientInfo};
use crate::error::{Failure, FieldErrors};
use crate::principal::{Principal, ReauthenticationRequired};
use crate::rbac::ADMIN_ROLE;
use auth_ports::{AuditEntry, AuditQuery, Constraint, Email, Password, StoreError};

/// Why an account was not deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteAccountError {
    /// The password was not confirmed.
    #[error(transparent)]
    Password(#[from] PasswordCheckError),
    /// The account has a password and none was given.
    #[error("invalid request: {0}")]
    Invalid(FieldErrors),
    /// The account has no password and the session was authenticated too long ago.
    #[error(transparent)]
    ReauthenticationRequired(#[from] ReauthenticationRequired),
    /// The caller is the last active administrator.
    #[error("last admin")]
    LastAdmin,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Most audit entries of each kind (by the caller, about the caller) an export holds.
pub const EXPORTED_ENTRIES: u32 = 10_000;

impl AuthService {
    /// The audit entries the caller made or that are about the caller, newest first: the
    /// newest [`EXPORTED_ENTRIES`] of each kind (the retention period bounds them too).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn own_trail(&self, principal: &Principal) -> Result<Vec<AuditEntry>, Failure> {
        let id = principal.user.id;
        let by = AuditQuery {
            user_id: Some(id),
            limit: EXPORTED_ENTRIES,
            ..AuditQuery::default()
        };
        let about = AuditQuery {
            resource_type: Some("user".into()),
            resource_id: Some(id.to_string()),
            limit: EXPORTED_ENTRIES,
            ..AuditQuery::default()
        };
        let mut entries = self.ports.audit_log.query(by).await?;
        entries.extend(self.ports.audit_log.query(about).await?);
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.id));
        entries.dedup_by_key(|entry| entry.id);
        Ok(entries)
    }

    /// Erases the caller's account (`user.delete`, `details.via = "self"`): email, names
    /// and password gone, every session, role, provider link and second factor deleted,
    /// the audit trail kept. An account with a password needs it (checked as at login,
    /// a wrong one counted towards the lockout); one without needs a session
    /// authenticated within the step-up window.
    ///
    /// # Errors
    /// See [`DeleteAccountError`]; nothing is erased on error.
    pub async fn delete_own_account(
        &self,
        principal: &Principal,
        password: Option<&Password>,
        client: &ClientInfo,
    ) -> Result<(), DeleteAccountError> {
        let user = &principal.user;
        let event = AuditEvent::self_service("user.delete", user.id).with("via", "self");
        match (&user.password_hash, password) {
            (Some(_), Some(password)) => {
                self.confirm_password(principal, password, client, event.clone())
                    .await?;
            }
            (Some(_), None) => {
                let mut errors = FieldErrors::default();
                errors.add(
                    "password",
                    "is required to delete an account with a password",
                );
                return Err(DeleteAccountError::Invalid(errors));
            }
            (None, _) => self.require_fresh(principal)?,
        }
        // Unique, never a real mailbox (RFC 2606's `.invalid`), and parseable.
        let placeholder = Email::parse(&format!("erased-{}@erased.invalid", user.id.0.simple()))
            .map_err(|e| Failure::Unexpected(Box::new(e)))?;
        self.ports
            .users
            .erase(
                user.id,
                placeholder,
                ADMIN_ROLE,
                self.ports.audit.event(event, client),
            )
            .await
            .map_err(|err| match err {
                StoreError::Conflict(Constraint::LastActiveHolder) => DeleteAccountError::LastAdmin,
                other => DeleteAccountError::Failure(other.into()),
            })
    }
}
