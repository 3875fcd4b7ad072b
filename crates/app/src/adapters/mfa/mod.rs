//! The second factors' cryptography: TOTP codes and WebAuthn ceremonies, built from the
//! configuration for the composition root.

mod totp;
mod webauthn;

pub use totp::SealedTotpAuthenticator;
pub use webauthn::WebauthnPasskeyAuthenticator;

use crate::config::MfaConfig;
use auth_ports::{PasskeyAuthenticator, TotpAuthenticator};
use std::sync::Arc;

/// The second-factor adapters the configuration allows.
#[derive(Clone)]
pub struct SecondFactorAdapters {
    /// TOTP, when `MFA_SECRET_KEY` is set.
    pub totp: Option<Arc<dyn TotpAuthenticator>>,
    /// Passkeys, when the public URL (or `WEBAUTHN_RP_ID`) gives a domain.
    pub passkeys: Option<Arc<dyn PasskeyAuthenticator>>,
}

impl SecondFactorAdapters {
    /// The adapters for `config`; says at start-up which factors are off.
    ///
    /// # Errors
    /// When the WebAuthn relying party cannot be set up from it.
    pub fn new(config: &MfaConfig) -> anyhow::Result<Self> {
        let totp = config.secret_key.as_ref().map(|key| {
            Arc::new(SealedTotpAuthenticator::new(key.expose(), &config.rp_name))
                as Arc<dyn TotpAuthenticator>
        });
        if totp.is_none() {
            tracing::info!("TOTP enrolment is off: MFA_SECRET_KEY is not set");
        }
        if let Some(webauthn) = &config.webauthn
            && !webauthn.left_out.is_empty()
        {
            tracing::warn!(
                origins = %webauthn.left_out.join(", "),
                rp_id = %webauthn.rp_id,
                "these CORS_ALLOWED_ORIGINS are not on WEBAUTHN_RP_ID, so passkeys cannot be used there"
            );
        }
        let passkeys = match &config.webauthn {
            Some(webauthn) => Some(Arc::new(WebauthnPasskeyAuthenticator::new(
                webauthn,
                &config.rp_name,
            )?) as Arc<dyn PasskeyAuthenticator>),
            None => {
                tracing::info!(
                    "passkeys are off: AUTHD_PUBLIC_URL's host is an IP address, and WebAuthn needs a domain"
                );
                None
            }
        };
        Ok(Self { totp, passkeys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, WebauthnConfig};

    fn config(secret_key: Option<[u8; 32]>, webauthn: Option<WebauthnConfig>) -> MfaConfig {
        MfaConfig {
            secret_key: secret_key.map(Secret::new),
            rp_name: "authd".to_owned(),
            webauthn,
        }
    }

    #[test]
    fn each_factor_is_there_when_configured() {
        let none = SecondFactorAdapters::new(&config(None, None)).unwrap();
        assert!(none.totp.is_none() && none.passkeys.is_none());

        let localhost = WebauthnConfig {
            rp_id: "localhost".to_owned(),
            origins: vec!["http://localhost:8080".to_owned()],
            left_out: vec![],
        };
        let both = SecondFactorAdapters::new(&config(Some([1; 32]), Some(localhost))).unwrap();
        assert!(both.totp.is_some() && both.passkeys.is_some());
    }

    #[test]
    fn a_relying_party_webauthn_refuses_is_a_start_up_error() {
        let off_domain = WebauthnConfig {
            rp_id: "example.com".to_owned(),
            origins: vec!["https://example.org".to_owned()],
            left_out: vec![],
        };
        assert!(SecondFactorAdapters::new(&config(None, Some(off_domain))).is_err());
    }
}
