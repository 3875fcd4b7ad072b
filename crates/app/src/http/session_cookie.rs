//! Cookie sessions for browsers: the session token in an HttpOnly cookie that page
//! scripts cannot read (so an XSS in the app cannot steal it), and beside it the CSRF
//! token in a cookie they can, for the double submit (see `csrf.rs`).

use super::cookies;
use super::error::ApiError;
use auth_ports::Session;
use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};

/// The names and attributes of the two cookies of a browser session.
#[derive(Debug, Clone)]
pub struct SessionCookies {
    session: &'static str,
    csrf: &'static str,
    secure: bool,
}

impl SessionCookies {
    /// Over https the `__Host-` prefix (Secure, Path=/, no Domain: a sibling subdomain
    /// can neither read nor plant them); over plain http (development) plain names,
    /// since browsers drop Secure cookies from http origins other than localhost.
    #[must_use]
    pub fn for_public_url(public_url: &str) -> Self {
        let secure = public_url.starts_with("https://");
        Self {
            session: if secure {
                "__Host-authd_session"
            } else {
                "authd_session"
            },
            csrf: if secure {
                "__Host-authd_csrf"
            } else {
                "authd_csrf"
            },
            secure,
        }
    }

    /// The session token a request carries by cookie.
    pub(super) fn session<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        cookies::read(headers, self.session)
    }

    /// The CSRF token a request carries by cookie.
    pub(super) fn csrf<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        cookies::read(headers, self.csrf)
    }

    /// Both cookies of a session just opened: they go when it ends.
    pub(super) fn set(
        &self,
        token: &str,
        csrf: &str,
        session: &Session,
    ) -> Result<[HeaderValue; 2], ApiError> {
        let max_age = seconds_between(session.created_at, session.expires_at);
        Ok([
            self.cookie(self.session, token, max_age, true)?,
            self.cookie(self.csrf, csrf, max_age, false)?,
        ])
    }

    /// The CSRF cookie alone, set again for a session in use. Counted from its last
    /// recorded use (at most a minute old), so it may outlive the session by that much,
    /// which is harmless: without the session it is worth nothing.
    pub(super) fn set_csrf(&self, csrf: &str, session: &Session) -> Result<HeaderValue, ApiError> {
        let max_age = seconds_between(session.last_accessed_at, session.expires_at);
        self.cookie(self.csrf, csrf, max_age, false)
    }

    /// Cookies that delete both.
    pub(super) fn clear(&self) -> Result<[HeaderValue; 2], ApiError> {
        Ok([
            self.cookie(self.session, "", 0, true)?,
            self.cookie(self.csrf, "", 0, false)?,
        ])
    }

    fn cookie(
        &self,
        name: &str,
        value: &str,
        max_age: i64,
        http_only: bool,
    ) -> Result<HeaderValue, ApiError> {
        let secure = if self.secure { "; Secure" } else { "" };
        let http_only = if http_only { "; HttpOnly" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Max-Age={max_age}; Path=/{secure}{http_only}; SameSite=Lax"
        ))
        .map_err(|_| {
            tracing::error!(cookie = name, "a cookie value is not a valid header");
            ApiError::Internal
        })
    }
}

/// Whole seconds from `from` to `to`, at least 0.
fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds().max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_ports::{SessionId, TokenHash, UserId};
    use axum::http::header;
    use chrono::TimeZone as _;

    /// A session opened at `created` for `ttl` seconds.
    fn session(ttl: i64) -> Session {
        let created = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        Session {
            id: SessionId(uuid::Uuid::nil()),
            user_id: UserId(uuid::Uuid::nil()),
            token_hash: TokenHash([0; 32]),
            expires_at: created + chrono::Duration::seconds(ttl),
            ip_address: None,
            user_agent: None,
            is_active: true,
            last_accessed_at: created,
            created_at: created,
            revoked_at: None,
            authenticated_at: created,
            auth_methods: Vec::new(),
        }
    }

    #[test]
    fn https_sessions_use_host_only_secure_cookies() {
        let cookies = SessionCookies::for_public_url("https://auth.example.com");
        let [session, csrf] = cookies.set("tok", "csrf", &session(3600)).unwrap();
        let session = session.to_str().unwrap();
        assert!(
            session.starts_with("__Host-authd_session=tok; Max-Age=3600;"),
            "{session}"
        );
        assert!(
            session.ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax"),
            "{session}"
        );
        let csrf = csrf.to_str().unwrap();
        assert!(
            csrf.starts_with("__Host-authd_csrf=csrf; Max-Age=3600;"),
            "{csrf}"
        );
        assert!(csrf.ends_with("; Path=/; Secure; SameSite=Lax"), "{csrf}");
        let [session, csrf] = cookies.clear().unwrap();
        assert_eq!(
            session,
            "__Host-authd_session=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            csrf,
            "__Host-authd_csrf=; Max-Age=0; Path=/; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn plain_http_sessions_drop_the_prefix_and_secure() {
        let cookies = SessionCookies::for_public_url("http://localhost:8080");
        let [session, _] = cookies.set("tok", "csrf", &session(60)).unwrap();
        assert_eq!(
            session,
            "authd_session=tok; Max-Age=60; Path=/; HttpOnly; SameSite=Lax"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "authd_session=tok; authd_csrf=c".parse().unwrap(),
        );
        assert_eq!(cookies.session(&headers), Some("tok"));
        assert_eq!(cookies.csrf(&headers), Some("c"));
    }
}
