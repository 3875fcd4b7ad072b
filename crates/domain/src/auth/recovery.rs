//! Account recovery by mail (SPEC.md section 4.1): verifying the email address and
//! resetting a forgotten password with single-use tokens.

use super::service::AuthService;
use crate::audit::{AuditEvent, ClientInfo};
use crate::error::{Failure, FieldErrors};
use crate::messages::PasswordChangeKind;
use crate::password_policy::MAX_PASSWORD_CHARS;
use auth_ports::{
    BearerToken, Email, NewOneTimeToken, Password, RateLimit, Redemption, StoreError, TokenPurpose,
    User, UserId, UserStatus,
};
use std::time::Duration;

/// How many sources' budgets of recovery mail one mailbox may receive in a window.
pub const MAILBOX_FACTOR: u32 = 4;

/// Why a verification or reset request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryRequestError {
    /// Too many requests from this address or for this email.
    #[error("rate limited")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// The email is malformed.
    #[error("invalid request: {0}")]
    Invalid(FieldErrors),
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// An accepted password-reset request, to be run after the answer has gone out.
pub struct ResetRequest {
    service: AuthService,
    email: Email,
    client: ClientInfo,
}

impl ResetRequest {
    /// Looks the email up and, for an active account, stores a token and mails the link.
    ///
    /// # Errors
    /// Storage failures (nothing is stored then; the user can ask again).
    pub async fn run(self) -> Result<(), Failure> {
        self.service
            .send_password_reset(&self.email, &self.client)
            .await
    }
}

/// Why a token could not be redeemed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Unknown, expired, used, or of the other purpose.
    #[error("invalid token")]
    InvalidToken,
    /// The new password breaks the policy (the token is not used up).
    #[error("invalid password: {0}")]
    Invalid(FieldErrors),
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl AuthService {
    /// Mails the caller a new verification link (earlier ones stop working); nothing
    /// when the address is verified already.
    ///
    /// # Errors
    /// `RateLimited` per IP and per email; storage failures.
    pub async fn request_verification(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> Result<(), RecoveryRequestError> {
        self.recovery_limits(&user.email, client).await?;
        if user.email_verified {
            return Ok(());
        }
        self.issue(user, TokenPurpose::EmailVerification, None, client)
            .await?;
        Ok(())
    }

    /// Verifies the email of the token's owner (`email.verify`).
    ///
    /// # Errors
    /// `InvalidToken`; storage failures.
    pub async fn verify_email(&self, token: &str, client: &ClientInfo) -> Result<(), TokenError> {
        let token = parse_token(token)?;
        let hash = self.ports.tokens.hash(&token);
        // A read first: guessing costs no write lock (SQLite has one writer).
        self.ports
            .one_time_tokens
            .find_live(
                &hash,
                TokenPurpose::EmailVerification,
                self.ports.clock.now(),
            )
            .await
            .map_err(Failure::from)?
            .ok_or(TokenError::InvalidToken)?;
        let audit = self.ports.audit.after(client, |user: &UserId| {
            vec![AuditEvent::self_service("email.verify", *user)]
        });
        self.ports
            .one_time_tokens
            .redeem(
                &hash,
                Redemption::VerifyEmail,
                self.ports.clock.now(),
                audit,
            )
            .await
            .map(|_| ())
            .map_err(token_error)
    }

    /// Accepts a password-reset request: checks the email's form and the rate limits,
    /// which do not depend on whether an account exists. The returned [`ResetRequest`]
    /// does the rest; the caller answers first and runs it afterwards, so the answer
    /// takes the same time for known and unknown emails.
    ///
    /// # Errors
    /// `Invalid` for a malformed email; `RateLimited` per IP and per email.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<ResetRequest, RecoveryRequestError> {
        let email = Email::parse(email).map_err(|e| {
            let mut errors = FieldErrors::default();
            errors.add("email", e.to_string());
            RecoveryRequestError::Invalid(errors)
        })?;
        self.recovery_limits(&email, client).await?;
        Ok(ResetRequest {
            service: self.clone(),
            email,
            client: client.clone(),
        })
    }

    /// Mails a reset link to `email` if it belongs to an active account
    /// (`password.reset.request`, with the account as actor, or none for an unknown
    /// email).
    async fn send_password_reset(&self, email: &Email, client: &ClientInfo) -> Result<(), Failure> {
        let request = |user: Option<&User>| match user {
            // SPEC 5: the account is the actor whenever it is known.
            Some(user) => AuditEvent::self_service("password.reset.request", user.id),
            None => AuditEvent::new("password.reset.request"),
        };
        let user = match self.ports.users.find_by_email(email).await? {
            Some(user) if user.status == UserStatus::Active => user,
            other => {
                let event = request(other.as_ref()).with("sent", false);
                return self.ports.audit.record(event, client).await;
            }
        };
        let event = request(Some(&user)).with("sent", true);
        self.issue(&user, TokenPurpose::PasswordReset, Some(event), client)
            .await
    }

    /// Sets a new password for the token's owner, revokes all their sessions and clears
    /// any lockout (`password.reset`).
    ///
    /// # Errors
    /// `InvalidToken`; `Invalid` when the password breaks the policy; storage failures.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &Password,
        client: &ClientInfo,
    ) -> Result<(), TokenError> {
        let token = parse_token(token)?;
        let hash = self.ports.tokens.hash(&token);
        let now = self.ports.clock.now();
        // The policy needs the owner's email, and a refused password keeps the token.
        let owner = self
            .ports
            .one_time_tokens
            .find_live(&hash, TokenPurpose::PasswordReset, now)
            .await
            .map_err(Failure::from)?
            .ok_or(TokenError::InvalidToken)?;
        let user = self
            .ports
            .users
            .find_by_id(owner)
            .await
            .map_err(Failure::from)?
            .ok_or(TokenError::InvalidToken)?;
        let too_long = new_password.expose().chars().count() > MAX_PASSWORD_CHARS;
        let rejection = if too_long {
            Some(format!("must be at most {MAX_PASSWORD_CHARS} characters"))
        } else {
            self.policy
                .password
                .check(new_password, &user.email)
                .err()
                .map(|rejection| format!("password {rejection}"))
        };
        if let Some(rejection) = rejection {
            let mut errors = FieldErrors::default();
            errors.add("new_password", rejection);
            return Err(TokenError::Invalid(errors));
        }
        let new_hash = self
            .ports
            .hasher
            .hash(new_password)
            .await
            .map_err(Failure::from)?;
        let audit = self.ports.audit.after(client, |user: &UserId| {
            vec![AuditEvent::self_service("password.reset", *user)]
        });
        let redemption = Redemption::ResetPassword {
            hash: new_hash,
            notice: self.password_changed_notice(
                &user.email,
                PasswordChangeKind::Reset,
                now,
                client,
            ),
        };
        self.ports
            .one_time_tokens
            .redeem(&hash, redemption, now, audit)
            .await
            .map_err(token_error)?;
        Ok(())
    }

    /// Stores a new token of `purpose` for `user`, the mail carrying it (as `to`
    /// renders it from the secret and the lifetime) and `event`, in one transaction.
    async fn issue(
        &self,
        user: &User,
        purpose: TokenPurpose,
        event: Option<AuditEvent>,
        client: &ClientInfo,
    ) -> Result<(), Failure> {
        let (token, token_hash) = self.ports.tokens.generate();
        let ttl = match purpose {
            TokenPurpose::EmailVerification => self.policy.verification_ttl,
            TokenPurpose::PasswordReset => self.policy.reset_ttl,
        };
        let mail = match purpose {
            TokenPurpose::EmailVerification => self.messages.verification(&user.email, &token, ttl),
            TokenPurpose::PasswordReset => self.messages.password_reset(&user.email, &token, ttl),
        };
        let new = NewOneTimeToken {
            user_id: user.id,
            purpose,
            token_hash,
            expires_at: self.expiry(ttl)?,
            created_at: self.ports.clock.now(),
        };
        let audit = self
            .ports
            .audit
            .after(client, move |(): &()| event.into_iter().collect());
        self.ports.one_time_tokens.issue(new, mail, audit).await?;
        Ok(())
    }

    /// The recovery limits, one budget shared by verification and reset requests: per
    /// client address, per email from that address, and per mailbox at
    /// [`MAILBOX_FACTOR`] × the limit. Keyed on the email alone, a stranger could spend
    /// the owner's budget from anywhere; keyed per source only, a stranger with many
    /// addresses could flood the mailbox. This way one source spends only its own
    /// budget, and burning the owner's takes [`MAILBOX_FACTOR`] sources at once.
    async fn recovery_limits(
        &self,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<(), RecoveryRequestError> {
        let limited = |retry_after| RecoveryRequestError::RateLimited { retry_after };
        let limit = self.policy.recovery_limit;
        self.limit_ip("recovery", client, limit)
            .await
            .map_err(limited)?;
        let key = format!("recovery:email:{email}:ip:{}", Self::ip_key(client));
        self.limit(key, limit).await.map_err(limited)?;
        let mailbox = RateLimit {
            max: limit.max.saturating_mul(MAILBOX_FACTOR),
            window: limit.window,
        };
        self.limit(format!("recovery:mailbox:{email}"), mailbox)
            .await
            .map_err(limited)
    }
}

/// A token as typed: anything but a plausible token is invalid without a lookup.
fn parse_token(raw: &str) -> Result<BearerToken, TokenError> {
    let raw = raw.trim();
    let plausible = !raw.is_empty()
        && raw.len() <= 128
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plausible {
        Ok(BearerToken::new(raw.to_owned()))
    } else {
        Err(TokenError::InvalidToken)
    }
}

fn token_error(err: StoreError) -> TokenError {
    match err {
        StoreError::NotFound => TokenError::InvalidToken,
        other => TokenError::Failure(other.into()),
    }
}
