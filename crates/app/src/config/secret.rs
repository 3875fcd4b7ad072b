//! Values that must never be logged: [`Secret`] and the [`CredentialUrl`] whose password
//! is redacted in `Debug` and `Display`; and the parser of the AES keys they hold.

use super::vars::Vars;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::fmt;
use url::Url;

/// Standard base64 alphabet, padding optional (`openssl rand -base64 32` and hand-trimmed
/// values both decode).
pub(super) const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// URL-safe base64 alphabet, padding optional.
pub(super) const BASE64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A value that must not be logged: `Debug` prints `Secret(***)`; read it with
/// [`Secret::expose`].
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A URL that may carry a password (database, Redis, SMTP). `Debug` and `Display` show
/// it with the password, and any `password`-like query parameter, replaced by `***`;
/// [`CredentialUrl::expose`] gives the real one to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialUrl(pub(super) String);

impl CredentialUrl {
    /// Checks that `raw` parses as a URL and keeps it verbatim.
    pub(crate) fn parse(raw: &str) -> Result<(Self, Url), url::ParseError> {
        let url = Url::parse(raw)?;
        Ok((Self(raw.to_owned()), url))
    }

    /// The URL with its credentials, for handing to a driver.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with secrets replaced by `***`, safe to log.
    pub fn redacted(&self) -> String {
        let Ok(mut url) = Url::parse(&self.0) else {
            return "***".to_owned();
        };
        if url.password().is_some() && url.set_password(Some("***")).is_err() {
            return "***".to_owned();
        }
        if url.query_pairs().any(|(key, _)| is_secret_param(&key)) {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(key, value)| {
                    let value = if is_secret_param(&key) {
                        "***".to_owned()
                    } else {
                        value.into_owned()
                    };
                    (key.into_owned(), value)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }
}

/// Whether a query parameter of a connection URL carries a secret (sqlx accepts
/// `?password=`, redis-rs and others similar spellings).
fn is_secret_param(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().as_str(),
        "password" | "passwd" | "pass" | "pwd" | "sslpassword" | "secret" | "token"
    )
}

impl fmt::Debug for CredentialUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CredentialUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for CredentialUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// An AES-256 key in `name`: base64 (standard or URL-safe, padding optional) of exactly
/// 32 bytes; `None` when unset. The value is never quoted back: it is the key.
pub(super) fn aes_key<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
    name: &str,
) -> Option<Secret<[u8; 32]>> {
    let value = vars.get(name)?;
    let decoded = BASE64_STANDARD
        .decode(&value)
        .or_else(|_| BASE64_URL_SAFE.decode(&value));
    let Ok(bytes) = decoded else {
        vars.report(
            name,
            "expected base64 of 32 bytes (e.g. `openssl rand -base64 32`), got invalid base64",
        );
        return None;
    };
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(key) => Some(Secret::new(key)),
        Err(_) => {
            vars.report(
                name,
                format!(
                    "expected base64 of exactly 32 bytes, got {} bytes",
                    bytes.len()
                ),
            );
            None
        }
    }
}
