//! Login (SPEC.md section 4.1): checking credentials against the rate limits and the
//! lockout, and opening a session.

use super::mfa::model::IssuedChallenge;
use super::service::AuthService;
use crate::audit::{AuditEvent, ClientInfo};
use crate::error::{Failure, FieldErrors};
use crate::password_policy::MAX_PASSWORD_CHARS;
use auth_ports::{
    AuthMethod, BearerToken, Email, FailedLogin, LockScope, LoginAccount, LoginSource,
    OpenedSession, Password, PasswordHash, Session, User, UserStatus, Verification,
};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What a right password gets.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    /// A session: the account has no second factor (boxed: far larger than a challenge).
    SignedIn(Box<LoginSuccess>),
    /// No session yet: the account has MFA on, and the challenge must be answered with
    /// one of its methods ([`AuthService::verify_mfa`]).
    MfaRequired(IssuedChallenge),
}

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

impl LoginSuccess {
    /// The login that opened `opened` with `token`.
    #[must_use]
    pub fn new(token: BearerToken, opened: OpenedSession) -> Self {
        Self {
            token,
            session: opened.session,
            user: opened.user,
        }
    }
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

/// One login attempt after its input and rate limits passed: the account it names, and
/// what its audit entries say.
pub(super) struct Attempt<'a> {
    pub(super) email: &'a Email,
    pub(super) account: &'a LoginAccount,
    /// The client's address as one lockout source ([`AuthService::ip_key`]).
    pub(super) source: &'a str,
    pub(super) client: &'a ClientInfo,
}

impl Attempt<'_> {
    pub(super) fn user(&self) -> &User {
        &self.account.user
    }

    /// The lockout source, with its failures as the attempt found them.
    pub(super) fn login_source(&self) -> LoginSource {
        LoginSource {
            key: self.source.to_owned(),
            failures: self.account.source_failures,
        }
    }

    /// The `auth.login` entry of this attempt, with the user as actor and resource.
    pub(super) fn event(&self) -> AuditEvent {
        login_event(self.email)
            .by(self.user().id)
            .on("user", self.user().id)
    }
}

/// A password that matched the stored hash: the hash a session is opened against.
struct Matched {
    hash: PasswordHash,
    needs_rehash: bool,
}

/// The `auth.login` entry of an attempt, before the account is known.
fn login_event(email: &Email) -> AuditEvent {
    AuditEvent::new("auth.login").with("email", email.as_str())
}

/// The email of a well-formed login; `Invalid` names each malformed field.
fn parse_credentials(email: &str, password: &Password) -> Result<Email, LoginError> {
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
    parsed.ok_or_else(|| LoginError::Invalid(FieldErrors::default()))
}

impl AuthService {
    /// Checks the credentials and opens a session, or, when the account has MFA on,
    /// issues the challenge of the second step.
    ///
    /// # Errors
    /// See [`LoginError`]. Every attempt is audited as `auth.login`; the failure that
    /// locks the account also writes `auth.lockout`.
    pub async fn login(
        &self,
        email: &str,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<LoginOutcome, LoginError> {
        let email = parse_credentials(email, password)?;
        self.check_login_limits(&email, client).await?;
        let source = Self::ip_key(client);
        let Some(account) = self.find_account(&email, &source).await? else {
            return Err(self.refuse_unknown_email(&email, password, client).await?);
        };
        let attempt = Attempt {
            email: &email,
            account: &account,
            source: &source,
            client,
        };
        self.refuse_if_locked(&attempt).await?;
        let matched = self.verify_password(password, &attempt).await?;
        self.check_account_usable(&attempt).await?;
        let hash = self.rehash_if_outdated(password, matched, &attempt).await?;
        if account.has_second_factor {
            let factors = self.ports.second_factors.mfa.factors(attempt.user().id);
            let factors = factors.await.map_err(Failure::from)?;
            if factors.enabled() {
                let challenge = self.begin_mfa_login(hash, &attempt, &factors).await?;
                return Ok(LoginOutcome::MfaRequired(challenge));
            }
        }
        let opened = self.open_session(&hash, &attempt).await?;
        Ok(LoginOutcome::SignedIn(Box::new(opened)))
    }

    /// Both limits count every attempt, and come before the password.
    async fn check_login_limits(
        &self,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<(), LoginError> {
        let limited = |retry_after| LoginError::RateLimited { retry_after };
        self.limit_ip("login", client, self.policy.login_limit)
            .await
            .map_err(limited)?;
        self.limit_account(email).await.map_err(limited)
    }

    /// The account of `email`, with its failures from `source`.
    async fn find_account(
        &self,
        email: &Email,
        source: &str,
    ) -> Result<Option<LoginAccount>, Failure> {
        Ok(self.ports.users.find_for_login(email, source).await?)
    }

    /// Refuses an unknown email after the same work as a wrong password, so the answer
    /// takes the same time.
    async fn refuse_unknown_email(
        &self,
        email: &Email,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<LoginError, Failure> {
        self.ports.hasher.verify(password, None).await?;
        let event = login_event(email).failed("unknown_email");
        self.ports.audit.record(event, client).await?;
        Ok(LoginError::InvalidCredentials)
    }

    /// Audits the attempt as failed for `reason` and answers `error`.
    pub(super) async fn refuse(
        &self,
        attempt: &Attempt<'_>,
        reason: &'static str,
        error: LoginError,
    ) -> Result<LoginError, Failure> {
        let event = attempt.event().failed(reason);
        self.ports.audit.record(event, attempt.client).await?;
        Ok(error)
    }

    /// A locked source or account is refused before its password is checked.
    async fn refuse_if_locked(&self, attempt: &Attempt<'_>) -> Result<(), LoginError> {
        match attempt.account.locked_until(self.ports.clock.now()) {
            Some(until) => {
                let locked = LoginError::AccountLocked { until };
                Err(self.refuse(attempt, "account_locked", locked).await?)
            }
            None => Ok(()),
        }
    }

    /// The stored hash the password matches; a mismatch is counted towards the lockout.
    async fn verify_password(
        &self,
        password: &Password,
        attempt: &Attempt<'_>,
    ) -> Result<Matched, LoginError> {
        let stored = attempt.user().password_hash.clone();
        let verification = self
            .ports
            .hasher
            .verify(password, stored.clone())
            .await
            .map_err(Failure::from)?;
        // A match implies a stored hash: the one the session will be opened against.
        if let (Verification::Match { needs_rehash }, Some(hash)) = (verification, stored) {
            return Ok(Matched { hash, needs_rehash });
        }
        let (user, event) = (attempt.user(), attempt.event());
        Err(
            match self
                .count_failure(user, attempt.source, attempt.client, event)
                .await?
            {
                Some(until) => LoginError::AccountLocked { until },
                // The failure that sets a lock still answers "invalid credentials".
                None => LoginError::InvalidCredentials,
            },
        )
    }

    /// Only an active account, with a verified email when the policy asks for one, logs
    /// in; both are told only to the holder of the right password.
    async fn check_account_usable(&self, attempt: &Attempt<'_>) -> Result<(), LoginError> {
        let user = attempt.user();
        if user.status != UserStatus::Active {
            let disabled = LoginError::AccountDisabled;
            return Err(self.refuse(attempt, "account_disabled", disabled).await?);
        }
        if self.policy.require_verified_email && !user.email_verified {
            let unverified = LoginError::EmailNotVerified;
            return Err(self
                .refuse(attempt, "email_not_verified", unverified)
                .await?);
        }
        Ok(())
    }

    /// A password changed since the check wins over this login: the stale password opens
    /// nothing (the rehash and `open_at_login` both check the hash).
    async fn refuse_changed_password(&self, attempt: &Attempt<'_>) -> Result<LoginError, Failure> {
        let error = LoginError::InvalidCredentials;
        self.refuse(attempt, "invalid_credentials", error).await
    }

    /// The hash to open the session against: the matched one, or a new one of today's
    /// cost stored in its place.
    async fn rehash_if_outdated(
        &self,
        password: &Password,
        matched: Matched,
        attempt: &Attempt<'_>,
    ) -> Result<PasswordHash, LoginError> {
        if !matched.needs_rehash {
            return Ok(matched.hash);
        }
        let hash = self
            .ports
            .hasher
            .hash(password)
            .await
            .map_err(Failure::from)?;
        let rehashed = self
            .ports
            .users
            .rehash_password(attempt.user().id, matched.hash, hash.clone())
            .await
            .map_err(Failure::from)?;
        if rehashed {
            Ok(hash)
        } else {
            Err(self.refuse_changed_password(attempt).await?)
        }
    }

    /// Opens the session (`auth.login` with its id) if the password hash, the lockout and
    /// the account status still hold; says which changed otherwise.
    async fn open_session(
        &self,
        hash: &PasswordHash,
        attempt: &Attempt<'_>,
    ) -> Result<LoginSuccess, LoginError> {
        let user = attempt.user();
        let methods = vec![AuthMethod::Password];
        let (token, new_session) = self.new_session(user.id, attempt.client, methods)?;
        let event = attempt.event();
        let audit = self
            .ports
            .audit
            .after(attempt.client, move |session: &Session| {
                vec![event.opened(session)]
            });
        let opened = self
            .ports
            .sessions
            .open_at_login(new_session, hash, &attempt.login_source(), audit)
            .await
            .map_err(Failure::from)?;
        match opened {
            Some(opened) => Ok(LoginSuccess::new(token, opened)),
            None => Err(self.refused_at_opening(attempt).await?),
        }
    }

    /// Why opening was refused by a change since the checks: a lock set by a concurrent
    /// failure, an account no longer active, or a new password.
    pub(super) async fn refused_at_opening(
        &self,
        attempt: &Attempt<'_>,
    ) -> Result<LoginError, Failure> {
        let now = self.ports.clock.now();
        let current = self
            .find_account(&attempt.user().email, attempt.source)
            .await?;
        if let Some(until) = current
            .as_ref()
            .and_then(|current| current.locked_until(now))
        {
            let locked = LoginError::AccountLocked { until };
            return self.refuse(attempt, "account_locked", locked).await;
        }
        if current.is_some_and(|current| current.user.status != UserStatus::Active) {
            let disabled = LoginError::AccountDisabled;
            return self.refuse(attempt, "account_disabled", disabled).await;
        }
        self.refuse_changed_password(attempt).await
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
