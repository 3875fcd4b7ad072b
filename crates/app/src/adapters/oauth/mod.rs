//! The [`OAuthClient`] port: the configured providers, each OpenID Connect (through
//! `openidconnect`) or GitHub (OAuth 2 and its user API, through `oauth2`), over one HTTP
//! client that follows no redirects (a provider's answer is never chased elsewhere).

mod endpoint;
mod github;
mod oidc;
mod token_context;

use super::sealing::Sealer;
use crate::config::{OAuthConfig, OAuthProviderConfig, ProviderKind};
use anyhow::Context as _;
use auth_ports::{
    AuthorizationRequest, Clock, ExternalIdentity, OAuthClient, OAuthClientError, PendingOAuthFlow,
};
use endpoint::Endpoint;
use github::GitHubProvider;
use oidc::OidcProvider;
use openidconnect::{ClientId, ClientSecret, RedirectUrl};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a call to a provider (discovery, token, user API) may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

enum Provider {
    Oidc(OidcProvider),
    GitHub(GitHubProvider),
}

/// The providers of `OAUTH_PROVIDERS`.
pub struct OAuthProviders {
    providers: HashMap<String, Provider>,
    sealer: Option<Sealer>,
}

impl OAuthProviders {
    /// The configured providers; redirect URIs are `{public_url}/v1/oauth/{name}/callback`.
    /// Nothing is fetched yet: a provider that is down does not stop authd from starting.
    ///
    /// # Errors
    /// When a URL cannot be built or the HTTP client cannot be set up.
    pub fn new(
        config: &OAuthConfig,
        public_url: &str,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .user_agent(concat!("authd/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client for OAuth providers")?;
        let mut providers = HashMap::new();
        for provider in &config.providers {
            warn_if_in_clear(provider);
            let endpoint = endpoint(provider, public_url, http.clone(), Arc::clone(&clock))?;
            let provider_impl = match provider.kind {
                ProviderKind::Oidc => {
                    Provider::Oidc(OidcProvider::new(endpoint, &provider.issuer)?)
                }
                ProviderKind::GitHub => {
                    Provider::GitHub(GitHubProvider::new(endpoint, &provider.issuer)?)
                }
            };
            providers.insert(provider.name.clone(), provider_impl);
        }
        Ok(Self {
            providers,
            sealer: config
                .token_key
                .as_ref()
                .map(|key| Sealer::new(key.expose())),
        })
    }

    fn provider(&self, name: &str) -> Result<&Provider, OAuthClientError> {
        self.providers
            .get(name)
            .ok_or(OAuthClientError::UnknownProvider)
    }
}

/// A provider over plain http outside this host can be read and altered on the way
/// (codes, tokens, keys): allowed, for development, but said at start-up.
fn warn_if_in_clear(provider: &OAuthProviderConfig) {
    let protected = url::Url::parse(&provider.issuer).ok().is_some_and(|url| {
        url.scheme() == "https"
            || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || url.host_str() == Some("localhost")
    });
    if !protected {
        tracing::warn!(
            provider = %provider.name,
            issuer = %provider.issuer,
            "OAuth provider over plain http: codes, tokens and keys cross the network in clear"
        );
    }
}

fn endpoint(
    provider: &OAuthProviderConfig,
    public_url: &str,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Endpoint> {
    let redirect = format!("{public_url}/v1/oauth/{}/callback", provider.name);
    Ok(Endpoint {
        name: provider.name.clone(),
        client_id: ClientId::new(provider.client_id.clone()),
        client_secret: ClientSecret::new(provider.client_secret.expose().clone()),
        redirect_uri: RedirectUrl::new(redirect)
            .with_context(|| format!("bad redirect URI for provider {}", provider.name))?,
        scopes: provider.scopes.clone(),
        http,
        clock,
    })
}

#[async_trait::async_trait]
impl OAuthClient for OAuthProviders {
    fn has_provider(&self, provider: &str) -> bool {
        self.providers.contains_key(provider)
    }

    async fn authorization_url(
        &self,
        provider: &str,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthClientError> {
        match self.provider(provider)? {
            Provider::Oidc(oidc) => oidc.authorization_url(request).await,
            Provider::GitHub(github) => Ok(github.authorization_url(request)),
        }
    }

    async fn finish(
        &self,
        provider: &str,
        code: &str,
        flow: &PendingOAuthFlow,
    ) -> Result<ExternalIdentity, OAuthClientError> {
        let sealer = self.sealer.as_ref();
        match self.provider(provider)? {
            Provider::Oidc(oidc) => oidc.finish(code, flow, sealer).await,
            Provider::GitHub(github) => github.finish(code, flow, sealer).await,
        }
    }
}
