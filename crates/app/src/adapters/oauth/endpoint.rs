//! What every kind of provider needs: who authd is to it, how to reach it, how a failed
//! code exchange is reported, and what of a token response is kept.

use super::token_context::{TokenRole, token_context};
use crate::adapters::sealing::Sealer;
use auth_ports::{Clock, OAuthClientError, SealedTokens};
use openidconnect::{ClientId, ClientSecret, RedirectUrl, Scope};
use openidconnect::{ErrorResponse, OAuth2TokenResponse, RequestTokenError};
use std::sync::Arc;

/// Longest granted-scopes text kept.
const MAX_SCOPES_CHARS: usize = 1024;

/// What every kind of provider needs: who authd is to it and how to reach it.
pub(super) struct Endpoint {
    pub(super) name: String,
    pub(super) client_id: ClientId,
    pub(super) client_secret: ClientSecret,
    pub(super) redirect_uri: RedirectUrl,
    pub(super) scopes: Vec<String>,
    pub(super) http: reqwest::Client,
    pub(super) clock: Arc<dyn Clock>,
}

impl Endpoint {
    pub(super) fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.scopes.iter().cloned().map(Scope::new)
    }
}

/// Why a code exchange failed: the provider refused it (its answer, cut short: it is the
/// provider's text), could not be reached, or answered nonsense.
pub(super) fn exchange_failed<E, R>(error: RequestTokenError<E, R>) -> OAuthClientError
where
    E: std::error::Error + 'static,
    R: ErrorResponse + 'static,
{
    match error {
        RequestTokenError::ServerResponse(refusal) => {
            let refusal: String = refusal.to_string().chars().take(200).collect();
            OAuthClientError::Rejected(format!("the token endpoint refused the code: {refusal}"))
        }
        RequestTokenError::Request(e) => {
            OAuthClientError::Unreachable(format!("token endpoint: {e}"))
        }
        other => OAuthClientError::Rejected(format!("token endpoint: {other}")),
    }
}

impl Endpoint {
    /// What is kept of a token `response` for `subject`: with a `sealer`, both tokens
    /// sealed to this account, their expiry and the granted scopes; without, nothing.
    pub(super) fn kept_tokens(
        &self,
        response: &impl OAuth2TokenResponse,
        subject: &str,
        sealer: Option<&Sealer>,
    ) -> SealedTokens {
        let Some(sealer) = sealer else {
            return SealedTokens::default();
        };
        let seal = |token: &str, role| {
            sealer.seal(token.as_bytes(), &token_context(&self.name, subject, role))
        };
        SealedTokens {
            access_token: Some(seal(response.access_token().secret(), TokenRole::Access)),
            refresh_token: response
                .refresh_token()
                .map(|t| seal(t.secret(), TokenRole::Refresh)),
            expires_at: response
                .expires_in()
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .and_then(|d| self.clock.now().checked_add_signed(d)),
            // What the provider says it granted, bounded: it is stored, never trusted.
            scopes: response.scopes().map(|scopes| {
                let granted = scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                granted.chars().take(MAX_SCOPES_CHARS).collect()
            }),
        }
    }
}

#[cfg(test)]
pub(super) fn test_endpoint(name: &str) -> Endpoint {
    Endpoint {
        name: name.to_owned(),
        client_id: ClientId::new("client-1".into()),
        client_secret: ClientSecret::new("secret-1".into()),
        redirect_uri: RedirectUrl::new(format!(
            "https://auth.example.com/v1/oauth/{name}/callback"
        ))
        .unwrap(),
        scopes: vec!["read:user".into(), "user:email".into()],
        http: reqwest::Client::new(),
        clock: Arc::new(crate::adapters::SystemClock::new()),
    }
}
