//! GitHub, which speaks OAuth 2 without OpenID Connect: the code flow with PKCE through
//! `oauth2`, then its REST API for the stable numeric id and the addresses. Only the
//! primary address, and only if GitHub verified it, is used: any other would let a GitHub
//! user claim an address they do not own.

use super::endpoint::{Endpoint, exchange_failed};
use crate::adapters::sealing::Sealer;
use auth_ports::{AuthorizationRequest, ExternalIdentity, OAuthClientError, PendingOAuthFlow};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    TokenResponse as _, TokenUrl,
};
use serde::Deserialize;

/// A GitHub (or GitHub Enterprise) server.
pub(super) struct GitHubProvider {
    endpoint: Endpoint,
    auth_url: AuthUrl,
    token_url: TokenUrl,
    /// The REST API root: `https://api.github.com`, or `{server}/api/v3` on Enterprise.
    api: String,
}

/// `GET /user`, the fields authd reads.
#[derive(Deserialize)]
struct Profile {
    id: u64,
    name: Option<String>,
}

/// One entry of `GET /user/emails`.
#[derive(Deserialize)]
struct Address {
    email: String,
    primary: bool,
    verified: bool,
}

impl GitHubProvider {
    /// GitHub at `server` (`https://github.com` or an Enterprise host).
    pub(super) fn new(endpoint: Endpoint, server: &str) -> anyhow::Result<Self> {
        let server = server.trim_end_matches('/');
        let api = if server == "https://github.com" {
            "https://api.github.com".to_owned()
        } else {
            format!("{server}/api/v3")
        };
        Ok(Self {
            endpoint,
            auth_url: AuthUrl::new(format!("{server}/login/oauth/authorize"))?,
            token_url: TokenUrl::new(format!("{server}/login/oauth/access_token"))?,
            api,
        })
    }

    /// The authorization URL for `request` (GitHub has no nonce; state and PKCE bind
    /// the flow).
    pub(super) fn authorization_url(&self, request: &AuthorizationRequest) -> String {
        let state = request.state.expose().to_owned();
        let verifier = PkceCodeVerifier::new(request.pkce_verifier.expose().to_owned());
        let client = self.client();
        let mut authorization = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.endpoint.scopes())
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
        if request.reauthenticate {
            // GitHub has no `prompt=login`; the account picker at least shows who links.
            authorization = authorization.add_extra_param("prompt", "select_account");
        }
        let (url, _) = authorization.url();
        url.into()
    }

    /// Exchanges `code`, then asks the API who the token belongs to.
    pub(super) async fn finish(
        &self,
        code: &str,
        flow: &PendingOAuthFlow,
        sealer: Option<&Sealer>,
    ) -> Result<ExternalIdentity, OAuthClientError> {
        let token = self
            .client()
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                flow.pkce_verifier.expose().to_owned(),
            ))
            .request_async(&self.endpoint.http)
            .await
            .map_err(exchange_failed)?;
        let access = token.access_token().secret();
        let profile: Profile = self.get(access, "/user").await?;
        let addresses: Vec<Address> = self.get(access, "/user/emails").await?;
        let subject = profile.id.to_string();
        let tokens = self.endpoint.kept_tokens(&token, &subject, sealer);
        let email = primary_verified(&addresses);
        Ok(ExternalIdentity {
            subject,
            email_verified: email.is_some(),
            email: email.map(str::to_owned),
            // The domain keeps a name only if authd would accept it (`acceptable_name`).
            first_name: profile.name,
            last_name: None,
            tokens,
        })
    }

    fn client(
        &self,
    ) -> BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    > {
        BasicClient::new(self.endpoint.client_id.clone())
            .set_client_secret(self.endpoint.client_secret.clone())
            .set_auth_uri(self.auth_url.clone())
            .set_token_uri(self.token_url.clone())
            .set_redirect_uri(self.endpoint.redirect_uri.clone())
            // GitHub documents the secret as a form parameter.
            .set_auth_type(AuthType::RequestBody)
    }

    /// `GET {api}{path}` as the user, parsed.
    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        access_token: &str,
        path: &str,
    ) -> Result<T, OAuthClientError> {
        let unreachable = |e: reqwest::Error| {
            OAuthClientError::Unreachable(format!("GitHub API {path}: {}", e.without_url()))
        };
        self.endpoint
            .http
            .get(format!("{}{path}", self.api))
            .bearer_auth(access_token)
            .header("Accept", "application/vnd.github+json")
            .send()
            .await
            .map_err(unreachable)?
            .error_for_status()
            .map_err(|e| {
                OAuthClientError::Rejected(format!("GitHub API {path}: {}", e.without_url()))
            })?
            .json()
            .await
            .map_err(unreachable)
    }
}

/// The primary address if GitHub verified it; no other address is trusted.
fn primary_verified(addresses: &[Address]) -> Option<&str> {
    addresses
        .iter()
        .find(|a| a.primary && a.verified)
        .map(|a| a.email.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(email: &str, primary: bool, verified: bool) -> Address {
        Address {
            email: email.to_owned(),
            primary,
            verified,
        }
    }

    #[test]
    fn only_a_verified_primary_address_is_used() {
        let verified_primary = [
            address("other@example.com", false, true),
            address("me@example.com", true, true),
        ];
        assert_eq!(primary_verified(&verified_primary), Some("me@example.com"));

        let unverified_primary = [
            address("me@example.com", true, false),
            address("other@example.com", false, true),
        ];
        assert_eq!(primary_verified(&unverified_primary), None);
        assert_eq!(primary_verified(&[]), None);
    }

    #[test]
    fn the_api_answers_parse() {
        let profile: Profile =
            serde_json::from_str(r#"{"login":"octocat","id":583231,"name":"The Octocat"}"#)
                .unwrap();
        assert_eq!(profile.id, 583_231);
        let addresses: Vec<Address> = serde_json::from_str(
            r#"[{"email":"octocat@github.com","verified":true,"primary":true,"visibility":"public"}]"#,
        )
        .unwrap();
        assert_eq!(primary_verified(&addresses), Some("octocat@github.com"));
    }

    #[test]
    fn the_authorization_url_carries_state_pkce_scopes_and_redirect() {
        let github = GitHubProvider::new(
            super::super::endpoint::test_endpoint("github"),
            "https://github.com",
        )
        .unwrap();
        let verifier = "v".repeat(43);
        let request = AuthorizationRequest {
            state: auth_ports::FlowSecret::new("state-1".into()),
            nonce: auth_ports::FlowSecret::new("nonce-1".into()),
            pkce_verifier: auth_ports::FlowSecret::new(verifier.clone()),
            reauthenticate: false,
        };
        let url = url::Url::parse(&github.authorization_url(&request)).unwrap();
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();

        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://github.com/login/oauth/authorize")
        );
        assert_eq!(query["client_id"], "client-1");
        assert_eq!(query["state"], "state-1");
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["scope"], "read:user user:email");
        assert_eq!(
            query["redirect_uri"],
            "https://auth.example.com/v1/oauth/github/callback"
        );
        assert_eq!(query["code_challenge_method"], "S256");
        let expected =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier));
        assert_eq!(&query["code_challenge"], expected.as_str());
        assert!(
            !url.as_str().contains(&"v".repeat(43)),
            "the verifier never leaves authd"
        );
    }

    #[test]
    fn enterprise_servers_use_their_own_api_root() {
        let endpoint = |name: &str| super::super::endpoint::test_endpoint(name);
        let dotcom = GitHubProvider::new(endpoint("github"), "https://github.com").unwrap();
        assert_eq!(dotcom.api, "https://api.github.com");
        let enterprise =
            GitHubProvider::new(endpoint("ghe"), "https://github.example.com/").unwrap();
        assert_eq!(enterprise.api, "https://github.example.com/api/v3");
        assert_eq!(
            enterprise.token_url.as_str(),
            "https://github.example.com/login/oauth/access_token"
        );
    }
}
