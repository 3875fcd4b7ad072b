//! OAuth/OIDC login providers and the key that encrypts their stored tokens.

use super::http::check_http_url;
use super::secret::Secret;
use super::vars::Vars;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::collections::HashSet;

/// Scopes requested from an OAuth provider when `OAUTH_<NAME>_SCOPES` is unset.
const DEFAULT_OAUTH_SCOPES: &str = "openid email profile";

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

/// OAuth login.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// The providers named in `OAUTH_PROVIDERS`, in the order listed.
    pub providers: Vec<OAuthProviderConfig>,
    /// AES-256-GCM key for provider tokens (`OAUTH_TOKEN_KEY`); `None`: tokens are not
    /// stored.
    pub token_key: Option<Secret<[u8; 32]>>,
}

impl OAuthConfig {
    /// The provider called `name`, if configured.
    pub fn provider(&self, name: &str) -> Option<&OAuthProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }
}

/// One OIDC provider, read from `OAUTH_<NAME>_*` where `<NAME>` is the provider name
/// upper-cased with `-` replaced by `_`.
#[derive(Debug, Clone)]
pub struct OAuthProviderConfig {
    /// Name used in URLs (`/v1/oauth/{name}/…`): lowercase `[a-z0-9_-]`.
    pub name: String,
    /// Issuer URL exactly as given, the base of OIDC discovery (`OAUTH_<NAME>_ISSUER`).
    pub issuer: String,
    /// Client id registered with the provider (`OAUTH_<NAME>_CLIENT_ID`).
    pub client_id: String,
    /// Client secret registered with the provider (`OAUTH_<NAME>_CLIENT_SECRET`).
    pub client_secret: Secret<String>,
    /// Scopes requested (`OAUTH_<NAME>_SCOPES`, space- or comma-separated; always
    /// includes `openid`).
    pub scopes: Vec<String>,
}

/// `OAUTH_PROVIDERS` with each provider's variables, and `OAUTH_TOKEN_KEY`.
pub(super) fn oauth<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> OAuthConfig {
    OAuthConfig {
        providers: oauth_providers(vars),
        token_key: oauth_token_key(vars),
    }
}

/// `OAUTH_PROVIDERS` and each provider's `OAUTH_<NAME>_*` variables.
pub(super) fn oauth_providers<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
) -> Vec<OAuthProviderConfig> {
    let Some(list) = vars.get("OAUTH_PROVIDERS") else {
        return Vec::new();
    };
    let mut providers = Vec::new();
    let mut prefixes = HashSet::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let name_is_valid = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_is_valid {
            vars.report(
                "OAUTH_PROVIDERS",
                format!("provider names use only a-z, 0-9, '-' and '_', got {name:?}"),
            );
            continue;
        }
        let prefix = format!("OAUTH_{}_", name.to_ascii_uppercase().replace('-', "_"));
        // `my-idp` and `my_idp` would read the same variables.
        if !prefixes.insert(prefix.clone()) {
            vars.report(
                "OAUTH_PROVIDERS",
                format!("provider {name:?} is listed twice (or clashes with another name once '-' becomes '_')"),
            );
            continue;
        }
        if let Some(provider) = oauth_provider(vars, name, &prefix) {
            providers.push(provider);
        }
    }
    providers
}

/// One provider's `<prefix>ISSUER`, `CLIENT_ID`, `CLIENT_SECRET` and `SCOPES`.
pub(super) fn oauth_provider<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
    name: &str,
    prefix: &str,
) -> Option<OAuthProviderConfig> {
    let issuer_var = format!("{prefix}ISSUER");
    let client_id_var = format!("{prefix}CLIENT_ID");
    let client_secret_var = format!("{prefix}CLIENT_SECRET");
    let scopes_var = format!("{prefix}SCOPES");
    let required = format!("required for OAuth provider {name:?}");

    let issuer = match vars.get(&issuer_var) {
        None => {
            vars.report(&issuer_var, required.clone());
            None
        }
        Some(value) => match check_http_url(&value) {
            Ok(()) => Some(value),
            Err(message) => {
                vars.report(&issuer_var, format!("{message}, got {value:?}"));
                None
            }
        },
    };
    let client_id = vars.get(&client_id_var);
    if client_id.is_none() {
        vars.report(&client_id_var, required.clone());
    }
    let client_secret = vars.raw(&client_secret_var);
    if client_secret.is_none() {
        vars.report(&client_secret_var, required);
    }
    let scopes: Vec<String> = vars
        .get(&scopes_var)
        .unwrap_or_else(|| DEFAULT_OAUTH_SCOPES.to_owned())
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // The login flow relies on the ID token, which only `openid` brings.
    if !scopes.iter().any(|s| s == "openid") {
        vars.report(&scopes_var, "must include openid");
    }
    Some(OAuthProviderConfig {
        name: name.to_owned(),
        issuer: issuer?,
        client_id: client_id?,
        client_secret: Secret::new(client_secret?),
        scopes,
    })
}

/// `OAUTH_TOKEN_KEY`: base64 (standard or URL-safe, padding optional) of exactly 32 bytes.
pub(super) fn oauth_token_key<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
) -> Option<Secret<[u8; 32]>> {
    let value = vars.get("OAUTH_TOKEN_KEY")?;
    // The value is never quoted back: it is the key.
    let decoded = BASE64_STANDARD
        .decode(&value)
        .or_else(|_| BASE64_URL_SAFE.decode(&value));
    let Ok(bytes) = decoded else {
        vars.report(
            "OAUTH_TOKEN_KEY",
            "expected base64 of 32 bytes (e.g. `openssl rand -base64 32`), got invalid base64",
        );
        return None;
    };
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(key) => Some(Secret::new(key)),
        Err(_) => {
            vars.report(
                "OAUTH_TOKEN_KEY",
                format!(
                    "expected base64 of exactly 32 bytes, got {} bytes",
                    bytes.len()
                ),
            );
            None
        }
    }
}
