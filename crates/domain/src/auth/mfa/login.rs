//! The second step of a login with MFA on: the challenge a right password gets, and
//! answering it with a TOTP code, a recovery code or a passkey.

use super::answer::{ChallengeSpec, Checked, verify_event};
use super::error::MfaError;
use super::model::{FactorAnswer, IssuedChallenge};
use crate::audit::ClientInfo;
use crate::auth::login::LoginError;
use crate::auth::login::{Attempt, LoginSuccess};
use crate::auth::service::AuthService;
use crate::error::Failure;
use auth_ports::{
    AuthMethod, BearerToken, Challenge, ChallengeKind, MfaFactors, PasswordHash, Session, User,
    UserId,
};

/// The `auth.login` entry of a password that was right but is not enough.
const MFA_PENDING: &str = "mfa_required";

impl AuthService {
    /// Issues the challenge of a login whose password `hash` matched for an account with
    /// MFA on: bound to that hash and the attempt's lockout source. Audited as
    /// `auth.login` failed with reason `mfa_required`: the password was right, no session
    /// was opened.
    pub(in crate::auth) async fn begin_mfa_login(
        &self,
        hash: PasswordHash,
        attempt: &Attempt<'_>,
        factors: &MfaFactors,
    ) -> Result<IssuedChallenge, LoginError> {
        let user = attempt.user().id;
        let source = attempt.source.to_owned();
        let challenge = self.second_factor_challenge(user, Some(hash), source, factors);
        let challenge = challenge.await?;
        let event = attempt.event().failed(MFA_PENDING);
        self.ports.audit.record(event, attempt.client).await?;
        Ok(challenge)
    }

    /// Issues the challenge of the second step for `user`, whose first factor was a
    /// provider's sign-in ([`Finished::MfaRequired`](crate::Finished::MfaRequired)),
    /// from `client`.
    ///
    /// # Errors
    /// Failures of the ports.
    pub async fn begin_second_factor(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> Result<IssuedChallenge, MfaError> {
        let factors = self.ports.second_factors.mfa.factors(user.id).await?;
        let source = Self::ip_key(client);
        Ok(self
            .second_factor_challenge(user.id, None, source, &factors)
            .await?)
    }

    /// The challenge of a login's second step: bound to the first factor's password hash
    /// (if it was a password) and the client's lockout source, with a WebAuthn ceremony
    /// when the user has passkeys.
    async fn second_factor_challenge(
        &self,
        user: UserId,
        password_hash: Option<PasswordHash>,
        login_source: String,
        factors: &MfaFactors,
    ) -> Result<IssuedChallenge, Failure> {
        // Without the WebAuthn port (passkeys turned off since), the other methods remain.
        let ceremony = match (&self.ports.second_factors.passkeys, &factors.passkeys[..]) {
            (Some(port), passkeys @ [_, ..]) => Some(
                port.start_authentication(passkeys)
                    .map_err(|e| Failure::Unexpected(Box::new(e)))?,
            ),
            _ => None,
        };
        let spec = ChallengeSpec {
            kind: ChallengeKind::MfaLogin,
            user_id: Some(user),
            session_id: None,
            password_hash,
            login_source: Some(login_source),
            ceremony,
            methods: factors.methods(),
        };
        self.issue_challenge(spec).await
    }

    /// Answers the challenge of a login's second step and opens the session.
    ///
    /// # Errors
    /// `InvalidToken` for an unknown, expired or used-up challenge; `InvalidCredentials`
    /// for a wrong or replayed answer (counted towards the lockout and the challenge's
    /// failures, audited as `mfa.verify`); `AccountLocked` while locked;
    /// `AccountDisabled` or `InvalidCredentials` when the account was suspended or its
    /// password changed since the first step; `RateLimited` as for login.
    pub async fn verify_mfa(
        &self,
        token: &BearerToken,
        answer: FactorAnswer,
        client: &ClientInfo,
    ) -> Result<LoginSuccess, MfaError> {
        let limited = |retry_after| MfaError::RateLimited { retry_after };
        self.limit_ip("mfa", client, self.policy.login_limit)
            .await
            .map_err(limited)?;
        let challenge = self.live_challenge(token, ChallengeKind::MfaLogin).await?;
        let (Some(user_id), Some(source)) = (
            challenge.stored.user_id,
            challenge.stored.login_source.clone(),
        ) else {
            return Err(MfaError::InvalidToken);
        };
        let hash = challenge.stored.password_hash.clone();
        let users = &self.ports.users;
        let user = users.find_by_id(user_id).await?;
        let user = user.ok_or(MfaError::InvalidToken)?;
        self.limit_account(&user.email).await.map_err(limited)?;
        let account = users.find_for_login(&user.email, &source).await?;
        let account = account.ok_or(MfaError::InvalidToken)?;
        let attempt = Attempt {
            email: &user.email,
            account: &account,
            source: &source,
            client,
        };
        let event = verify_event(&user, answer.method(), "login");
        if let Some(until) = account.locked_until(self.ports.clock.now()) {
            let locked = MfaError::AccountLocked { until };
            self.ports
                .audit
                .record(event.failed("account_locked"), client)
                .await?;
            return Err(locked);
        }
        let factors = self.ports.second_factors.mfa.factors(user.id).await?;
        let state = challenge.stored.webauthn_state.as_deref();
        match self
            .check_answer(&user, &factors, &answer, state, client)
            .await?
        {
            Checked::Accepted(method) => {
                self.open_after_mfa(&challenge, hash, method, &attempt)
                    .await
            }
            Checked::Wrong => {
                self.fail_challenge(&challenge).await?;
                let locked = self.count_failure(&user, &source, client, event).await?;
                Err(locked.map_or(MfaError::InvalidCredentials, |until| {
                    MfaError::AccountLocked { until }
                }))
            }
        }
    }

    /// Opens the session of a login whose second step `method` was right, using the
    /// challenge up (`auth.login` and `mfa.verify`). The first factor was the password
    /// that matched `hash`, or without one, a provider's sign-in.
    async fn open_after_mfa(
        &self,
        challenge: &Challenge,
        hash: Option<PasswordHash>,
        method: AuthMethod,
        attempt: &Attempt<'_>,
    ) -> Result<LoginSuccess, MfaError> {
        let user = attempt.user();
        let first = if hash.is_some() {
            AuthMethod::Password
        } else {
            AuthMethod::OAuth
        };
        let methods = vec![first, method];
        let (token, new_session) = self.new_session(user.id, attempt.client, methods)?;
        let login = match first {
            AuthMethod::OAuth => attempt.event().with("method", "oauth"),
            _ => attempt.event(),
        };
        let verified = verify_event(user, method, "login");
        let audit = self
            .ports
            .audit
            .after(attempt.client, move |session: &Session| {
                vec![verified, login.opened(session)]
            });
        let first_factor = hash.map(|hash| (hash, attempt.login_source()));
        let opened = self
            .ports
            .sessions
            .open_with_challenge(challenge.id, new_session, first_factor, audit)
            .await
            .map_err(Failure::from)?;
        match opened {
            Some(opened) => Ok(LoginSuccess::new(token, opened)),
            None => Err(self.refused_after_challenge(challenge, attempt).await?),
        }
    }

    /// Why a session was not opened after a right answer: the challenge was used up
    /// concurrently, or the account changed since the first step.
    async fn refused_after_challenge(
        &self,
        challenge: &Challenge,
        attempt: &Attempt<'_>,
    ) -> Result<MfaError, Failure> {
        if !self.is_live(challenge).await? {
            return Ok(MfaError::InvalidToken);
        }
        Ok(self.refused_at_opening(attempt).await?.into())
    }
}
