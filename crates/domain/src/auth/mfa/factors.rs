//! Managing one's second factors: TOTP enrolment, recovery codes, passkeys. Every change
//! needs a recently authenticated session.

use super::answer::ChallengeSpec;
use super::error::{MfaError, invalid};
use super::model::{IssuedChallenge, MAX_PASSKEY_NAME_CHARS, RECOVERY_CODES};
use crate::audit::{AuditEvent, ClientInfo};
use crate::auth::service::AuthService;
use crate::principal::Principal;
use auth_ports::{
    AuthMethod, BearerToken, ChallengeKind, Constraint, MfaFactors, NewPasskey, Passkey, PasskeyId,
    RecoveryCode, RecoveryCodeSet, SecondFactorError, StoreError, TotpSecret,
};
use serde_json::Value;

/// A TOTP secret to put into an authenticator app, shown once.
#[derive(Debug, Clone)]
pub struct NewTotp {
    /// The secret in base32.
    pub secret: TotpSecret,
    /// The `otpauth://` URI (for a QR code).
    pub otpauth_uri: TotpSecret,
}

/// A passkey registered, with the recovery codes made for an account that had none.
#[derive(Debug, Clone)]
pub struct RegisteredPasskey {
    /// The passkey.
    pub passkey: Passkey,
    /// Fresh recovery codes, shown once; `None` when the account had some.
    pub recovery_codes: Option<Vec<RecoveryCode>>,
}

impl AuthService {
    /// The caller's second factors.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn factors(&self, principal: &Principal) -> Result<MfaFactors, MfaError> {
        let factors = self.ports.second_factors.mfa.factors(principal.user.id);
        Ok(factors.await?)
    }

    /// Makes a TOTP secret for the caller, pending until a code confirms it.
    ///
    /// # Errors
    /// `ReauthenticationRequired`; `NotConfigured` without a sealing key;
    /// `TotpEnrolled` when a confirmed one exists.
    pub async fn begin_totp(&self, principal: &Principal) -> Result<NewTotp, MfaError> {
        self.require_fresh(principal)?;
        let ports = &self.ports.second_factors;
        let totp = ports.totp.as_ref().ok_or(MfaError::NotConfigured)?;
        let user = &principal.user;
        let made = totp.generate(user.id, &user.email);
        let now = self.ports.clock.now();
        match ports.mfa.begin_totp(user.id, made.sealed, now).await {
            Ok(()) => Ok(NewTotp {
                secret: made.secret,
                otpauth_uri: made.otpauth_uri,
            }),
            Err(StoreError::Conflict(Constraint::TotpEnrolled)) => Err(MfaError::TotpEnrolled),
            Err(other) => Err(other.into()),
        }
    }

    /// Confirms the caller's pending TOTP secret with a code from the app (`mfa.enroll`);
    /// recovery codes are made when the caller has none.
    ///
    /// # Errors
    /// `ReauthenticationRequired`; `NotFound` when nothing is pending; `TotpEnrolled`
    /// when it is confirmed already; `Invalid` for a wrong code (not counted: the caller
    /// is proving the app works, not who they are).
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Option<Vec<RecoveryCode>>, MfaError> {
        self.require_fresh(principal)?;
        let ports = &self.ports.second_factors;
        let totp = ports.totp.as_ref().ok_or(MfaError::NotConfigured)?;
        let user = &principal.user;
        let factors = ports.mfa.factors(user.id).await?;
        let pending = factors.totp.as_ref().ok_or(MfaError::NotFound)?;
        if pending.confirmed_at.is_some() {
            return Err(MfaError::TotpEnrolled);
        }
        let now = self.ports.clock.now();
        let sealed = pending.sealed_secret.clone();
        let Some(step) = totp.check(user.id, &sealed, code, now)? else {
            return Err(invalid("code", "is not the authenticator's current code"));
        };
        let (codes, set) = self.codes_if_none(&factors).unzip();
        let event = AuditEvent::self_service("mfa.enroll", user.id).with("method", "totp");
        let audit = self.ports.audit.event(event, client);
        let confirmed = ports.mfa.confirm_totp(user.id, sealed, step, set, audit);
        if confirmed.await? {
            Ok(codes)
        } else {
            Err(MfaError::NotFound)
        }
    }

    /// Removes the caller's TOTP authenticator (`mfa.disable`).
    ///
    /// # Errors
    /// `ReauthenticationRequired`; `NotFound` when there is none.
    pub async fn disable_totp(
        &self,
        principal: &Principal,
        client: &ClientInfo,
    ) -> Result<(), MfaError> {
        self.require_fresh(principal)?;
        let user = principal.user.id;
        let event = AuditEvent::self_service("mfa.disable", user).with("method", "totp");
        let audit = self.ports.audit.event(event, client);
        let removed = self.ports.second_factors.mfa.remove_totp(user, audit);
        if removed.await? {
            Ok(())
        } else {
            Err(MfaError::NotFound)
        }
    }

    /// Replaces the caller's recovery codes with a fresh set (`mfa.enroll`, method
    /// `recovery_code`).
    ///
    /// # Errors
    /// `ReauthenticationRequired`; `NotEnabled` without a second factor to back up.
    pub async fn regenerate_recovery_codes(
        &self,
        principal: &Principal,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, MfaError> {
        self.require_fresh(principal)?;
        let user = principal.user.id;
        let mfa = &self.ports.second_factors.mfa;
        if !mfa.factors(user).await?.enabled() {
            return Err(MfaError::NotEnabled);
        }
        let (codes, set) = self.recovery_codes();
        let event = AuditEvent::self_service("mfa.enroll", user).with("method", "recovery_code");
        let audit = self.ports.audit.event(event, client);
        mfa.replace_recovery_codes(user, set, audit).await?;
        Ok(codes)
    }

    /// Begins registering a passkey for the caller.
    ///
    /// # Errors
    /// `ReauthenticationRequired`.
    pub async fn begin_passkey_registration(
        &self,
        principal: &Principal,
    ) -> Result<IssuedChallenge, MfaError> {
        self.require_fresh(principal)?;
        let user = &principal.user;
        let ports = &self.ports.second_factors;
        let existing = ports.mfa.factors(user.id).await?.passkeys;
        let ceremony = self
            .passkeys()?
            .start_registration(user.id, &user.email, &existing)?;
        let spec = ChallengeSpec {
            kind: ChallengeKind::PasskeyRegistration,
            user_id: Some(user.id),
            session_id: Some(principal.session.id),
            password_hash: None,
            login_source: None,
            ceremony: Some(ceremony),
            methods: vec![AuthMethod::Webauthn],
        };
        Ok(self.issue_challenge(spec).await?)
    }

    /// Stores the passkey the browser made for a registration begun by this session
    /// (`mfa.enroll`, method `webauthn`); recovery codes are made when the caller has none.
    ///
    /// # Errors
    /// `ReauthenticationRequired`; `Invalid` for a blank or long name; `InvalidToken` for
    /// an unknown challenge or another session's; `PasskeyRejected` for an answer that
    /// does not check out; `PasskeyRegistered` for a credential registered already.
    pub async fn finish_passkey_registration(
        &self,
        principal: &Principal,
        token: &BearerToken,
        name: &str,
        response: &Value,
        client: &ClientInfo,
    ) -> Result<RegisteredPasskey, MfaError> {
        self.require_fresh(principal)?;
        let name = passkey_name(name)?;
        let kind = ChallengeKind::PasskeyRegistration;
        let challenge = self.live_challenge(token, kind).await?;
        if challenge.stored.session_id != Some(principal.session.id) {
            return Err(MfaError::InvalidToken);
        }
        let ports = &self.ports.second_factors;
        if !ports.challenges.consume(challenge.id).await? {
            return Err(MfaError::InvalidToken);
        }
        let state = challenge
            .stored
            .webauthn_state
            .as_deref()
            .unwrap_or_default();
        let credential = match self.passkeys()?.finish_registration(state, response) {
            Ok(credential) => credential,
            Err(SecondFactorError::Rejected(why)) => return Err(MfaError::PasskeyRejected(why)),
            Err(failed) => return Err(failed.into()),
        };
        let user = principal.user.id;
        let factors = ports.mfa.factors(user).await?;
        let (codes, set) = self.codes_if_none(&factors).unzip();
        let passkey = NewPasskey {
            user_id: user,
            credential_id: credential.credential_id,
            name,
            data: credential.data,
            created_at: self.ports.clock.now(),
        };
        let audit = self.ports.audit.after(client, move |passkey: &Passkey| {
            vec![
                AuditEvent::self_service("mfa.enroll", user)
                    .with("method", "webauthn")
                    .with("passkey_id", passkey.id.to_string()),
            ]
        });
        match ports.mfa.add_passkey(passkey, set, audit).await {
            Ok(passkey) => Ok(RegisteredPasskey {
                passkey,
                recovery_codes: codes,
            }),
            Err(StoreError::Conflict(Constraint::PasskeyCredential)) => {
                Err(MfaError::PasskeyRegistered)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Removes one of the caller's passkeys (`mfa.disable`, method `webauthn`).
    ///
    /// # Errors
    /// `ReauthenticationRequired`; `NotFound` when the caller has no such passkey.
    pub async fn remove_passkey(
        &self,
        principal: &Principal,
        id: PasskeyId,
        client: &ClientInfo,
    ) -> Result<(), MfaError> {
        self.require_fresh(principal)?;
        let user = principal.user.id;
        let event = AuditEvent::self_service("mfa.disable", user)
            .with("method", "webauthn")
            .with("passkey_id", id.to_string());
        let audit = self.ports.audit.event(event, client);
        match self
            .ports
            .second_factors
            .mfa
            .remove_passkey(user, id, audit)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(MfaError::NotFound),
            Err(other) => Err(other.into()),
        }
    }

    /// A fresh set of recovery codes: the codes to show and the hashes to store.
    fn recovery_codes(&self) -> (Vec<RecoveryCode>, RecoveryCodeSet) {
        let tokens = &self.ports.tokens;
        let codes: Vec<RecoveryCode> = (0..RECOVERY_CODES)
            .map(|_| tokens.recovery_code())
            .collect();
        let hashes = codes.iter().map(|c| tokens.hash_recovery_code(c)).collect();
        let set = RecoveryCodeSet {
            hashes,
            created_at: self.ports.clock.now(),
        };
        (codes, set)
    }

    /// A fresh set of recovery codes when the user has none left.
    fn codes_if_none(&self, factors: &MfaFactors) -> Option<(Vec<RecoveryCode>, RecoveryCodeSet)> {
        (factors.recovery_codes_left == 0).then(|| self.recovery_codes())
    }
}

/// A passkey's name, trimmed: 1 to [`MAX_PASSKEY_NAME_CHARS`] characters.
fn passkey_name(name: &str) -> Result<String, MfaError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_PASSKEY_NAME_CHARS {
        let message = format!("must be 1 to {MAX_PASSKEY_NAME_CHARS} characters");
        return Err(invalid("name", message));
    }
    Ok(name.to_owned())
}
