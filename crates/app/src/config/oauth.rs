//! OAuth/OIDC login providers and the key that encrypts their stored tokens.

use super::http::check_http_url;
use super::secret::{Secret, aes_key};
use super::vars::Vars;
use std::collections::HashSet;

/// Scopes requested from an OIDC provider when `OAUTH_<NAME>_SCOPES` is unset.
const DEFAULT_OAUTH_SCOPES: &str = "openid email profile";

/// Scopes requested from GitHub when `OAUTH_<NAME>_SCOPES` is unset: the profile and the
/// email addresses with their verification state.
const DEFAULT_GITHUB_SCOPES: &str = "read:user user:email";

/// Where GitHub lives when `OAUTH_<NAME>_ISSUER` is unset (set it for GitHub Enterprise).
const GITHUB_DOT_COM: &str = "https://github.com";

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

/// How authd talks to a provider (`OAUTH_<NAME>_KIND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect: discovery, code flow with PKCE, a verified ID token (`oidc`, the
    /// default).
    Oidc,
    /// GitHub, which speaks OAuth 2 without OIDC: code flow with PKCE, then its user API
    /// for the id and the verified primary email (`github`).
    GitHub,
}

/// One provider, read from `OAUTH_<NAME>_*` where `<NAME>` is the provider name
/// upper-cased with `-` replaced by `_`.
#[derive(Debug, Clone)]
pub struct OAuthProviderConfig {
    /// Name used in URLs (`/v1/oauth/{name}/…`): lowercase `[a-z0-9_-]`.
    pub name: String,
    /// The protocol.
    pub kind: ProviderKind,
    /// OIDC: the issuer URL exactly as given, the base of discovery. GitHub: the server
    /// (`https://github.com` unless set, for GitHub Enterprise). `OAUTH_<NAME>_ISSUER`.
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
        token_key: aes_key(vars, "OAUTH_TOKEN_KEY"),
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

/// One provider's `<prefix>KIND`, `ISSUER`, `CLIENT_ID`, `CLIENT_SECRET` and `SCOPES`.
pub(super) fn oauth_provider<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
    name: &str,
    prefix: &str,
) -> Option<OAuthProviderConfig> {
    let kind_var = format!("{prefix}KIND");
    let issuer_var = format!("{prefix}ISSUER");
    let client_id_var = format!("{prefix}CLIENT_ID");
    let client_secret_var = format!("{prefix}CLIENT_SECRET");
    let scopes_var = format!("{prefix}SCOPES");
    let required = format!("required for OAuth provider {name:?}");

    let kind = match vars.get(&kind_var).as_deref() {
        None | Some("oidc") => Some(ProviderKind::Oidc),
        Some("github") => Some(ProviderKind::GitHub),
        Some(other) => {
            vars.report(&kind_var, format!("expected oidc or github, got {other:?}"));
            None
        }
    };
    let issuer = match vars.get(&issuer_var) {
        None if kind == Some(ProviderKind::GitHub) => Some(GITHUB_DOT_COM.to_owned()),
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
    let default_scopes = match kind {
        Some(ProviderKind::GitHub) => DEFAULT_GITHUB_SCOPES,
        _ => DEFAULT_OAUTH_SCOPES,
    };
    let scopes: Vec<String> = vars
        .get(&scopes_var)
        .unwrap_or_else(|| default_scopes.to_owned())
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // The OIDC login relies on the ID token, which only `openid` brings.
    if kind == Some(ProviderKind::Oidc) && !scopes.iter().any(|s| s == "openid") {
        vars.report(&scopes_var, "must include openid");
    }
    Some(OAuthProviderConfig {
        name: name.to_owned(),
        kind: kind?,
        issuer: issuer?,
        client_id: client_id?,
        client_secret: Secret::new(client_secret?),
        scopes,
    })
}
