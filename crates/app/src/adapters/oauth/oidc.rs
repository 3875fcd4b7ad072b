//! An OpenID Connect provider through `openidconnect`: discovery (cached, refreshed
//! hourly, the last good copy kept while the provider is unreachable), the code flow with
//! PKCE S256, state and nonce, and the ID token checks — signature against the provider's
//! JWKS (fetched again when a token names a key it does not hold: key rotation), `iss`,
//! `aud`, `azp`, `exp` and the nonce.

use super::endpoint::{Endpoint, sealed_tokens};
use super::sealing::{TokenRole, TokenSealer};
use auth_ports::{
    AuthorizationRequest, ExternalIdentity, OAuthClientError, PendingOAuthFlow, SealedTokens,
};
use openidconnect::core::{
    CoreAuthPrompt, CoreClient, CoreIdTokenClaims, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType, CoreTokenResponse,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RequestTokenError,
    SignatureVerificationError, TokenResponse as _,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// How long discovered metadata is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// The provider's metadata and keys as last fetched.
struct Discovered {
    metadata: CoreProviderMetadata,
    fetched_at: Instant,
}

/// One configured OIDC provider.
pub(super) struct OidcProvider {
    endpoint: Endpoint,
    issuer: IssuerUrl,
    discovered: RwLock<Option<Arc<Discovered>>>,
    /// Held while fetching, so concurrent callers wait for one fetch instead of each
    /// making their own.
    fetching: Mutex<()>,
}

impl OidcProvider {
    /// A provider at `issuer`; nothing is fetched until the first flow.
    pub(super) fn new(endpoint: Endpoint, issuer: &str) -> anyhow::Result<Self> {
        Ok(Self {
            endpoint,
            issuer: IssuerUrl::new(issuer.to_owned())?,
            discovered: RwLock::new(None),
            fetching: Mutex::new(()),
        })
    }

    /// The authorization URL for `request`.
    pub(super) async fn authorization_url(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthClientError> {
        let discovered = self.discovered().await?;
        let client = self.client(&discovered);
        let state = request.state.expose().to_owned();
        let nonce = request.nonce.expose().to_owned();
        let verifier = PkceCodeVerifier::new(request.pkce_verifier.expose().to_owned());
        let mut authorization = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scopes(self.endpoint.scopes())
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
        if request.reauthenticate {
            authorization = authorization.add_prompt(CoreAuthPrompt::Login);
        }
        let (url, _, _) = authorization.url();
        Ok(url.into())
    }

    /// Exchanges `code` and verifies the ID token against the flow's nonce.
    pub(super) async fn finish(
        &self,
        code: &str,
        flow: &PendingOAuthFlow,
        sealer: Option<&TokenSealer>,
    ) -> Result<ExternalIdentity, OAuthClientError> {
        let discovered = self.discovered().await?;
        let response = self.exchange(&discovered, code, flow).await?;
        let id_token = response.id_token().ok_or_else(|| {
            OAuthClientError::Rejected("the token response has no ID token".into())
        })?;
        let nonce = Nonce::new(flow.nonce.expose().to_owned());
        let claims = match id_token.claims(&self.verifier(&discovered), &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let refreshed = self.refetch_keys(&discovered).await?;
                id_token.claims(&self.verifier(&refreshed), &nonce).cloned()
            }
            verified => verified.cloned(),
        }
        .map_err(|e| OAuthClientError::Rejected(format!("ID token refused: {}", causes(&e))))?;
        Ok(identity(&claims, &response, &self.endpoint, sealer))
    }

    /// The code exchange, with the flow's PKCE verifier.
    async fn exchange(
        &self,
        discovered: &Discovered,
        code: &str,
        flow: &PendingOAuthFlow,
    ) -> Result<CoreTokenResponse, OAuthClientError> {
        let client = self.client(discovered);
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OAuthClientError::Unreachable(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(
                flow.pkce_verifier.expose().to_owned(),
            ));
        request
            .request_async(&self.endpoint.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(refusal) => OAuthClientError::Rejected(format!(
                    "the token endpoint refused the code: {}",
                    refusal.error()
                )),
                RequestTokenError::Request(e) => {
                    OAuthClientError::Unreachable(format!("token endpoint: {e}"))
                }
                other => OAuthClientError::Rejected(format!("token endpoint: {other}")),
            })
    }

    /// A client over the discovered metadata (cheap: it is rebuilt for every flow so the
    /// metadata can be refreshed underneath).
    fn client(
        &self,
        discovered: &Discovered,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            discovered.metadata.clone(),
            self.endpoint.client_id.clone(),
            Some(self.endpoint.client_secret.clone()),
        )
        .set_redirect_uri(self.endpoint.redirect_uri.clone())
    }

    /// The ID token verifier for the current keys: asymmetric algorithms only (what the
    /// provider advertises, RS256 when it says nothing), never `none` or an HMAC keyed
    /// with the client secret.
    fn verifier<'a>(&'a self, discovered: &'a Discovered) -> CoreIdTokenVerifier<'a> {
        let advertised = discovered
            .metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|alg| is_asymmetric(alg))
            .cloned()
            .collect::<Vec<_>>();
        let algs = if advertised.is_empty() {
            vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
        } else {
            advertised
        };
        let clock = Arc::clone(&self.endpoint.clock);
        CoreIdTokenVerifier::new_public_client(
            self.endpoint.client_id.clone(),
            self.issuer.clone(),
            discovered.metadata.jwks().clone(),
        )
        .set_allowed_algs(algs)
        .set_time_fn(move || clock.now())
    }

    /// The metadata, fetched when there is none or it is older than [`METADATA_TTL`]; a
    /// stale copy is used while the provider cannot be reached.
    async fn discovered(&self) -> Result<Arc<Discovered>, OAuthClientError> {
        if let Some(fresh) = self
            .current()
            .await
            .filter(|d| d.fetched_at.elapsed() < METADATA_TTL)
        {
            return Ok(fresh);
        }
        let _fetching = self.fetching.lock().await;
        let current = self.current().await;
        if let Some(fresh) = current
            .clone()
            .filter(|d| d.fetched_at.elapsed() < METADATA_TTL)
        {
            return Ok(fresh);
        }
        match CoreProviderMetadata::discover_async(self.issuer.clone(), &self.endpoint.http).await {
            Ok(metadata) => Ok(self
                .store(Discovered {
                    metadata,
                    fetched_at: Instant::now(),
                })
                .await),
            Err(e) => {
                let reason = format!("discovery of {} failed: {e}", self.issuer.as_str());
                match current {
                    Some(stale) => {
                        tracing::warn!(provider = %self.endpoint.name, %reason, "using the provider metadata fetched earlier");
                        Ok(stale)
                    }
                    None => Err(OAuthClientError::Unreachable(reason)),
                }
            }
        }
    }

    /// Fetches the JWKS again after a token named a key that `seen` (the copy it was
    /// checked against) lacks. Callers waiting meanwhile share one fetch. There is no
    /// time limit on top: the token came from the provider's own token endpoint for a
    /// code a user just earned, so refetches are bounded by (rate-limited) sign-ins, and
    /// a limit would refuse every sign-in between a rotation and the limit's end.
    async fn refetch_keys(
        &self,
        seen: &Arc<Discovered>,
    ) -> Result<Arc<Discovered>, OAuthClientError> {
        let _fetching = self.fetching.lock().await;
        let current = self.current().await.unwrap_or_else(|| Arc::clone(seen));
        if !Arc::ptr_eq(&current, seen) {
            return Ok(current);
        }
        let keys = CoreJsonWebKeySet::fetch_async(current.metadata.jwks_uri(), &self.endpoint.http)
            .await
            .map_err(|e| OAuthClientError::Unreachable(format!("JWKS fetch failed: {e}")))?;
        Ok(self
            .store(Discovered {
                metadata: current.metadata.clone().set_jwks(keys),
                fetched_at: current.fetched_at,
            })
            .await)
    }

    async fn current(&self) -> Option<Arc<Discovered>> {
        self.discovered.read().await.clone()
    }

    async fn store(&self, discovered: Discovered) -> Arc<Discovered> {
        let discovered = Arc::new(discovered);
        *self.discovered.write().await = Some(Arc::clone(&discovered));
        discovered
    }
}

/// `error` and its sources, `: `-separated (openidconnect puts the reason a signature
/// failed, e.g. a disallowed algorithm, in the source).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Whether `alg` is verified with the provider's public key (not `none`, not an HMAC).
fn is_asymmetric(alg: &CoreJwsSigningAlgorithm) -> bool {
    !matches!(
        alg,
        CoreJwsSigningAlgorithm::HmacSha256
            | CoreJwsSigningAlgorithm::HmacSha384
            | CoreJwsSigningAlgorithm::HmacSha512
            | CoreJwsSigningAlgorithm::None
    )
}

/// The identity in verified `claims`, with the provider's tokens sealed if a key is set.
fn identity(
    claims: &CoreIdTokenClaims,
    response: &CoreTokenResponse,
    endpoint: &Endpoint,
    sealer: Option<&TokenSealer>,
) -> ExternalIdentity {
    let provider = &endpoint.name;
    let subject = claims.subject().as_str().to_owned();
    let tokens = match sealer {
        Some(sealer) => SealedTokens {
            access_token: Some(sealer.seal(
                response.access_token().secret(),
                provider,
                &subject,
                TokenRole::Access,
            )),
            refresh_token: response
                .refresh_token()
                .map(|t| sealer.seal(t.secret(), provider, &subject, TokenRole::Refresh)),
            ..sealed_tokens(
                endpoint.clock.now(),
                response.expires_in(),
                response.scopes(),
            )
        },
        None => SealedTokens::default(),
    };
    ExternalIdentity {
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified() == Some(true),
        first_name: claims
            .given_name()
            .and_then(|c| c.get(None))
            .map(|n| n.as_str().to_owned()),
        last_name: claims
            .family_name()
            .and_then(|c| c.get(None))
            .map(|n| n.as_str().to_owned()),
        subject,
        tokens,
    }
}
