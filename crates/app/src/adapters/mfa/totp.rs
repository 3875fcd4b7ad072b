//! The [`TotpAuthenticator`] port on `totp-rs`: RFC 6238 with SHA-1, 6 digits and 30 s
//! steps (what every authenticator app reads from an `otpauth://` URI), 160-bit secrets
//! from the OS RNG, sealed with AES-256-GCM under `MFA_SECRET_KEY` and bound to their
//! user. Codes are compared in constant time (by `totp-rs`).

use crate::adapters::random::os_random;
use crate::adapters::sealing::Sealer;
use auth_ports::{Email, NewTotpSecret, SecondFactorError, TotpAuthenticator, TotpSecret, UserId};
use chrono::{DateTime, Utc};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Digits of a code.
const DIGITS: u8 = 6;

/// Seconds of a time step.
const STEP_SECS: u64 = 30;

/// Steps of clock skew accepted either way.
const SKEW: u16 = 1;

/// TOTP secrets sealed under one key; `issuer` names authd in authenticator apps.
pub struct SealedTotpAuthenticator {
    sealer: Sealer,
    issuer: String,
}

impl SealedTotpAuthenticator {
    /// Seals with `key` (`MFA_SECRET_KEY`); `issuer` (`WEBAUTHN_RP_NAME`) labels the
    /// otpauth URIs.
    #[must_use]
    pub fn new(key: &[u8; 32], issuer: &str) -> Self {
        Self {
            sealer: Sealer::new(key),
            issuer: label_part(issuer),
        }
    }

    /// The RFC 6238 parameters for `secret`, labelled for `account`.
    fn totp(&self, secret: Vec<u8>, account: &str) -> Result<Totp, SecondFactorError> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(SKEW)
            .with_step_duration(STEP_SECS)
            .with_secret(secret)
            .with_issuer(Some(self.issuer.as_str()))
            .with_account_name(label_part(account))
            .build()
            .map_err(|e| SecondFactorError::Failed(format!("TOTP parameters refused: {e}")))
    }
}

/// `text` fit for an otpauth label: a `:`, which separates issuer and account there,
/// shows as `_`.
fn label_part(text: &str) -> String {
    text.replace(':', "_")
}

/// The associated data of a user's sealed TOTP secret.
fn secret_context(user: UserId) -> Vec<u8> {
    format!("authd-mfa-totp-v1|{user}").into_bytes()
}

impl TotpAuthenticator for SealedTotpAuthenticator {
    /// # Panics
    /// When the OS random number generator fails.
    fn generate(&self, user: UserId, account: &Email) -> NewTotpSecret {
        let secret = os_random::<20>();
        let sealed = self.sealer.seal(&secret, &secret_context(user));
        // A 160-bit secret, six digits and label parts without `:` always build.
        let uri = self
            .totp(secret.to_vec(), account.as_str())
            .ok()
            .and_then(|totp| totp.to_url().ok())
            .unwrap_or_default();
        NewTotpSecret {
            sealed,
            secret: TotpSecret::new(Secret::from(secret).to_base32()),
            otpauth_uri: TotpSecret::new(uri),
        }
    }

    fn check(
        &self,
        user: UserId,
        sealed: &[u8],
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, SecondFactorError> {
        let secret = self
            .sealer
            .open(sealed, &secret_context(user))
            .ok_or_else(|| {
                SecondFactorError::Failed(
                    "a TOTP secret does not open under MFA_SECRET_KEY for its user".to_owned(),
                )
            })?;
        let totp = self.totp(secret, "")?;
        // totp-rs refuses anything but DIGITS ASCII digits too; said here, as the port's
        // contract, not left to the library.
        if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let Ok(time) = u64::try_from(now.timestamp()) else {
            return Ok(None);
        };
        Ok(totp
            .check(code, time)
            .and_then(|step| i64::try_from(step).ok()))
    }
}

#[cfg(test)]
#[path = "totp_tests.rs"]
mod tests;
