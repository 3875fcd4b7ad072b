//! AuthService: registration, login, sessions and password changes (SPEC.md section
//! 4.1), with the lockout, session-expiry and rate-limit rules they need.

use crate::audit::{AuditEvent, Auditor, ClientInfo};
use crate::error::{Failure, FieldErrors};
use crate::messages::{Messages, PasswordChangeKind};
pub use crate::names::MAX_NAME_CHARS;
use crate::names::{check_name, non_blank};
use crate::password_policy::{MAX_PASSWORD_CHARS, PasswordPolicy};
use auth_ports::{
    ActiveSession, BearerToken, Clock, Email, FailedLogin, LockScope, LockoutPolicy, LoginSource,
    Mailer, NewSession, NewUser, OneTimeTokenRepository, Password, PasswordChange, PasswordHasher,
    RateDecision, RateLimit, RateLimiter, RevokeSessions, Session, SessionId, SessionRepository,
    StoreError, TokenGenerator, User, UserRepository, UserStatus, Verification,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// The role every registered user gets.
pub const DEFAULT_ROLE: &str = "user";

/// How many times the per-address limit an IPv6 /56 and a /48 may use: a /56 is commonly
/// one household or small site (several /64 networks), a /48 one organisation.
pub const WIDE_PREFIX_FACTORS: (u32, u32) = (4, 16);

/// The longest the stored last-access time may lag behind real activity.
const MAX_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// The tunable rules of authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Password rules for new passwords.
    pub password: PasswordPolicy,
    /// When failed logins lock an account.
    pub lockout: LockoutPolicy,
    /// Absolute session lifetime.
    pub session_ttl: Duration,
    /// A session unused this long is over.
    pub idle_timeout: Duration,
    /// Whether login needs a verified email.
    pub require_verified_email: bool,
    /// Login attempts per IP and, separately, per account.
    pub login_limit: RateLimit,
    /// Registrations per IP.
    pub register_limit: RateLimit,
    /// Verification and password-reset requests, per IP and, separately, per email.
    pub recovery_limit: RateLimit,
    /// How long an email-verification link works.
    pub verification_ttl: Duration,
    /// How long a password-reset link works.
    pub reset_ttl: Duration,
}

impl AuthPolicy {
    /// How stale `last_accessed_at` may get before a request writes it again:
    /// min(60 s, idle timeout ÷ 4), so the idle check is never off by more.
    #[must_use]
    pub fn touch_interval(&self) -> Duration {
        MAX_TOUCH_INTERVAL.min(self.idle_timeout / 4)
    }
}

/// The ports AuthService works through.
#[derive(Clone)]
pub struct AuthPorts {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// The audit trail.
    pub audit: Auditor,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Session tokens.
    pub tokens: Arc<dyn TokenGenerator>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Rate limits.
    pub limiter: Arc<dyn RateLimiter>,
    /// Email-verification and password-reset tokens.
    pub one_time_tokens: Arc<dyn OneTimeTokenRepository>,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
}

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

/// Who is calling, established from a session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user (active).
    pub user: User,
    /// The session the token belongs to.
    pub session: Session,
    /// Names of the user's roles.
    pub roles: Vec<String>,
    /// The union of their permissions.
    pub permissions: Vec<String>,
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
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Why a password change failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// Too many attempts for this account: guessing the current password through a
    /// stolen session is limited like guessing it at login.
    #[error("rate limited")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// The current password is wrong.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many wrong passwords from this source, or for the account: locked until then.
    #[error("account locked")]
    AccountLocked {
        /// When the lock ends.
        until: DateTime<Utc>,
    },
    /// The new password breaks a rule.
    #[error("invalid password: {0}")]
    Invalid(FieldErrors),
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

/// Registration, login and sessions.
#[derive(Clone)]
pub struct AuthService {
    ports: AuthPorts,
    policy: AuthPolicy,
    messages: Messages,
}

impl AuthService {
    /// A service over `ports` with `policy`, mailing `messages`.
    #[must_use]
    pub fn new(ports: AuthPorts, policy: AuthPolicy, messages: Messages) -> Self {
        Self {
            ports,
            policy,
            messages,
        }
    }

    async fn limit(&self, key: String, limit: RateLimit) -> Result<(), Duration> {
        match self.ports.limiter.check(&key, limit).await {
            RateDecision::Allowed => Ok(()),
            RateDecision::Limited { retry_after } => Err(retry_after),
        }
    }

    /// The key of a client address as one source: the address itself for IPv4, its /64
    /// for IPv6 (one subscriber usually holds a whole /64, so single addresses are free).
    /// The lockout counts failures per account and source.
    fn ip_key(client: &ClientInfo) -> String {
        match client.ip {
            Some(std::net::IpAddr::V6(ip)) => ipv6_prefix(ip, 64),
            Some(ip) => ip.to_string(),
            None => "unknown".to_owned(),
        }
    }

    /// Counts an attempt from `client` against `limit` under `scope`, once for each key
    /// of the address: IPv4 the address; IPv6 its /64 at `limit`, its /56 at
    /// [`WIDE_PREFIX_FACTORS`]`.0` × and its /48 at `.1` × `limit`, so rotating through
    /// the /64s of one allocation does not multiply the budget. Refused when any is over.
    async fn limit_ip(
        &self,
        scope: &str,
        client: &ClientInfo,
        limit: RateLimit,
    ) -> Result<(), Duration> {
        self.limit(format!("{scope}:ip:{}", Self::ip_key(client)), limit)
            .await?;
        if let Some(std::net::IpAddr::V6(ip)) = client.ip {
            let (f56, f48) = WIDE_PREFIX_FACTORS;
            for (bits, factor) in [(56, f56), (48, f48)] {
                let wider = RateLimit {
                    max: limit.max.saturating_mul(factor),
                    window: limit.window,
                };
                self.limit(format!("{scope}:ip:{}", ipv6_prefix(ip, bits)), wider)
                    .await?;
            }
        }
        Ok(())
    }

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
        let first_name = non_blank(registration.first_name);
        let last_name = non_blank(registration.last_name);
        let mut errors = FieldErrors::default();
        let email = Email::parse(&registration.email)
            .map_err(|e| errors.add("email", e.to_string()))
            .ok();
        if let Some(email) = &email
            && let Err(rejection) = self.policy.password.check(&registration.password, email)
        {
            errors.add("password", format!("password {rejection}"));
        }
        check_name(&mut errors, "first_name", first_name.as_ref());
        check_name(&mut errors, "last_name", last_name.as_ref());
        errors.into_result().map_err(RegisterError::Invalid)?;
        let Some(email) = email else {
            return Err(RegisterError::Invalid(FieldErrors::default()));
        };

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
        // The verification token is stored with the user; the mail goes after the commit.
        let verification = if email_verified {
            None
        } else {
            let (token, token_hash) = self.ports.tokens.generate();
            let expires_at = self.expiry(self.policy.verification_ttl)?;
            Some((token, (token_hash, expires_at)))
        };
        let new_user = NewUser {
            email,
            password_hash: Some(hash),
            first_name,
            last_name,
            email_verified,
            role: Some(role.to_owned()),
            verification: verification.as_ref().map(|(_, stored)| *stored),
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
        if let Some((token, _)) = verification {
            let mail =
                self.messages
                    .verification(&user.email, &token, self.policy.verification_ttl);
            self.ports.mailer.send(mail);
        }
        Ok(user)
    }

    /// The time `ttl` from now.
    fn expiry(&self, ttl: Duration) -> Result<DateTime<Utc>, Failure> {
        let ttl = chrono::Duration::from_std(ttl).map_err(|e| Failure::Unexpected(Box::new(e)))?;
        Ok(self.ports.clock.now() + ttl)
    }

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
    async fn count_failure(
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
    /// Storage failures.
    pub async fn logout_all(
        &self,
        principal: &Principal,
        client: &ClientInfo,
    ) -> Result<(), Failure> {
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
            .await?;
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
    /// `NotFound` when it is not the caller's live session.
    pub async fn revoke_session(
        &self,
        principal: &Principal,
        id: SessionId,
        client: &ClientInfo,
    ) -> Result<(), RevokeError> {
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

    /// Replaces the caller's password after checking the current one, and revokes every
    /// other session of theirs (`password.change`).
    ///
    /// # Errors
    /// `InvalidCredentials` for a wrong current password (audited as a failure and
    /// counted towards the lockout); `AccountLocked` while the caller's source or the
    /// account is locked; `Invalid` when the new one breaks the policy.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &Password,
        new: &Password,
        client: &ClientInfo,
    ) -> Result<(), ChangePasswordError> {
        let user = &principal.user;
        self.limit(
            format!("login:account:{}", user.email),
            self.policy.login_limit,
        )
        .await
        .map_err(|retry_after| ChangePasswordError::RateLimited { retry_after })?;
        let event = AuditEvent::self_service("password.change", user.id);
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
            return Err(ChangePasswordError::AccountLocked { until });
        }
        let verification = if current.expose().chars().count() > MAX_PASSWORD_CHARS {
            Verification::Mismatch
        } else {
            self.ports
                .hasher
                .verify(current, user.password_hash.clone())
                .await
                .map_err(Failure::from)?
        };
        if verification == Verification::Mismatch {
            return Err(
                match self.count_failure(user, &source, client, event).await? {
                    Some(until) => ChangePasswordError::AccountLocked { until },
                    None => ChangePasswordError::InvalidCredentials,
                },
            );
        }
        if let Err(rejection) = self.policy.password.check(new, &user.email) {
            let mut errors = FieldErrors::default();
            errors.add("new_password", format!("password {rejection}"));
            return Err(ChangePasswordError::Invalid(errors));
        }
        let hash = self.ports.hasher.hash(new).await.map_err(Failure::from)?;
        let change = PasswordChange {
            hash,
            revoke: RevokeSessions::AllExcept(principal.session.id),
            clear_lockout: false,
        };
        let audit = self.ports.audit.after(client, move |revoked: &u64| {
            vec![event.with("revoked_sessions", *revoked)]
        });
        let now = self.ports.clock.now();
        self.ports
            .users
            .change_password(user.id, change, now, audit)
            .await
            .map_err(Failure::from)?;
        self.notify_password_changed(&user.email, PasswordChangeKind::Changed, now, client);
        Ok(())
    }

    /// Mails the owner that the password changed, so a change they did not make is
    /// noticed.
    fn notify_password_changed(
        &self,
        to: &Email,
        how: PasswordChangeKind,
        at: DateTime<Utc>,
        client: &ClientInfo,
    ) {
        let mail = self.messages.password_changed(to, how, at, client.ip);
        self.ports.mailer.send(mail);
    }
}

/// `ip`'s network of `bits` (a multiple of 16, at most 64) as `a:b:c::/bits`.
fn ipv6_prefix(ip: std::net::Ipv6Addr, bits: usize) -> String {
    let groups: Vec<String> = ip.segments()[..bits / 16]
        .iter()
        .map(|g| format!("{g:x}"))
        .collect();
    let partial = if bits.is_multiple_of(16) {
        String::new()
    } else {
        let g = ip.segments()[bits / 16] & (0xffff_u16 << (16 - bits % 16));
        format!(":{g:x}")
    };
    format!("{}{partial}::/{bits}", groups.join(":"))
}

mod recovery;
#[cfg(test)]
mod tests;

pub use recovery::{RecoveryRequestError, ResetRequest, TokenError};
