//! Registration (SPEC.md section 4.1) and provisioning by an operator.

use super::service::AuthService;
use crate::audit::{AuditEvent, ClientInfo};
use crate::error::{Failure, FieldErrors};
use crate::names::{check_name, non_blank};
use crate::password_policy::PasswordPolicy;
use auth_ports::{Email, NewUser, NewVerification, Password, StoreError, User};
use std::time::Duration;

/// The role every registered user gets.
pub const DEFAULT_ROLE: &str = "user";

/// A registration request.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The address as typed.
    pub email: String,
    /// The chosen password.
    pub password: Password,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
}

/// An account to create and how.
struct NewAccount<'a> {
    registration: Registration,
    role: &'a str,
    email_verified: bool,
    /// Where the request came from, for the audit entry (`api` or `cli`).
    via: &'static str,
}

/// Why registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Too many registrations from this client.
    #[error("rate limited")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// The input breaks a rule.
    #[error("invalid registration: {0}")]
    Invalid(FieldErrors),
    /// The email is registered already.
    #[error("email taken")]
    EmailTaken,
    /// The role to assign does not exist.
    #[error("no role named {0:?}")]
    UnknownRole(String),
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl AuthService {
    /// Creates an active account with the `user` role and records `user.register`.
    ///
    /// # Errors
    /// See [`RegisterError`]; nothing is written on error.
    pub async fn register(
        &self,
        registration: Registration,
        client: &ClientInfo,
    ) -> Result<User, RegisterError> {
        self.limit_ip("register", client, self.policy.register_limit)
            .await
            .map_err(|retry_after| RegisterError::RateLimited { retry_after })?;
        let account = NewAccount {
            registration,
            role: DEFAULT_ROLE,
            email_verified: false,
            via: "api",
        };
        self.create_account(account, client).await
    }

    /// Creates an active account with a verified email and `role`, for an operator (the
    /// `authd user create` command), and records `user.register` with `details.via`.
    ///
    /// # Errors
    /// See [`RegisterError`] (`UnknownRole` when `role` does not exist); nothing is
    /// written on error.
    pub async fn provision(
        &self,
        registration: Registration,
        role: &str,
    ) -> Result<User, RegisterError> {
        let account = NewAccount {
            registration,
            role,
            email_verified: true,
            via: "cli",
        };
        self.create_account(account, &ClientInfo::default()).await
    }

    async fn create_account(
        &self,
        account: NewAccount<'_>,
        client: &ClientInfo,
    ) -> Result<User, RegisterError> {
        let NewAccount {
            registration,
            role,
            email_verified,
            via,
        } = account;
        let Checked {
            email,
            first_name,
            last_name,
        } = check(&self.policy.password, &registration).map_err(RegisterError::Invalid)?;

        let hash = self
            .ports
            .hasher
            .hash(&registration.password)
            .await
            .map_err(Failure::from)?;
        let role_name = role.to_owned();
        let audit = self.ports.audit.after(client, move |user: &User| {
            vec![
                AuditEvent::self_service("user.register", user.id)
                    .with("via", via)
                    .with("role", role_name),
            ]
        });
        // The verification token and its mail are stored with the user.
        let verification = if email_verified {
            None
        } else {
            let (token, token_hash) = self.ports.tokens.generate();
            let ttl = self.policy.verification_ttl;
            Some(NewVerification {
                token_hash,
                expires_at: self.expiry(ttl)?,
                mail: self.messages.verification(&email, &token, ttl),
            })
        };
        let new_user = NewUser {
            email,
            password_hash: Some(hash),
            first_name,
            last_name,
            email_verified,
            role: Some(role.to_owned()),
            verification,
            created_at: self.ports.clock.now(),
        };
        let user = self
            .ports
            .users
            .create(new_user, audit)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(_) => RegisterError::EmailTaken,
                StoreError::NotFound => RegisterError::UnknownRole(role.to_owned()),
                other => RegisterError::Failure(other.into()),
            })?;
        Ok(user)
    }
}

/// A registration's fields as they will be stored.
pub(crate) struct Checked {
    pub(crate) email: Email,
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
}

/// The normalised email and names of `registration`, or every rule it breaks (email,
/// password policy, names), by field.
pub(crate) fn check(
    policy: &PasswordPolicy,
    registration: &Registration,
) -> Result<Checked, FieldErrors> {
    let first_name = non_blank(registration.first_name.clone());
    let last_name = non_blank(registration.last_name.clone());
    let mut errors = FieldErrors::default();
    let email = Email::parse(&registration.email)
        .map_err(|e| errors.add("email", e.to_string()))
        .ok();
    if let Some(email) = &email
        && let Err(rejection) = policy.check(&registration.password, email)
    {
        errors.add("password", format!("password {rejection}"));
    }
    check_name(&mut errors, "first_name", first_name.as_ref());
    check_name(&mut errors, "last_name", last_name.as_ref());
    errors.into_result()?;
    let Some(email) = email else {
        return Err(FieldErrors::default());
    };
    Ok(Checked {
        email,
        first_name,
        last_name,
    })
}
