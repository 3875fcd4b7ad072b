//! A flow from start to end: `begin` sends the browser to the provider with a fresh
//! state, nonce and PKCE verifier kept server-side; `finish` takes the flow back by its
//! state (once), has the client verify the identity, and signs in or links.

use super::errors::OAuthError;
use super::service::{Attempt, FLOW_LIFETIME, OAuthService};
use crate::audit::ClientInfo;
use crate::auth::LoginSuccess;
use crate::error::Failure;
use crate::principal::Principal;
use auth_ports::{
    AuthorizationRequest, BearerToken, ExternalIdentity, FlowSecret, OAuthAccount,
    OAuthClientError, PendingOAuthFlow, TokenHash, User,
};
use std::fmt;

/// A flow begun: where to send the browser, and its state for the browser to keep.
pub struct BegunFlow {
    /// The provider's authorization URL (PKCE S256 challenge, state and nonce in it).
    pub authorization_url: String,
    /// The state, raw: a login must come back with it to the browser that holds it (a
    /// cookie), so nobody can finish their own login in someone else's browser.
    pub state: BearerToken,
}

impl fmt::Debug for BegunFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL's query holds the state.
        let (endpoint, _) = self
            .authorization_url
            .split_once('?')
            .unwrap_or((&self.authorization_url, ""));
        f.debug_struct("BegunFlow")
            .field("authorization_url", &format_args!("{endpoint}?<redacted>"))
            .field("state", &self.state)
            .finish()
    }
}

/// The query of a callback, as it came.
#[derive(Clone, Default)]
pub struct Callback {
    /// The authorization code.
    pub code: Option<String>,
    /// The state the flow began with.
    pub state: Option<String>,
    /// The provider's error (e.g. `access_denied`).
    pub error: Option<String>,
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("code", &self.code.is_some())
            .field("state", &self.state.is_some())
            .field("error", &self.error)
            .finish()
    }
}

/// What a finished flow did.
#[derive(Debug)]
pub enum Finished {
    /// A login flow opened a session (the same answer as a password login); boxed, it
    /// is far larger than a list.
    SignedIn(Box<LoginSuccess>),
    /// A login flow proved the provider's side, but the account has MFA on: no session
    /// yet; [`AuthService::begin_second_factor`](crate::AuthService::begin_second_factor)
    /// issues the challenge of the second step.
    MfaRequired(Box<User>),
    /// A link flow linked the provider; the user's linked accounts now.
    Linked(Vec<OAuthAccount>),
}

/// A fresh flow secret (256 random bits, base64url: also a valid PKCE verifier).
fn secret(token: BearerToken) -> FlowSecret {
    FlowSecret::new(token.expose().to_owned())
}

impl OAuthService {
    /// Begins a login (`link_to` `None`) or a link of `provider` to the signed-in
    /// `link_to`: stores the flow for [`FLOW_LIFETIME`] and answers where to send the
    /// browser.
    ///
    /// # Errors
    /// `UnknownProvider`; `ReauthenticationRequired` for a link unless the session was
    /// authenticated within the step-up window; `RateLimited` (per IP); `Unavailable`
    /// when the provider's metadata cannot be had.
    pub async fn begin(
        &self,
        provider: &str,
        link_to: Option<&Principal>,
        client: &ClientInfo,
    ) -> Result<BegunFlow, OAuthError> {
        if !self.ports.client.has_provider(provider) {
            return Err(OAuthError::UnknownProvider);
        }
        if let Some(principal) = link_to {
            principal.require_recent_authentication(self.ports.clock.now())?;
        }
        self.limit("oauth:begin", client).await?;
        let (state, state_hash) = self.ports.tokens.generate();
        let request = AuthorizationRequest {
            state: secret(state.clone()),
            nonce: secret(self.ports.tokens.generate().0),
            pkce_verifier: secret(self.ports.tokens.generate().0),
            reauthenticate: link_to.is_some(),
        };
        // Asked first, so an unreachable provider leaves no flow behind.
        let authorization_url = self
            .ports
            .client
            .authorization_url(provider, &request)
            .await
            .map_err(|err| match err {
                OAuthClientError::UnknownProvider => OAuthError::UnknownProvider,
                OAuthClientError::Unreachable(why) | OAuthClientError::Rejected(why) => {
                    OAuthError::Unavailable(why)
                }
            })?;
        let now = self.ports.clock.now();
        let flow = PendingOAuthFlow {
            state_hash,
            provider: provider.to_owned(),
            nonce: request.nonce,
            pkce_verifier: request.pkce_verifier,
            link_user_id: link_to.map(|principal| principal.user.id),
            link_session_id: link_to.map(|principal| principal.session.id),
            created_at: now,
            expires_at: Self::expiry(now, FLOW_LIFETIME)?,
        };
        self.ports.flows.save(flow).await.map_err(Failure::from)?;
        Ok(BegunFlow {
            authorization_url,
            state,
        })
    }

    /// Finishes the flow `callback` names: a login signs in as the user the identity
    /// belongs to (creating or linking one by the rules of `sign_in`), a link links the
    /// provider to the user who began it, while the session that began it is active.
    /// `browser_state` is the state the browser kept from `begin` (a cookie); a login
    /// needs it, a link (begun with a bearer token, no cookie) is bound to its user and
    /// session instead.
    ///
    /// # Errors
    /// See [`OAuthError`]. The flow is used up even when finishing it fails. Every
    /// refusal after the rate limit is audited (`auth.login`, or `oauth.link` for a link
    /// flow, with `details.reason`).
    pub async fn finish(
        &self,
        provider: &str,
        callback: Callback,
        browser_state: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Finished, OAuthError> {
        if !self.ports.client.has_provider(provider) {
            return Err(OAuthError::UnknownProvider);
        }
        self.limit("oauth:finish", client).await?;
        let flow = self
            .take_flow(provider, callback.state.as_deref(), browser_state, client)
            .await?;
        let attempt = Attempt {
            provider,
            client,
            link_to: flow.link_user_id,
        };
        let identity = self.identity(&callback, &flow, &attempt).await?;
        match flow.link_user_id {
            None => self.sign_in(&identity, &attempt).await,
            Some(user) => Ok(Finished::Linked(
                self.link(user, flow.link_session_id, &identity, &attempt)
                    .await?,
            )),
        }
    }

    /// Takes the flow of `state` (used up, whatever follows) if it is live, of
    /// `provider`, and — for a login — back in the browser that began it.
    async fn take_flow(
        &self,
        provider: &str,
        state: Option<&str>,
        browser_state: Option<&str>,
        client: &ClientInfo,
    ) -> Result<PendingOAuthFlow, OAuthError> {
        let unknown = Attempt {
            provider,
            client,
            link_to: None,
        };
        let invalid = OAuthError::InvalidState;
        let Some(state_hash) = state.map(|state| self.hash(state)) else {
            return Err(self
                .refuse(&unknown, None, invalid, Some("no state"))
                .await?);
        };
        let now = self.ports.clock.now();
        let taken = self.ports.flows.take(&state_hash, now).await;
        let Some(flow) = taken.map_err(Failure::from)? else {
            let cause = Some("unknown, expired or used state");
            return Err(self.refuse(&unknown, None, invalid, cause).await?);
        };
        let attempt = Attempt {
            link_to: flow.link_user_id,
            ..unknown
        };
        if flow.provider != provider {
            let cause = Some("state of another provider");
            let user = flow.link_user_id;
            return Err(self.refuse(&attempt, user, invalid, cause).await?);
        }
        // Hashes compared, not the strings: equal time whatever the cookie holds.
        let same_browser = browser_state.is_some_and(|kept| self.hash(kept) == state_hash);
        if flow.link_user_id.is_none() && !same_browser {
            let cause = Some("not the browser that began the login");
            return Err(self.refuse(&attempt, None, invalid, cause).await?);
        }
        Ok(flow)
    }

    /// The hash a state is kept under.
    fn hash(&self, state: &str) -> TokenHash {
        self.ports.tokens.hash(&BearerToken::new(state.to_owned()))
    }

    /// The identity the provider vouches for at the end of `flow`. Any provider failure
    /// here, unreachable included, is `OAuthFailed`, its cause kept in the audit entry.
    async fn identity(
        &self,
        callback: &Callback,
        flow: &PendingOAuthFlow,
        attempt: &Attempt<'_>,
    ) -> Result<ExternalIdentity, OAuthError> {
        let user = flow.link_user_id;
        let failed = OAuthError::OAuthFailed;
        if let Some(error) = &callback.error {
            let cause = format!("provider error: {error}");
            return Err(self.refuse(attempt, user, failed, Some(&cause)).await?);
        }
        let Some(code) = &callback.code else {
            return Err(self.refuse(attempt, user, failed, Some("no code")).await?);
        };
        match self.ports.client.finish(attempt.provider, code, flow).await {
            Ok(identity) => Ok(identity),
            Err(err) => {
                let cause = err.to_string();
                Err(self.refuse(attempt, user, failed, Some(&cause)).await?)
            }
        }
    }
}
