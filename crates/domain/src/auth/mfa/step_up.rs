//! Step-up: proving again who one is, so a session may make sensitive changes for the
//! next [`STEP_UP_WINDOW`](crate::principal::STEP_UP_WINDOW). An account with MFA on
//! steps up with a second factor; one without, with its password.

use super::answer::{ChallengeSpec, Checked, verify_event};
use super::error::{MfaError, invalid};
use super::model::{FactorAnswer, IssuedChallenge};
use crate::audit::{AuditEvent, ClientInfo};
use crate::auth::service::AuthService;
use crate::error::Failure;
use crate::password_policy::MAX_PASSWORD_CHARS;
use crate::principal::Principal;
use auth_ports::{AuthMethod, BearerToken, ChallengeKind, MfaFactors, Password, Verification};
use chrono::{DateTime, Utc};
use serde_json::Value;

const PURPOSE: &str = "step_up";

/// What a step-up is answered with.
#[derive(Debug, Clone)]
pub enum StepUpAnswer {
    /// The password (accounts without MFA).
    Password(Password),
    /// A code from the authenticator app.
    Totp(String),
    /// One of the recovery codes.
    RecoveryCode(auth_ports::RecoveryCode),
    /// The browser's answer to a step-up passkey challenge.
    Webauthn {
        /// The challenge token from [`AuthService::begin_step_up_passkey`].
        token: BearerToken,
        /// The browser's answer.
        response: Value,
    },
}

impl StepUpAnswer {
    fn method(&self) -> AuthMethod {
        match self {
            Self::Password(_) => AuthMethod::Password,
            Self::Totp(_) => AuthMethod::Totp,
            Self::RecoveryCode(_) => AuthMethod::RecoveryCode,
            Self::Webauthn { .. } => AuthMethod::Webauthn,
        }
    }
}

/// A session authenticated afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reauthenticated {
    /// When.
    pub authenticated_at: DateTime<Utc>,
    /// By what.
    pub methods: Vec<AuthMethod>,
}

impl AuthService {
    /// A passkey challenge to step the caller's session up with.
    ///
    /// # Errors
    /// `NotEnabled` when the caller has no passkey; `NotConfigured` when passkeys are
    /// off.
    pub async fn begin_step_up_passkey(
        &self,
        principal: &Principal,
    ) -> Result<IssuedChallenge, MfaError> {
        let factors = self.ports.second_factors.mfa.factors(principal.user.id);
        let factors = factors.await?;
        if factors.passkeys.is_empty() {
            return Err(MfaError::NotEnabled);
        }
        let passkeys = self.passkeys()?;
        let spec = ChallengeSpec {
            kind: ChallengeKind::StepUp,
            user_id: Some(principal.user.id),
            session_id: Some(principal.session.id),
            password_hash: None,
            login_source: None,
            ceremony: Some(passkeys.start_authentication(&factors.passkeys)?),
            methods: vec![AuthMethod::Webauthn],
        };
        Ok(self.issue_challenge(spec).await?)
    }

    /// Authenticates the caller's session afresh with `answer` (audited as `mfa.verify`
    /// for a second factor, `auth.reauthenticate` for a password).
    ///
    /// # Errors
    /// `Invalid` for a password when the account has MFA on, or a factor it lacks;
    /// `InvalidCredentials` for a wrong answer (counted towards the lockout);
    /// `AccountLocked` while locked; `InvalidToken` for a passkey answer to an unknown or
    /// foreign challenge; `RateLimited` as for a password change.
    pub async fn reauthenticate(
        &self,
        principal: &Principal,
        answer: StepUpAnswer,
        client: &ClientInfo,
    ) -> Result<Reauthenticated, MfaError> {
        let user = &principal.user;
        self.limit_account(&user.email)
            .await
            .map_err(|retry_after| MfaError::RateLimited { retry_after })?;
        let method = answer.method();
        let event = match method {
            AuthMethod::Password => AuditEvent::self_service("auth.reauthenticate", user.id)
                .with("method", method.as_str()),
            _ => verify_event(user, method, PURPOSE),
        };
        let source = Self::ip_key(client);
        let now = self.ports.clock.now();
        let account = self
            .ports
            .users
            .find_for_login(&user.email, &source)
            .await?;
        if let Some(until) = account.and_then(|account| account.locked_until(now)) {
            let failed = event.failed("account_locked");
            self.ports.audit.record(failed, client).await?;
            return Err(MfaError::AccountLocked { until });
        }
        let factors = self.ports.second_factors.mfa.factors(user.id).await?;
        match self
            .check_step_up(principal, &factors, answer, client)
            .await?
        {
            Checked::Accepted(method) => {
                self.record_step_up(principal, method, event, client).await
            }
            Checked::Wrong => {
                let locked = self.count_failure(user, &source, client, event).await?;
                Err(locked.map_or(MfaError::InvalidCredentials, |until| {
                    MfaError::AccountLocked { until }
                }))
            }
        }
    }

    /// Checks a step-up answer: the password only when MFA is off, a passkey only
    /// against a live step-up challenge of this session (used up when right).
    async fn check_step_up(
        &self,
        principal: &Principal,
        factors: &MfaFactors,
        answer: StepUpAnswer,
        client: &ClientInfo,
    ) -> Result<Checked, MfaError> {
        let user = &principal.user;
        let factor = match answer {
            StepUpAnswer::Password(password) => {
                if factors.enabled() {
                    let methods: Vec<_> = factors.methods().iter().map(|m| m.as_str()).collect();
                    let needed = format!("a second factor is needed: {}", methods.join(", "));
                    return Err(invalid("method", needed));
                }
                return self.check_password(user, &password).await;
            }
            StepUpAnswer::Totp(code) => FactorAnswer::Totp(code),
            StepUpAnswer::RecoveryCode(code) => FactorAnswer::RecoveryCode(code),
            StepUpAnswer::Webauthn { token, response } => {
                let challenge = self.live_challenge(&token, ChallengeKind::StepUp).await?;
                if challenge.stored.session_id != Some(principal.session.id) {
                    return Err(MfaError::InvalidToken);
                }
                let answer = FactorAnswer::Webauthn(response);
                let state = challenge.stored.webauthn_state.as_deref();
                let checked = self
                    .check_answer(user, factors, &answer, state, client)
                    .await?;
                if checked == Checked::Wrong {
                    self.fail_challenge(&challenge).await?;
                } else if !self
                    .ports
                    .second_factors
                    .challenges
                    .consume(challenge.id)
                    .await?
                {
                    return Err(MfaError::InvalidToken);
                }
                return Ok(checked);
            }
        };
        self.check_answer(user, factors, &factor, None, client)
            .await
    }

    /// Whether `password` is the user's.
    async fn check_password(
        &self,
        user: &auth_ports::User,
        password: &Password,
    ) -> Result<Checked, MfaError> {
        if password.expose().chars().count() > MAX_PASSWORD_CHARS {
            return Ok(Checked::Wrong);
        }
        let hasher = &self.ports.hasher;
        let verification = hasher.verify(password, user.password_hash.clone()).await;
        Ok(match verification.map_err(Failure::from)? {
            Verification::Match { .. } => Checked::Accepted(AuthMethod::Password),
            Verification::Mismatch => Checked::Wrong,
        })
    }

    /// Records the fresh authentication on the session, with its audit entry.
    async fn record_step_up(
        &self,
        principal: &Principal,
        method: AuthMethod,
        event: AuditEvent,
        client: &ClientInfo,
    ) -> Result<Reauthenticated, MfaError> {
        let now = self.ports.clock.now();
        let event = event.with("session_id", principal.session.id.to_string());
        let audit = self.ports.audit.event(event, client);
        let sessions = &self.ports.sessions;
        let done = sessions.reauthenticate(principal.session.id, now, vec![method], audit);
        if done.await? {
            Ok(Reauthenticated {
                authenticated_at: now,
                methods: vec![method],
            })
        } else {
            Err(MfaError::SessionEnded)
        }
    }
}
