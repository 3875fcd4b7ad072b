//! Cross-site request forgery defence for cookie sessions (OWASP CSRF cheat sheet).
//!
//! A browser attaches the session cookie to requests other sites make it send, so a
//! state-changing request authenticated by cookie must prove it comes from a page that
//! may act: its `Origin` (or, without one, `Sec-Fetch-Site`) names authd itself or an
//! allowed app, and it carries `X-CSRF-Token` equal both to the CSRF cookie (double
//! submit) and to the HMAC of its session token (so a planted cookie pair is useless
//! without the session). Bearer requests need none of this: a browser adds no `Bearer`
//! credentials on its own (it may resend cached Basic credentials, which authd refuses
//! as 401 and never mistakes for the cookie).

use super::error::ApiError;
use axum::http::{HeaderMap, HeaderName, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use url::Url;

/// The header that carries the CSRF token.
pub const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");

/// Separates this use of the session token from any other keyed with it.
const CSRF_CONTEXT: &[u8] = b"authd csrf v1";

/// The CSRF token of the session whose token is `session_token`: the same on every
/// instance and for the session's whole life, without storing anything.
pub(super) fn token_for(session_token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(CSRF_CONTEXT);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The origins whose pages may use cookie sessions: authd's own and the allowed apps.
#[derive(Debug, Clone)]
pub struct TrustedOrigins {
    own: Option<String>,
    allowed: Vec<String>,
}

impl TrustedOrigins {
    /// authd's own origin (from `public_url`) and `allowed` (`CORS_ALLOWED_ORIGINS`),
    /// each as browsers serialise an origin.
    #[must_use]
    pub fn new(public_url: &str, allowed: &[String]) -> Self {
        let own = Url::parse(public_url).map(|url| url.origin().ascii_serialization());
        Self {
            own: own.ok(),
            allowed: allowed.to_vec(),
        }
    }

    /// The apps' origins, which CORS lets read answers with credentials.
    pub(super) fn allowed(&self) -> &[String] {
        &self.allowed
    }

    fn contains(&self, origin: &str) -> bool {
        self.own.as_deref() == Some(origin) || self.allowed.iter().any(|o| o == origin)
    }

    /// Whether `url` is an absolute http(s) URL on one of these origins: a page a
    /// browser may be sent back to.
    pub(super) fn allows_url(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.username().is_empty()
                && url.password().is_none()
                && self.contains(&url.origin().ascii_serialization())
        })
    }

    /// Whether the page that sent the request may act with the user's cookie. A request
    /// with neither header is not a browser's (browsers send `Origin` with every POST,
    /// and `Sec-Fetch-Site` with every request), so only the token stands for it.
    pub(super) fn allows_sender(&self, headers: &HeaderMap) -> bool {
        if let Some(origin) = headers.get(header::ORIGIN) {
            // `Origin: null` (sandboxed frames, some redirects) is never trusted.
            return origin.to_str().is_ok_and(|origin| self.contains(origin));
        }
        match headers.get("sec-fetch-site") {
            Some(site) => site == "same-origin" || site == "none",
            None => true,
        }
    }

    /// Refuses a cookie-authenticated, state-changing request unless its sender is
    /// trusted and it carries the session's CSRF token in the header and the cookie.
    pub(super) fn check(
        &self,
        headers: &HeaderMap,
        session_token: &str,
        cookie: Option<&str>,
    ) -> Result<(), ApiError> {
        if !self.allows_sender(headers) {
            // Debug: anyone can send these, so a warning per request would flood the log.
            tracing::debug!(origin = ?headers.get(header::ORIGIN), "cross-site request refused");
            return Err(ApiError::CsrfFailed);
        }
        let header = headers.get(CSRF_HEADER).map(|v| v.as_bytes());
        let (Some(header), Some(cookie)) = (header, cookie) else {
            return Err(ApiError::CsrfFailed);
        };
        let expected = token_for(session_token);
        let matches = header.ct_eq(cookie.as_bytes()) & header.ct_eq(expected.as_bytes());
        if bool::from(matches) {
            Ok(())
        } else {
            Err(ApiError::CsrfFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> TrustedOrigins {
        TrustedOrigins::new(
            "https://auth.example.com/base",
            &["https://app.example.com".to_owned()],
        )
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn the_token_is_bound_to_the_session_and_stable() {
        assert_eq!(token_for("session-a"), token_for("session-a"));
        assert_ne!(token_for("session-a"), token_for("session-b"));
        assert_eq!(token_for("session-a").len(), 43, "256 bits in base64url");
    }

    #[test]
    fn own_and_allowed_origins_may_send_others_may_not() {
        let origins = origins();
        for allowed in ["https://auth.example.com", "https://app.example.com"] {
            assert!(
                origins.allows_sender(&headers(&[("origin", allowed)])),
                "{allowed}"
            );
        }
        for refused in [
            "https://evil.example.com",
            "http://app.example.com",
            "https://app.example.com:8443",
            "null",
        ] {
            assert!(
                !origins.allows_sender(&headers(&[("origin", refused)])),
                "{refused}"
            );
        }
        // The Origin decides even when Sec-Fetch-Site says same-origin.
        let forged = headers(&[
            ("origin", "https://evil.example.com"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(!origins.allows_sender(&forged));
    }

    #[test]
    fn without_origin_fetch_metadata_decides() {
        let origins = origins();
        for (site, allowed) in [
            ("same-origin", true),
            ("none", true),
            ("same-site", false),
            ("cross-site", false),
        ] {
            let h = headers(&[("sec-fetch-site", site)]);
            assert_eq!(origins.allows_sender(&h), allowed, "{site}");
        }
        assert!(origins.allows_sender(&HeaderMap::new()), "not a browser");
    }

    #[test]
    fn the_check_needs_header_cookie_and_session_to_agree() {
        let origins = origins();
        let token = token_for("session-a");
        let with = |value: &str| {
            headers(&[
                ("origin", "https://app.example.com"),
                ("x-csrf-token", value),
            ])
        };
        assert!(
            origins
                .check(&with(&token), "session-a", Some(&token))
                .is_ok()
        );
        // Header and cookie agree, but not with the session: a planted pair.
        let other = token_for("session-b");
        assert!(
            origins
                .check(&with(&other), "session-a", Some(&other))
                .is_err()
        );
        // Header right, cookie missing or different.
        assert!(origins.check(&with(&token), "session-a", None).is_err());
        assert!(
            origins
                .check(&with(&token), "session-a", Some("x"))
                .is_err()
        );
        // No header.
        let bare = headers(&[("origin", "https://app.example.com")]);
        assert!(origins.check(&bare, "session-a", Some(&token)).is_err());
        // Right token from a foreign page.
        let foreign = headers(&[
            ("origin", "https://evil.example.com"),
            ("x-csrf-token", &token),
        ]);
        assert!(origins.check(&foreign, "session-a", Some(&token)).is_err());
    }

    #[test]
    fn return_urls_must_be_on_a_trusted_origin() {
        let origins = origins();
        assert!(origins.allows_url("https://app.example.com/after?x=1"));
        assert!(origins.allows_url("https://auth.example.com/"));
        for refused in [
            "https://evil.example.com/",
            "//evil.example.com/",
            "/relative",
            "javascript:alert(1)",
            "https://user@app.example.com/",
            "https://app.example.com.evil.com/",
        ] {
            assert!(!origins.allows_url(refused), "{refused}");
        }
    }
}
