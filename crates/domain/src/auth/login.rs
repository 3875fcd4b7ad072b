//! Login (SPEC.md section 4.1): checking credentials against the rate limits and the
//! lockout, and opening a session.

use super::service::AuthService;
use crate::audit::{AuditEvent, ClientInfo};
use crate::error::{Failure, FieldErrors};
use crate::password_policy::MAX_PASSWORD_CHARS;
use auth_ports::{
    BearerToken, Email, FailedLogin, LockScope, LoginSource, NewSession, Password, Session, User,
    UserStatus, Verification,
};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginSuccess {
    /// The bearer token, shown to the client once.
    pub token: BearerToken,
    /// The new session.
    pub session: Session,
    /// The user as of the login.
    pub user: User,
}

/// Why login failed. The order of checks is the SPEC's: rate limit, lock, password,
/// status, verified email.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Too many attempts from this client or for this account.
    #[error("rate limited")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// The email or password is malformed.
    #[error("invalid login: {0}")]
    Invalid(FieldErrors),
    /// Unknown email or wrong password (indistinguishable on purpose).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failures: locked until then.
    #[error("account locked")]
    AccountLocked {
        /// When the lock ends.
        until: DateTime<Utc>,
    },
    /// Right password, but the account is not active.
    #[error("account disabled")]
    AccountDisabled,
    /// Right password, but the email must be verified first.
    #[error("email not verified")]
    EmailNotVerified,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl AuthService {
    /// Checks the credentials and opens a session.
    ///
    /// # Errors
    /// See [`LoginError`]. Every attempt is audited as `auth.login`; the failure that
    /// locks the account also writes `auth.lockout`.
    pub async fn login(
        &self,
        email: &str,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<LoginSuccess, LoginError> {
        let mut errors = FieldErrors::default();
        let parsed = Email::parse(email)
            .map_err(|e| errors.add("email", e.to_string()))
            .ok();
        if password.expose().chars().count() > MAX_PASSWORD_CHARS {
            errors.add(
                "password",
                format!("must be at most {MAX_PASSWORD_CHARS} characters"),
            );
        }
        errors.into_result().map_err(LoginError::Invalid)?;
        let Some(email) = parsed else {
            return Err(LoginError::Invalid(FieldErrors::default()));
        };

        // Both limits count every attempt, and come before the password.
        let limited = |retry_after| LoginError::RateLimited { retry_after };
        self.limit_ip("login", client, self.policy.login_limit)
            .await
            .map_err(limited)?;
        self.limit(format!("login:account:{email}"), self.policy.login_limit)
            .await
            .map_err(limited)?;

        let login = |user: Option<&User>| {
            let event = AuditEvent::new("auth.login").with("email", email.as_str());
            match user {
                Some(user) => event.by(user.id).on("user", user.id),
                None => event,
            }
        };
        let source = Self::ip_key(client);
        let Some(account) = self
            .ports
            .users
            .find_for_login(&email, &source)
            .await
            .map_err(Failure::from)?
        else {
            // Same work as a wrong password, so the answer takes the same time.
            self.ports
                .hasher
                .verify(password, None)
                .await
                .map_err(Failure::from)?;
            self.ports
                .audit
                .record(login(None).failed("unknown_email"), client)
                .await?;
            return Err(LoginError::InvalidCredentials);
        };

        let now = self.ports.clock.now();
        let user = &account.user;
        if let Some(until) = account.locked_until(now) {
            self.ports
                .audit
                .record(login(Some(user)).failed("account_locked"), client)
                .await?;
            return Err(LoginError::AccountLocked { until });
        }

        let verification = self
            .ports
            .hasher
            .verify(password, user.password_hash.clone())
            .await
            .map_err(Failure::from)?;
        // A match implies a stored hash: the one the session will be opened against.
        let (Verification::Match { needs_rehash }, Some(mut verified)) =
            (verification, user.password_hash.clone())
        else {
            let event = login(Some(user));
            return Err(
                match self.count_failure(user, &source, client, event).await? {
                    Some(until) => LoginError::AccountLocked { until },
                    // The failure that sets a lock still answers "invalid credentials".
                    None => LoginError::InvalidCredentials,
                },
            );
        };

        if user.status != UserStatus::Active {
            self.ports
                .audit
                .record(login(Some(user)).failed("account_disabled"), client)
                .await?;
            return Err(LoginError::AccountDisabled);
        }
        if self.policy.require_verified_email && !user.email_verified {
            self.ports
                .audit
                .record(login(Some(user)).failed("email_not_verified"), client)
                .await?;
            return Err(LoginError::EmailNotVerified);
        }

        // A password changed since the check wins over this login: the stale password
        // opens nothing (the rehash and `open_at_login` both check the hash).
        let password_changed = || async {
            self.ports
                .audit
                .record(login(Some(user)).failed("invalid_credentials"), client)
                .await?;
            Ok::<_, LoginError>(LoginError::InvalidCredentials)
        };
        if needs_rehash {
            let hash = self
                .ports
                .hasher
                .hash(password)
                .await
                .map_err(Failure::from)?;
            let rehashed = self
                .ports
                .users
                .rehash_password(user.id, verified.clone(), hash.clone())
                .await
                .map_err(Failure::from)?;
            if !rehashed {
                return Err(password_changed().await?);
            }
            verified = hash;
        }

        let now = self.ports.clock.now();
        let (token, token_hash) = self.ports.tokens.generate();
        let expires_at = self.expiry(self.policy.session_ttl)?;
        let event = login(Some(user));
        let audit = self.ports.audit.after(client, move |session: &Session| {
            vec![event.with("session_id", session.id.to_string())]
        });
        let new_session = NewSession {
            user_id: user.id,
            token_hash,
            expires_at,
            ip_address: client.ip,
            user_agent: client.user_agent.clone(),
            created_at: now,
        };
        let login_source = LoginSource {
            key: source.clone(),
            failures: account.source_failures,
        };
        let Some(opened) = self
            .ports
            .sessions
            .open_at_login(new_session, &verified, &login_source, audit)
            .await
            .map_err(Failure::from)?
        else {
            // Refused by a change since the checks: a lock set by a concurrent failure,
            // an account no longer active, or a new password.
            let current = self
                .ports
                .users
                .find_for_login(&user.email, &source)
                .await
                .map_err(Failure::from)?;
            let Some(until) = current
                .as_ref()
                .and_then(|current| current.locked_until(now))
            else {
                if current.is_some_and(|current| current.user.status != UserStatus::Active) {
                    self.ports
                        .audit
                        .record(login(Some(user)).failed("account_disabled"), client)
                        .await?;
                    return Err(LoginError::AccountDisabled);
                }
                return Err(password_changed().await?);
            };
            self.ports
                .audit
                .record(login(Some(user)).failed("account_locked"), client)
                .await?;
            return Err(LoginError::AccountLocked { until });
        };
        Ok(LoginSuccess {
            token,
            session: opened.session,
            user: opened.user,
        })
    }

    /// Counts a wrong password from `source` and audits it as `event` (and the lock it
    /// may set). `Some(until)` when a lock was in force already, so nothing was counted.
    pub(super) async fn count_failure(
        &self,
        user: &User,
        source: &str,
        client: &ClientInfo,
        event: AuditEvent,
    ) -> Result<Option<DateTime<Utc>>, Failure> {
        let now = self.ports.clock.now();
        let user_id = user.id;
        let audit = self
            .ports
            .audit
            .after(client, move |outcome: &FailedLogin| match *outcome {
                FailedLogin::Counted {
                    attempts,
                    account_attempts,
                    locked,
                } => {
                    let mut events = vec![event.failed("invalid_credentials")];
                    if let Some((scope, until)) = locked {
                        let attempts = match scope {
                            LockScope::Source => attempts,
                            LockScope::Account => account_attempts,
                        };
                        events.push(
                            AuditEvent::self_service("auth.lockout", user_id)
                                .with("scope", scope.as_str())
                                .with("attempts", attempts)
                                .with("locked_until", until.to_rfc3339()),
                        );
                    }
                    events
                }
                FailedLogin::AlreadyLocked { .. } => vec![event.failed("account_locked")],
            });
        let outcome = self
            .ports
            .users
            .record_failed_login(user.id, source, self.policy.lockout, now, audit)
            .await?;
        Ok(match outcome {
            FailedLogin::Counted { .. } => None,
            FailedLogin::AlreadyLocked { until } => Some(until),
        })
    }
}
