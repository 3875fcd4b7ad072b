//! TokenService: short-lived access tokens for other services (SPEC 4.4). It decides
//! what a token says about the caller's live session and how long it lasts; the
//! `AccessTokenSigner` port signs it. Without a signer the feature is off.

use crate::error::Failure;
use crate::principal::Principal;
use auth_ports::{AccessClaims, AccessToken, AccessTokenSigner, Clock};
use std::sync::Arc;
use std::time::Duration;

/// Why no token was issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueTokenError {
    /// No signing key is configured (neither `JWT_SECRET` nor `JWT_PRIVATE_KEY_FILE`).
    #[error("access tokens are not configured")]
    NotConfigured,
    /// The signer failed.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// A signed token and how long it is valid from now.
#[derive(Debug)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: AccessToken,
    /// Seconds until `exp`.
    pub expires_in: u64,
}

/// Issues access tokens for signed-in callers.
#[derive(Clone)]
pub struct TokenService {
    signer: Option<Arc<dyn AccessTokenSigner>>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    issuer: String,
}

impl TokenService {
    /// Tokens signed by `signer` (`None`: every request answers
    /// [`IssueTokenError::NotConfigured`]), valid for `ttl`, naming `issuer` as `iss`.
    #[must_use]
    pub fn new(
        signer: Option<Arc<dyn AccessTokenSigner>>,
        clock: Arc<dyn Clock>,
        ttl: Duration,
        issuer: String,
    ) -> Self {
        Self {
            signer,
            clock,
            ttl,
            issuer,
        }
    }

    /// A token for `principal`'s session: its user, session id and role names, valid
    /// for the configured lifetime but never past the session's own expiry, so a token
    /// cannot outlive the login it stands for.
    ///
    /// # Errors
    /// [`IssueTokenError::NotConfigured`] without a key; a [`Failure`] when signing fails.
    pub fn issue(&self, principal: &Principal) -> Result<IssuedToken, IssueTokenError> {
        let Some(signer) = &self.signer else {
            return Err(IssueTokenError::NotConfigured);
        };
        let iat = self.clock.now().timestamp();
        // The TTL is capped at ten years by the configuration, so it fits an i64.
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let exp = iat
            .saturating_add(ttl)
            .min(principal.session.expires_at.timestamp());
        let claims = AccessClaims {
            sub: principal.user.id,
            sid: principal.session.id,
            roles: principal.roles.clone(),
            iat,
            exp,
            iss: self.issuer.clone(),
        };
        let token = signer
            .sign(&claims)
            .map_err(|err| Failure::Unexpected(Box::new(err)))?;
        Ok(IssuedToken {
            token,
            expires_in: u64::try_from(exp - iat).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{new_year, principal};
    use auth_ports::{MockAccessTokenSigner, MockClock, SignError};
    use chrono::{DateTime, Utc};

    const ISSUER: &str = "https://auth.example.com";

    fn clock_at(at: DateTime<Utc>) -> Arc<dyn Clock> {
        let mut clock = MockClock::new();
        clock.expect_now().times(1).returning(move || at);
        Arc::new(clock)
    }

    fn service(signer: MockAccessTokenSigner, at: DateTime<Utc>, ttl: u64) -> TokenService {
        TokenService::new(
            Some(Arc::new(signer)),
            clock_at(at),
            Duration::from_secs(ttl),
            ISSUER.into(),
        )
    }

    #[test]
    fn issue_signs_the_callers_session_with_roles_and_lifetime() {
        let mut caller = principal(&[]);
        caller.roles = vec!["user".into(), "auditor".into()];
        let at = new_year() + chrono::Duration::minutes(5);
        let expected = AccessClaims {
            sub: caller.user.id,
            sid: caller.session.id,
            roles: vec!["user".into(), "auditor".into()],
            iat: at.timestamp(),
            exp: at.timestamp() + 300,
            iss: ISSUER.into(),
        };
        let mut signer = MockAccessTokenSigner::new();
        signer
            .expect_sign()
            .withf(move |claims| *claims == expected)
            .times(1)
            .returning(|_| Ok(AccessToken::new("signed".into())));
        let issued = service(signer, at, 300).issue(&caller).unwrap();
        assert_eq!(issued.token.expose(), "signed");
        assert_eq!(issued.expires_in, 300);
    }

    #[test]
    fn a_token_never_outlives_its_session() {
        let caller = principal(&[]);
        let session_end = caller.session.expires_at;
        let at = session_end - chrono::Duration::seconds(60);
        let mut signer = MockAccessTokenSigner::new();
        signer
            .expect_sign()
            .withf(move |claims| claims.exp == session_end.timestamp())
            .times(1)
            .returning(|_| Ok(AccessToken::new("signed".into())));
        let issued = service(signer, at, 300).issue(&caller).unwrap();
        assert_eq!(issued.expires_in, 60);
    }

    #[test]
    fn issue_without_a_signer_is_not_configured() {
        let service = TokenService::new(
            None,
            Arc::new(MockClock::new()),
            Duration::from_secs(300),
            ISSUER.into(),
        );
        assert!(matches!(
            service.issue(&principal(&[])),
            Err(IssueTokenError::NotConfigured)
        ));
    }

    #[test]
    fn a_signing_failure_is_unexpected() {
        let mut signer = MockAccessTokenSigner::new();
        signer
            .expect_sign()
            .times(1)
            .returning(|_| Err(SignError("broken key".into())));
        let result = service(signer, new_year(), 300).issue(&principal(&[]));
        assert!(matches!(
            result,
            Err(IssueTokenError::Failure(Failure::Unexpected(_)))
        ));
    }
}
