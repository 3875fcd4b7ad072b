//! Keys and providers for other services: the JWT signing key and the OAuth/OIDC login
//! providers with the key that encrypts their stored tokens.

use super::http::check_http_url;
use super::secret::Secret;
use super::vars::Vars;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

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

/// JWTs for other services (SPEC 4.4).
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The signing key; `None`: `POST /v1/auth/token` answers 501 `not_configured`.
    pub key: Option<JwtKey>,
    /// Lifetime of an issued token (`JWT_TTL_SECS`).
    pub ttl: Duration,
}

/// Where the JWT signing key comes from; at most one of the two variables may be set.
#[derive(Debug, Clone)]
pub enum JwtKey {
    /// `JWT_SECRET`: HS256 with this shared secret (its UTF-8 bytes, at least 32).
    Hs256(Secret<Vec<u8>>),
    /// `JWT_PRIVATE_KEY_FILE`: EdDSA with the Ed25519 PEM key at this path, also published
    /// as JWKS. The file is read by the composition root, not here, so parsing stays pure.
    Ed25519PemFile(PathBuf),
}

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

/// `JWT_SECRET` or `JWT_PRIVATE_KEY_FILE`, and `JWT_TTL_SECS`.
pub(super) fn jwt<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> JwtConfig {
    JwtConfig {
        key: jwt_key(vars),
        ttl: vars.secs("JWT_TTL_SECS", 300),
    }
}

/// `OAUTH_PROVIDERS` with each provider's variables, and `OAUTH_TOKEN_KEY`.
pub(super) fn oauth<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> OAuthConfig {
    OAuthConfig {
        providers: oauth_providers(vars),
        token_key: oauth_token_key(vars),
    }
}

/// `JWT_SECRET` or `JWT_PRIVATE_KEY_FILE`, at most one of them.
pub(super) fn jwt_key<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> Option<JwtKey> {
    let secret = vars.raw("JWT_SECRET");
    let key_file = vars.get("JWT_PRIVATE_KEY_FILE");
    match (secret, key_file) {
        (Some(_), Some(_)) => {
            vars.report(
                "JWT_SECRET",
                "set together with JWT_PRIVATE_KEY_FILE; set only one (HS256 or EdDSA)",
            );
            None
        }
        // RFC 7518 section 3.2: an HS256 key must be at least as long as the hash, 256 bits.
        (Some(secret), None) if secret.len() < 32 => {
            vars.report(
                "JWT_SECRET",
                format!("must be at least 32 bytes, got {}", secret.len()),
            );
            None
        }
        (Some(secret), None) => Some(JwtKey::Hs256(Secret::new(secret.into_bytes()))),
        (None, Some(path)) => Some(JwtKey::Ed25519PemFile(PathBuf::from(path))),
        (None, None) => None,
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
