//! An OpenID Connect provider through `openidconnect`: discovery (cached, refreshed
//! hourly, the last good copy kept while the provider is unreachable), the code flow with
//! PKCE S256, state and nonce, and the ID token checks — signature against the provider's
//! JWKS (fetched again when a token names a key it does not hold: key rotation), `iss`,
//! `aud`, `azp`, `exp` and the nonce.

use super::endpoint::{Endpoint, exchange_failed};
use crate::adapters::sealing::Sealer;
use auth_ports::{AuthorizationRequest, ExternalIdentity, OAuthClientError, PendingOAuthFlow};
use openidconnect::core::{
    CoreAuthPrompt, CoreClient, CoreIdTokenClaims, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType, CoreTokenResponse,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, SignatureVerificationError, TokenResponse as _,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// How much earlier than a link flow's start the provider's clock may put the sign-in
/// it proves (`auth_time`): clocks of two hosts differ a little.
const AUTH_TIME_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// Longest subject accepted (OIDC Core §2), as `oauth_accounts.provider_user_id` holds.
const MAX_SUBJECT_LEN: usize = 255;

/// How long after a failed fetch the provider is left alone.
const FAILURE_BACKOFF: Duration = Duration::from_secs(30);

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
    /// When a fetch last failed: for [`FAILURE_BACKOFF`] after it nobody tries again, so
    /// callers get the stale copy (or the failure) at once instead of queueing behind
    /// one timed-out fetch after another.
    failed_at: std::sync::Mutex<Option<Instant>>,
}

impl OidcProvider {
    /// A provider at `issuer`; nothing is fetched until the first flow.
    pub(super) fn new(endpoint: Endpoint, issuer: &str) -> anyhow::Result<Self> {
        Ok(Self {
            endpoint,
            issuer: IssuerUrl::new(issuer.to_owned())?,
            discovered: RwLock::new(None),
            fetching: Mutex::new(()),
            failed_at: std::sync::Mutex::new(None),
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
            authorization = authorization
                .add_prompt(CoreAuthPrompt::Login)
                .set_max_age(Duration::ZERO);
        }
        let (url, _, _) = authorization.url();
        Ok(url.into())
    }

    /// Exchanges `code` and verifies the ID token against the flow's nonce.
    pub(super) async fn finish(
        &self,
        code: &str,
        flow: &PendingOAuthFlow,
        sealer: Option<&Sealer>,
    ) -> Result<ExternalIdentity, OAuthClientError> {
        let discovered = self.discovered().await?;
        let response = self.exchange(&discovered, code, flow).await?;
        let id_token = response.id_token().ok_or_else(|| {
            OAuthClientError::Rejected("the token response has no ID token".into())
        })?;
        let nonce = Nonce::new(flow.nonce.expose().to_owned());
        let claims = match id_token.claims(&self.verifier(&discovered, flow), &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let refreshed = self.refetch_keys(&discovered).await?;
                id_token
                    .claims(&self.verifier(&refreshed, flow), &nonce)
                    .cloned()
            }
            verified => verified.cloned(),
        }
        .map_err(|e| OAuthClientError::Rejected(format!("ID token refused: {}", causes(&e))))?;
        let subject = checked_subject(claims.subject().as_str())?;
        Ok(identity(
            subject,
            &claims,
            &response,
            &self.endpoint,
            sealer,
        ))
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
            .map_err(exchange_failed)
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

    /// The ID token verifier for the current keys and `flow`: asymmetric algorithms only
    /// (what the provider advertises, RS256 when it says nothing), never `none` or an
    /// HMAC keyed with the client secret; for a flow that needs a fresh sign-in, an
    /// `auth_time` no earlier than the flow's start (less [`AUTH_TIME_SKEW`]).
    fn verifier<'a>(
        &'a self,
        discovered: &'a Discovered,
        flow: &PendingOAuthFlow,
    ) -> CoreIdTokenVerifier<'a> {
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
        let verifier = CoreIdTokenVerifier::new_public_client(
            self.endpoint.client_id.clone(),
            self.issuer.clone(),
            discovered.metadata.jwks().clone(),
        )
        .set_allowed_algs(algs)
        .set_time_fn(move || clock.now());
        if !flow.needs_fresh_sign_in() {
            return verifier;
        }
        let not_before = flow.created_at - AUTH_TIME_SKEW;
        verifier.set_auth_time_verifier_fn(move |auth_time| match auth_time {
            Some(at) if at >= not_before => Ok(()),
            Some(at) => Err(format!(
                "the user signed in at {at}, before this link began; a fresh sign-in is needed"
            )),
            None => Err("no auth_time: the provider did not prove a fresh sign-in".to_owned()),
        })
    }

    /// The metadata, fetched when there is none or it is older than [`METADATA_TTL`]; a
    /// stale copy is used while the provider cannot be reached.
    async fn discovered(&self) -> Result<Arc<Discovered>, OAuthClientError> {
        let fresh = |d: &Arc<Discovered>| d.fetched_at.elapsed() < METADATA_TTL;
        let current = self.current().await;
        if let Some(fresh) = current.clone().filter(fresh) {
            return Ok(fresh);
        }
        if let Some(answer) = self.while_failing(current) {
            return answer;
        }
        let _fetching = self.fetching.lock().await;
        let current = self.current().await;
        if let Some(fresh) = current.clone().filter(fresh) {
            return Ok(fresh);
        }
        if let Some(answer) = self.while_failing(current.clone()) {
            return answer;
        }
        match CoreProviderMetadata::discover_async(self.issuer.clone(), &self.endpoint.http).await {
            Ok(metadata) => {
                self.note_fetch(true);
                Ok(self
                    .store(Discovered {
                        metadata,
                        fetched_at: Instant::now(),
                    })
                    .await)
            }
            Err(e) => {
                self.note_fetch(false);
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

    /// Within [`FAILURE_BACKOFF`] of a failed fetch: `current` (stale, but the best there
    /// is) or, without one, the failure; `None` when a fetch may be tried.
    fn while_failing(
        &self,
        current: Option<Arc<Discovered>>,
    ) -> Option<Result<Arc<Discovered>, OAuthClientError>> {
        let failed_at = *self
            .failed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        failed_at
            .is_some_and(|at| at.elapsed() < FAILURE_BACKOFF)
            .then(|| {
                current.ok_or_else(|| {
                    OAuthClientError::Unreachable(format!(
                        "{} failed to answer moments ago; not asked again for {} s",
                        self.issuer.as_str(),
                        FAILURE_BACKOFF.as_secs()
                    ))
                })
            })
    }

    fn note_fetch(&self, succeeded: bool) {
        *self
            .failed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (!succeeded).then(Instant::now);
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
        if let Some(answer) = self.while_failing(Some(Arc::clone(&current))) {
            return answer;
        }
        let keys = CoreJsonWebKeySet::fetch_async(current.metadata.jwks_uri(), &self.endpoint.http)
            .await
            .map_err(|e| {
                self.note_fetch(false);
                OAuthClientError::Unreachable(format!("JWKS fetch failed: {e}"))
            })?;
        self.note_fetch(true);
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

/// The subject, if it is what OIDC Core §2 allows (at most 255 ASCII characters, not
/// empty): anything else is refused rather than stored.
fn checked_subject(subject: &str) -> Result<String, OAuthClientError> {
    let valid = !subject.is_empty()
        && subject.len() <= MAX_SUBJECT_LEN
        && subject
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_control());
    if valid {
        Ok(subject.to_owned())
    } else {
        Err(OAuthClientError::Rejected(
            "the ID token's subject is empty, longer than 255 characters or not printable ASCII"
                .into(),
        ))
    }
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
    subject: String,
    claims: &CoreIdTokenClaims,
    response: &CoreTokenResponse,
    endpoint: &Endpoint,
    sealer: Option<&Sealer>,
) -> ExternalIdentity {
    let tokens = endpoint.kept_tokens(response, &subject, sealer);
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

#[cfg(test)]
mod tests {
    use super::*;
    use auth_ports::FlowSecret;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A provider address that accepts connections and closes them at once, counting.
    async fn dead_provider() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        (issuer, connections)
    }

    fn request() -> AuthorizationRequest {
        AuthorizationRequest {
            state: FlowSecret::new("state".into()),
            nonce: FlowSecret::new("nonce".into()),
            pkce_verifier: FlowSecret::new("v".repeat(43)),
            reauthenticate: false,
        }
    }

    #[test]
    fn subjects_are_bounded_printable_ascii() {
        assert_eq!(checked_subject("248289761001").unwrap(), "248289761001");
        assert!(checked_subject(&"s".repeat(255)).is_ok());
        for bad in [
            String::new(),
            "s".repeat(256),
            "a\u{0}b".into(),
            "ünï".into(),
        ] {
            assert!(
                matches!(checked_subject(&bad), Err(OAuthClientError::Rejected(_))),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_discovery_is_not_retried_by_every_caller() {
        let (issuer, connections) = dead_provider().await;
        let provider =
            OidcProvider::new(super::super::endpoint::test_endpoint("idp"), &issuer).unwrap();

        let first = provider.authorization_url(&request()).await;
        let tried = connections.load(Ordering::SeqCst);
        let again = five_more_callers(&provider).await;

        assert!(matches!(first, Err(OAuthClientError::Unreachable(_))));
        assert!(tried >= 1);
        assert!(
            again
                .iter()
                .all(|r| matches!(r, Err(OAuthClientError::Unreachable(_))))
        );
        assert_eq!(
            connections.load(Ordering::SeqCst),
            tried,
            "no new connection within the backoff"
        );
    }

    /// Five more callers, one after another (each would wait for its own fetch).
    async fn five_more_callers(provider: &OidcProvider) -> Vec<Result<String, OAuthClientError>> {
        let mut answers = Vec::new();
        for _ in 0..5 {
            answers.push(provider.authorization_url(&request()).await);
        }
        answers
    }
}
