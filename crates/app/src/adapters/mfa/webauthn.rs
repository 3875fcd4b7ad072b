//! The [`PasskeyAuthenticator`] port on `webauthn-rs`: passkey registration, assertions
//! by a user's passkeys (second factor, step-up) and discoverable (passwordless) ones.
//! Options and answers are the JSON of `navigator.credentials.create()`/`.get()`; the
//! ceremony state is the library's, serialised with a tag saying which ceremony it was.

use crate::config::WebauthnConfig;
use anyhow::Context as _;
use auth_ports::{
    Assertion, Ceremony, Email, Passkey, PasskeyAuthenticator, RegisteredCredential,
    SecondFactorError, UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, DiscoverableKey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn,
    WebauthnBuilder,
};

/// The library's record of a passkey (what [`Passkey::data`] holds, as JSON).
type PasskeyRecord = webauthn_rs::prelude::Passkey;

/// Runs ceremonies for one relying party.
pub struct WebauthnPasskeyAuthenticator {
    webauthn: Webauthn,
}

impl WebauthnPasskeyAuthenticator {
    /// The relying party `config.rp_id`, called `rp_name` in prompts, accepting
    /// ceremonies from `config.origins` (each on the RP ID or a subdomain; exact ports).
    ///
    /// # Errors
    /// When an origin is not a URL or `webauthn-rs` refuses the relying party (an origin
    /// not on the RP ID).
    pub fn new(config: &WebauthnConfig, rp_name: &str) -> anyhow::Result<Self> {
        let origins = config
            .origins
            .iter()
            .map(|origin| Url::parse(origin).with_context(|| format!("WebAuthn origin {origin}")))
            .collect::<anyhow::Result<Vec<Url>>>()?;
        let (first, others) = origins
            .split_first()
            .context("WebAuthn needs at least one origin")?;
        let builder = WebauthnBuilder::new(&config.rp_id, first)
            .with_context(|| format!("{first} is not on the WebAuthn RP ID {}", config.rp_id))?;
        let webauthn = others
            .iter()
            .fold(builder, |builder, origin| {
                builder.append_allowed_origin(origin)
            })
            .rp_name(rp_name)
            .build()
            .context("the WebAuthn relying party cannot be set up")?;
        Ok(Self { webauthn })
    }
}

/// What is kept between the start and the finish of a ceremony: which kind it was and
/// the library's state for it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "ceremony", content = "state", rename_all = "snake_case")]
enum CeremonyState {
    /// A passkey being registered.
    Registration(PasskeyRegistration),
    /// An assertion by one of a known user's passkeys.
    Authentication(PasskeyAuthentication),
    /// An assertion by a discoverable credential of anyone.
    Discoverable(DiscoverableAuthentication),
}

impl CeremonyState {
    fn parse(state: &str) -> Result<Self, SecondFactorError> {
        serde_json::from_str(state)
            .map_err(|e| SecondFactorError::Failed(format!("unreadable WebAuthn state: {e}")))
    }
}

/// A ceremony begun: the options as the browser takes them and the tagged state.
fn ceremony(
    options: &impl Serialize,
    state: &CeremonyState,
) -> Result<Ceremony, SecondFactorError> {
    let failed = |e: serde_json::Error| SecondFactorError::Failed(e.to_string());
    Ok(Ceremony {
        options: serde_json::to_value(options).map_err(failed)?,
        state: serde_json::to_string(state).map_err(failed)?,
    })
}

/// The library's records of `passkeys`.
fn records(passkeys: &[Passkey]) -> Result<Vec<PasskeyRecord>, SecondFactorError> {
    passkeys
        .iter()
        .map(|passkey| {
            serde_json::from_str(&passkey.data).map_err(|e| {
                SecondFactorError::Failed(format!("unreadable passkey {}: {e}", passkey.id))
            })
        })
        .collect()
}

/// `response` as the browser's answer of type `T`.
fn answer<T: for<'de> Deserialize<'de>>(response: &Value) -> Result<T, SecondFactorError> {
    T::deserialize(response)
        .map_err(|e| SecondFactorError::Rejected(format!("malformed WebAuthn answer: {e}")))
}

fn library_failure(e: impl std::fmt::Display) -> SecondFactorError {
    SecondFactorError::Failed(format!("WebAuthn: {e}"))
}

fn rejected(e: impl std::fmt::Display) -> SecondFactorError {
    SecondFactorError::Rejected(format!("WebAuthn: {e}"))
}

impl PasskeyAuthenticator for WebauthnPasskeyAuthenticator {
    fn start_registration(
        &self,
        user: UserId,
        account: &Email,
        existing: &[Passkey],
    ) -> Result<Ceremony, SecondFactorError> {
        let exclude: Vec<CredentialID> = existing
            .iter()
            .map(|passkey| CredentialID::from(passkey.credential_id.clone()))
            .collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(
                user.0,
                account.as_str(),
                account.as_str(),
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(library_failure)?;
        ceremony(&options, &CeremonyState::Registration(state))
    }

    fn finish_registration(
        &self,
        state: &str,
        response: &Value,
    ) -> Result<RegisteredCredential, SecondFactorError> {
        let CeremonyState::Registration(state) = CeremonyState::parse(state)? else {
            return Err(SecondFactorError::Failed(
                "not the state of a passkey registration".to_owned(),
            ));
        };
        let response: RegisterPublicKeyCredential = answer(response)?;
        let record = self
            .webauthn
            .finish_passkey_registration(&response, &state)
            .map_err(rejected)?;
        Ok(RegisteredCredential {
            credential_id: record.cred_id().to_vec(),
            data: serde_json::to_string(&record).map_err(library_failure)?,
        })
    }

    fn start_authentication(&self, passkeys: &[Passkey]) -> Result<Ceremony, SecondFactorError> {
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&records(passkeys)?)
            .map_err(library_failure)?;
        ceremony(&options, &CeremonyState::Authentication(state))
    }

    fn start_discoverable(&self) -> Result<Ceremony, SecondFactorError> {
        let (mut options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(library_failure)?;
        // The library asks for conditional mediation (autofill only), with which a page
        // without a passkey autofill field would wait forever; a page that has one adds
        // `mediation: "conditional"` itself.
        options.mediation = None;
        ceremony(&options, &CeremonyState::Discoverable(state))
    }

    fn claimed_user(&self, response: &Value) -> Result<UserId, SecondFactorError> {
        let response: PublicKeyCredential = answer(response)?;
        let (user, _credential) = self
            .webauthn
            .identify_discoverable_authentication(&response)
            .map_err(rejected)?;
        Ok(UserId(user))
    }

    fn finish_authentication(
        &self,
        state: &str,
        response: &Value,
        passkeys: &[Passkey],
    ) -> Result<Assertion, SecondFactorError> {
        let state = CeremonyState::parse(state)?;
        let response: PublicKeyCredential = answer(response)?;
        let mut records = records(passkeys)?;
        let result = match state {
            CeremonyState::Authentication(state) => self
                .webauthn
                .finish_passkey_authentication(&response, &state),
            CeremonyState::Discoverable(state) => {
                let keys: Vec<DiscoverableKey> =
                    records.iter().map(DiscoverableKey::from).collect();
                self.webauthn
                    .finish_discoverable_authentication(&response, state, &keys)
            }
            CeremonyState::Registration(_) => {
                return Err(SecondFactorError::Failed(
                    "the state of a registration where an assertion was expected".to_owned(),
                ));
            }
        }
        .map_err(rejected)?;
        // The assertion was begun for passkeys that may have been removed since.
        let record = records
            .iter_mut()
            .find(|record| record.cred_id() == result.cred_id())
            .ok_or_else(|| {
                SecondFactorError::Rejected("the credential is not one of the user's".to_owned())
            })?;
        record.update_credential(&result);
        Ok(Assertion {
            credential_id: record.cred_id().to_vec(),
            data: serde_json::to_string(&record).map_err(library_failure)?,
        })
    }
}

#[cfg(test)]
#[path = "webauthn_tests.rs"]
mod tests;
