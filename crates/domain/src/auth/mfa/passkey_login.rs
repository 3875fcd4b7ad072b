//! Passwordless login with a passkey: a discoverable WebAuthn ceremony names the user
//! and proves them at once (a passkey is something the user has, unlocked by something
//! they know or are).

use super::answer::{ChallengeSpec, Checked, verify_event};
use super::error::MfaError;
use super::model::{FactorAnswer, IssuedChallenge};
use crate::audit::{AuditEvent, ClientInfo};
use crate::auth::login::LoginSuccess;
use crate::auth::service::AuthService;
use crate::error::Failure;
use auth_ports::{AuthMethod, BearerToken, Challenge, ChallengeKind, Session, User, UserStatus};
use serde_json::Value;

const PURPOSE: &str = "passkey_login";

impl AuthService {
    /// Begins a passwordless login: WebAuthn options any of the user's passkeys can
    /// answer, under a challenge token.
    ///
    /// # Errors
    /// `RateLimited` per client address, as for login.
    pub async fn begin_passkey_login(
        &self,
        client: &ClientInfo,
    ) -> Result<IssuedChallenge, MfaError> {
        self.limit_passkey_login(client).await?;
        let ceremony = self.passkeys()?.start_discoverable()?;
        let spec = ChallengeSpec {
            kind: ChallengeKind::PasskeyLogin,
            user_id: None,
            session_id: None,
            password_hash: None,
            login_source: None,
            ceremony: Some(ceremony),
            methods: vec![AuthMethod::Webauthn],
        };
        Ok(self.issue_challenge(spec).await?)
    }

    /// Finishes a passwordless login with the browser's answer and opens the session.
    /// The password lockout does not apply: it guards guessable secrets, and a passkey
    /// is not one.
    ///
    /// # Errors
    /// `InvalidToken` for an unknown, expired or used-up challenge; `InvalidCredentials`
    /// for an answer that does not check out (audited as `mfa.verify` when the user it
    /// names exists); `AccountDisabled` or `EmailNotVerified` as for login.
    pub async fn finish_passkey_login(
        &self,
        token: &BearerToken,
        response: Value,
        client: &ClientInfo,
    ) -> Result<LoginSuccess, MfaError> {
        self.limit_passkey_login(client).await?;
        let challenge = self
            .live_challenge(token, ChallengeKind::PasskeyLogin)
            .await?;
        let claimed = self.passkeys()?.claimed_user(&response);
        let user = match claimed {
            Ok(id) => self.ports.users.find_by_id(id).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            self.fail_challenge(&challenge).await?;
            return Err(MfaError::InvalidCredentials);
        };
        let factors = self.ports.second_factors.mfa.factors(user.id).await?;
        let answer = FactorAnswer::Webauthn(response);
        let state = challenge.stored.webauthn_state.as_deref();
        let checked = if factors.passkeys.is_empty() {
            Checked::Wrong
        } else {
            self.check_answer(&user, &factors, &answer, state, client)
                .await?
        };
        let event = verify_event(&user, AuthMethod::Webauthn, PURPOSE);
        if checked == Checked::Wrong {
            self.fail_challenge(&challenge).await?;
            let failed = event.failed("invalid_credentials");
            self.ports.audit.record(failed, client).await?;
            return Err(MfaError::InvalidCredentials);
        }
        self.check_passkey_account(&user, client).await?;
        self.open_after_passkey(&challenge, &user, event, client)
            .await
    }

    /// Counts a passwordless attempt against the login limit of the client's address.
    async fn limit_passkey_login(&self, client: &ClientInfo) -> Result<(), MfaError> {
        self.limit_ip("passkey", client, self.policy.login_limit)
            .await
            .map_err(|retry_after| MfaError::RateLimited { retry_after })
    }

    /// The account checks of a login, for a user proven by a passkey.
    async fn check_passkey_account(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> Result<(), MfaError> {
        let refusal = if user.status != UserStatus::Active {
            Some(("account_disabled", MfaError::AccountDisabled))
        } else if self.policy.require_verified_email && !user.email_verified {
            Some(("email_not_verified", MfaError::EmailNotVerified))
        } else {
            None
        };
        match refusal {
            Some((reason, error)) => {
                let event = passkey_login_event(user).failed(reason);
                self.ports.audit.record(event, client).await?;
                Err(error)
            }
            None => Ok(()),
        }
    }

    /// Opens the session of a passwordless login, using the challenge up (`auth.login`
    /// and `mfa.verify`).
    async fn open_after_passkey(
        &self,
        challenge: &Challenge,
        user: &User,
        verified: AuditEvent,
        client: &ClientInfo,
    ) -> Result<LoginSuccess, MfaError> {
        let methods = vec![AuthMethod::Webauthn];
        let (token, new_session) = self.new_session(user.id, client, methods)?;
        let login = passkey_login_event(user);
        let audit = self.ports.audit.after(client, move |session: &Session| {
            vec![verified, login.opened(session)]
        });
        let sessions = &self.ports.sessions;
        let opened = sessions
            .open_with_challenge(challenge.id, new_session, None, audit)
            .await
            .map_err(Failure::from)?;
        let Some(opened) = opened else {
            // Used up concurrently, or the account stopped being active meanwhile.
            if !self.is_live(challenge).await? {
                return Err(MfaError::InvalidToken);
            }
            let refused = passkey_login_event(user).failed("account_disabled");
            self.ports.audit.record(refused, client).await?;
            return Err(MfaError::AccountDisabled);
        };
        Ok(LoginSuccess::new(token, opened))
    }
}

/// The `auth.login` entry of a passwordless login by `user`.
fn passkey_login_event(user: &User) -> AuditEvent {
    AuditEvent::new("auth.login")
        .with("email", user.email.as_str())
        .with("method", AuthMethod::Webauthn.as_str())
        .by(user.id)
        .on("user", user.id)
}
