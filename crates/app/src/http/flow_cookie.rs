//! The cookie that ties an OAuth login flow to the browser that began it (RFC 6749
//! §10.12): set by `/v1/oauth/{provider}/authorize`, required by the callback.

use axum::http::{HeaderMap, HeaderValue, header};

/// How long the flow cookie lives: the flow's own lifetime (SPEC: 10 minutes).
const FLOW_COOKIE_MAX_AGE: u64 = auth_domain::FLOW_LIFETIME.as_secs();

/// The cookie that ties a login flow to the browser that began it.
#[derive(Debug, Clone)]
pub struct FlowCookie {
    name: &'static str,
    attributes: &'static str,
}

impl FlowCookie {
    /// Over https the `__Host-` prefix (Secure, whole host, no Domain: a sibling subdomain
    /// cannot plant it); over plain http (development) a cookie scoped to `/v1/oauth/`.
    #[must_use]
    pub fn for_public_url(public_url: &str) -> Self {
        if public_url.starts_with("https://") {
            Self {
                name: "__Host-authd_oauth",
                attributes: "; Path=/; Secure; HttpOnly; SameSite=Lax",
            }
        } else {
            Self {
                name: "authd_oauth",
                attributes: "; Path=/v1/oauth/; HttpOnly; SameSite=Lax",
            }
        }
    }

    pub(super) fn set(&self, state: &str) -> Option<HeaderValue> {
        let cookie = format!(
            "{}={state}; Max-Age={FLOW_COOKIE_MAX_AGE}{}",
            self.name, self.attributes
        );
        HeaderValue::from_str(&cookie).ok()
    }

    pub(super) fn clear(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!("{}=; Max-Age=0{}", self.name, self.attributes)).ok()
    }

    /// The cookie's value in the request, if it came with exactly one.
    pub(super) fn read<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        let mut values = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == self.name)
            .map(|(_, value)| value);
        let value = values.next()?;
        // Two cookies of one name (one planted for a wider path): trust neither.
        values.next().is_none().then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::COOKIE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn https_uses_a_host_only_secure_cookie() {
        let cookie = FlowCookie::for_public_url("https://auth.example.com");
        let set = cookie.set("abc").unwrap();
        assert_eq!(
            set,
            "__Host-authd_oauth=abc; Max-Age=600; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            cookie.clear().unwrap(),
            "__Host-authd_oauth=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn plain_http_scopes_the_cookie_to_the_oauth_routes() {
        let set = FlowCookie::for_public_url("http://127.0.0.1:8080")
            .set("abc")
            .unwrap();
        assert_eq!(
            set,
            "authd_oauth=abc; Max-Age=600; Path=/v1/oauth/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn the_cookie_is_read_among_others_and_refused_when_doubled() {
        let cookie = FlowCookie::for_public_url("http://127.0.0.1:8080");
        assert_eq!(
            cookie.read(&cookies(&["a=1; authd_oauth=xyz; b=2"])),
            Some("xyz")
        );
        assert_eq!(
            cookie.read(&cookies(&["a=1", "authd_oauth=xyz"])),
            Some("xyz")
        );
        assert_eq!(cookie.read(&cookies(&["authd_oauth_other=xyz"])), None);
        assert_eq!(
            cookie.read(&cookies(&["authd_oauth=xyz; authd_oauth=planted"])),
            None
        );
        assert_eq!(cookie.read(&HeaderMap::new()), None);
    }
}
