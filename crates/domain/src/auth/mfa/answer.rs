//! What every second-factor step shares: issuing and finding challenges, and checking an
//! answer against a user's factors, using up what may be used once.

use super::error::{MfaError, invalid};
use super::model::{CHALLENGE_LIFETIME, FactorAnswer, IssuedChallenge, MAX_CHALLENGE_FAILURES};
use crate::audit::{AuditEvent, ClientInfo};
use crate::auth::service::AuthService;
use crate::error::Failure;
use auth_ports::{
    AuthMethod, BearerToken, Ceremony, Challenge, ChallengeKind, MfaFactors, NewChallenge,
    PasskeyAuthenticator, PasswordHash, SecondFactorError, SessionId, User, UserId,
};
use serde_json::Value;

/// What checking an answer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Checked {
    /// Right, and used up where a factor is single use.
    Accepted(AuthMethod),
    /// Wrong, replayed, or not signed by one of the user's passkeys.
    Wrong,
}

/// The `mfa.verify` entry of an answer by `user` with `method`, for `purpose`.
pub(super) fn verify_event(user: &User, method: AuthMethod, purpose: &str) -> AuditEvent {
    AuditEvent::self_service("mfa.verify", user.id)
        .with("method", method.as_str())
        .with("purpose", purpose)
}

/// What a challenge holds besides its token and times.
pub(super) struct ChallengeSpec {
    /// What it is for.
    pub(super) kind: ChallengeKind,
    /// Whose it is, when known.
    pub(super) user_id: Option<UserId>,
    /// The session it serves (step-up, passkey registration).
    pub(super) session_id: Option<SessionId>,
    /// For a login's second step after a password: the hash it matched.
    pub(super) password_hash: Option<PasswordHash>,
    /// For a login's second step: the client's lockout source.
    pub(super) login_source: Option<String>,
    /// The passkey ceremony begun for it.
    pub(super) ceremony: Option<Ceremony>,
    /// The methods it can be answered with.
    pub(super) methods: Vec<AuthMethod>,
}

impl AuthService {
    /// Stores the challenge `spec` under a fresh token, open for [`CHALLENGE_LIFETIME`].
    pub(super) async fn issue_challenge(
        &self,
        spec: ChallengeSpec,
    ) -> Result<IssuedChallenge, Failure> {
        let (token, token_hash) = self.ports.tokens.generate();
        let expires_at = self.expiry(CHALLENGE_LIFETIME)?;
        let (webauthn, webauthn_state) = spec.ceremony.map(|c| (c.options, c.state)).unzip();
        let stored = NewChallenge {
            token_hash,
            kind: spec.kind,
            user_id: spec.user_id,
            session_id: spec.session_id,
            password_hash: spec.password_hash,
            login_source: spec.login_source,
            webauthn_state,
            expires_at,
            created_at: self.ports.clock.now(),
        };
        self.ports.second_factors.challenges.create(stored).await?;
        Ok(IssuedChallenge {
            token,
            expires_at,
            methods: spec.methods,
            webauthn,
        })
    }

    /// The live challenge of `kind` that `token` names.
    ///
    /// # Errors
    /// `InvalidToken` when there is none.
    pub(super) async fn live_challenge(
        &self,
        token: &BearerToken,
        kind: ChallengeKind,
    ) -> Result<Challenge, MfaError> {
        let hash = self.ports.tokens.hash(token);
        let now = self.ports.clock.now();
        self.ports
            .second_factors
            .challenges
            .find_live(&hash, kind, now)
            .await?
            .ok_or(MfaError::InvalidToken)
    }

    /// The WebAuthn port.
    ///
    /// # Errors
    /// `NotConfigured` when passkeys are off (no relying party configured).
    pub(super) fn passkeys(&self) -> Result<&dyn PasskeyAuthenticator, MfaError> {
        let passkeys = self.ports.second_factors.passkeys.as_deref();
        passkeys.ok_or(MfaError::NotConfigured)
    }

    /// Whether `challenge` is still live (not used up by a concurrent request, not
    /// expired).
    pub(super) async fn is_live(&self, challenge: &Challenge) -> Result<bool, Failure> {
        let now = self.ports.clock.now();
        let stored = &challenge.stored;
        let challenges = &self.ports.second_factors.challenges;
        let live = challenges.find_live(&stored.token_hash, stored.kind, now);
        Ok(live.await?.is_some())
    }

    /// Counts a wrong answer to `challenge` (thrown away at the last allowed one).
    pub(super) async fn fail_challenge(&self, challenge: &Challenge) -> Result<(), Failure> {
        let challenges = &self.ports.second_factors.challenges;
        challenges
            .record_failure(challenge.id, MAX_CHALLENGE_FAILURES)
            .await?;
        Ok(())
    }

    /// Checks `answer` against `user`'s `factors`: a TOTP code's step and a recovery code
    /// are used up when right (`mfa.recovery_used` is audited), a passkey's new signature
    /// counter is stored. `webauthn_state` is the ceremony a passkey answer responds to.
    ///
    /// # Errors
    /// `Invalid` when the user has no such factor; `NotConfigured` for a TOTP code
    /// without the sealing key; failures of the ports.
    pub(super) async fn check_answer(
        &self,
        user: &User,
        factors: &MfaFactors,
        answer: &FactorAnswer,
        webauthn_state: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Checked, MfaError> {
        let method = answer.method();
        if !factors.methods().contains(&method) {
            return Err(invalid("method", format!("{method} is not set up")));
        }
        let ports = &self.ports.second_factors;
        let now = self.ports.clock.now();
        let accepted = match answer {
            FactorAnswer::Totp(code) => {
                let totp = ports.totp.as_ref().ok_or(MfaError::NotConfigured)?;
                let sealed = factors
                    .totp
                    .as_ref()
                    .map(|t| t.sealed_secret.as_slice())
                    .unwrap_or_default();
                match totp.check(user.id, sealed, code, now)? {
                    Some(step) => ports.mfa.use_totp_step(user.id, step).await?,
                    None => false,
                }
            }
            FactorAnswer::RecoveryCode(code) => {
                let hash = self.ports.tokens.hash_recovery_code(code);
                let event = AuditEvent::self_service("mfa.recovery_used", user.id);
                let audit = self.ports.audit.after(client, move |left: &u32| {
                    vec![event.with("remaining", *left)]
                });
                let used = ports.mfa.use_recovery_code(user.id, hash, now, audit);
                used.await?.is_some()
            }
            FactorAnswer::Webauthn(response) => {
                let state = webauthn_state.ok_or_else(|| {
                    invalid("method", "webauthn is not offered by this challenge")
                })?;
                self.check_passkey(state, response, factors).await?
            }
        };
        Ok(if accepted {
            Checked::Accepted(method)
        } else {
            Checked::Wrong
        })
    }

    /// Whether `response` answers the ceremony `state` with one of `factors`' passkeys;
    /// the passkey's use is recorded when it does.
    async fn check_passkey(
        &self,
        state: &str,
        response: &Value,
        factors: &MfaFactors,
    ) -> Result<bool, MfaError> {
        let ports = &self.ports.second_factors;
        let assertion =
            match self
                .passkeys()?
                .finish_authentication(state, response, &factors.passkeys)
            {
                Ok(assertion) => assertion,
                Err(SecondFactorError::Rejected(_)) => return Ok(false),
                Err(failed @ SecondFactorError::Failed(_)) => return Err(failed.into()),
            };
        let Some(passkey) = factors
            .passkeys
            .iter()
            .find(|p| p.credential_id == assertion.credential_id)
        else {
            return Ok(false);
        };
        let now = self.ports.clock.now();
        match ports
            .mfa
            .record_passkey_use(passkey.id, assertion.data, now)
            .await
        {
            Ok(()) => Ok(true),
            // Removed since the factors were read: it no longer counts.
            Err(auth_ports::StoreError::NotFound) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }
}
