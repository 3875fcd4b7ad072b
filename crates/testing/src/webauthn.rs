//! A software WebAuthn authenticator in a browser at one origin: it answers the options
//! JSON of `navigator.credentials.create()` and `.get()` with the JSON a browser hands
//! the page, so tests can run every passkey ceremony offline. Built on
//! `webauthn-authenticator-rs`'s `SoftPasskey` (user verification claimed), with what a
//! browser and a discoverable-credential authenticator add: excluded credentials are
//! refused, and an assertion with no allowed credentials is answered by the newest
//! credential, with its user handle.

use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// A credential the authenticator made: its id and the user handle it was made for, both
/// base64url as in the JSON.
struct Made {
    id: String,
    user_handle: String,
}

/// Why the authenticator (or the browser around it) refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoftAuthenticatorError {
    /// The options name a credential this authenticator holds as excluded (a browser's
    /// `InvalidStateError`).
    Excluded,
    /// The options are not what `navigator.credentials` takes.
    Malformed(String),
    /// The authenticator refused (wrong RP ID for the origin, no usable credential).
    Refused(String),
}

/// A software passkey authenticator in a browser at `origin`.
pub struct SoftAuthenticator {
    origin: Url,
    inner: WebauthnAuthenticator<SoftPasskey>,
    made: Vec<Made>,
}

impl SoftAuthenticator {
    /// An authenticator with no credentials, in a browser at `origin`
    /// (e.g. `http://localhost:8080`).
    ///
    /// # Panics
    /// When `origin` is not a URL.
    #[must_use]
    pub fn new(origin: &str) -> Self {
        Self {
            origin: parse_origin(origin),
            inner: WebauthnAuthenticator::new(SoftPasskey::new(true)),
            made: Vec::new(),
        }
    }

    /// Moves the browser to another `origin` (the credentials stay).
    ///
    /// # Panics
    /// When `origin` is not a URL.
    pub fn set_origin(&mut self, origin: &str) {
        self.origin = parse_origin(origin);
    }

    /// The credential JSON `navigator.credentials.create()` gives for `options` (the
    /// `{publicKey: …}` JSON).
    ///
    /// # Errors
    /// See [`SoftAuthenticatorError`].
    pub fn register(&mut self, options: &Value) -> Result<Value, SoftAuthenticatorError> {
        let excluded = options["publicKey"]["excludeCredentials"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|credential| credential["id"].as_str());
        for id in excluded {
            if self.made.iter().any(|made| made.id == id) {
                return Err(SoftAuthenticatorError::Excluded);
            }
        }
        let request: CreationChallengeResponse = serde_json::from_value(options.clone())
            .map_err(|e| SoftAuthenticatorError::Malformed(e.to_string()))?;
        let credential = self
            .inner
            .do_registration(self.origin.clone(), request)
            .map_err(|e| SoftAuthenticatorError::Refused(format!("{e:?}")))?;
        let credential = serde_json::to_value(credential)
            .map_err(|e| SoftAuthenticatorError::Malformed(e.to_string()))?;
        let id = credential["rawId"].as_str().unwrap_or_default().to_owned();
        let user_handle = options["publicKey"]["user"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.made.push(Made { id, user_handle });
        Ok(credential)
    }

    /// The assertion JSON `navigator.credentials.get()` gives for `options` (the
    /// `{publicKey: …}` JSON). With no allowed credentials (a discoverable login) the
    /// newest credential answers, with its user handle.
    ///
    /// # Errors
    /// See [`SoftAuthenticatorError`].
    pub fn sign(&mut self, options: &Value) -> Result<Value, SoftAuthenticatorError> {
        let mut options = options.clone();
        let allowed = options["publicKey"]["allowCredentials"]
            .as_array()
            .is_some_and(|list| !list.is_empty());
        let discovered = if allowed {
            None
        } else {
            let newest = self.made.last().ok_or_else(|| {
                SoftAuthenticatorError::Refused("no discoverable credential".to_owned())
            })?;
            options["publicKey"]["allowCredentials"] =
                json!([{"type": "public-key", "id": newest.id}]);
            Some(newest.user_handle.clone())
        };
        let request: RequestChallengeResponse = serde_json::from_value(options)
            .map_err(|e| SoftAuthenticatorError::Malformed(e.to_string()))?;
        let assertion = self
            .inner
            .do_authentication(self.origin.clone(), request)
            .map_err(|e| SoftAuthenticatorError::Refused(format!("{e:?}")))?;
        let mut assertion = serde_json::to_value(assertion)
            .map_err(|e| SoftAuthenticatorError::Malformed(e.to_string()))?;
        if let Some(user_handle) = discovered {
            assertion["response"]["userHandle"] = Value::String(user_handle);
        }
        Ok(assertion)
    }
}

fn parse_origin(origin: &str) -> Url {
    #[expect(
        clippy::expect_used,
        reason = "test support: a bad origin is a broken test"
    )]
    Url::parse(origin).expect("an origin URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_credential_there_is_nothing_to_sign_with() {
        let mut authenticator = SoftAuthenticator::new("http://localhost:8080");
        let discoverable = json!({"publicKey": {"challenge": "AAAA", "rpId": "localhost"}});

        assert!(matches!(
            authenticator.sign(&discoverable),
            Err(SoftAuthenticatorError::Refused(_))
        ));
    }

    #[test]
    fn options_that_are_not_webauthn_options_are_malformed() {
        let mut authenticator = SoftAuthenticator::new("http://localhost:8080");

        assert!(matches!(
            authenticator.register(&json!({"publicKey": {"rp": 1}})),
            Err(SoftAuthenticatorError::Malformed(_))
        ));
    }
}
