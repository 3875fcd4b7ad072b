//! The cookie that ties an OAuth login flow to the browser that began it (RFC 6749
//! §10.12): set by `/v1/oauth/{provider}/authorize`, required by the callback.

use super::cookies;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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

    /// The cookie of a flow: its `state` (base64url, so no `.`), and for a browser login
    /// the page to return to, base64url-encoded after a `.` (cookie values cannot hold
    /// every URL character).
    pub(super) fn set(&self, state: &str, return_to: Option<&str>) -> Option<HeaderValue> {
        let return_to = return_to
            .map(|url| format!(".{}", URL_SAFE_NO_PAD.encode(url)))
            .unwrap_or_default();
        let cookie = format!(
            "{}={state}{return_to}; Max-Age={FLOW_COOKIE_MAX_AGE}{}",
            self.name, self.attributes
        );
        HeaderValue::from_str(&cookie).ok()
    }

    pub(super) fn clear(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!("{}=; Max-Age=0{}", self.name, self.attributes)).ok()
    }

    /// The flow's state and where to send the browser afterwards, if the request came
    /// with exactly one flow cookie.
    pub(super) fn read(&self, headers: &HeaderMap) -> Option<(String, Option<String>)> {
        let value = cookies::read(headers, self.name)?;
        let Some((state, return_to)) = value.split_once('.') else {
            return Some((value.to_owned(), None));
        };
        // Unreadable: a cookie authd did not write; its state will not match either.
        let return_to = URL_SAFE_NO_PAD
            .decode(return_to)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())?;
        Some((state.to_owned(), Some(return_to)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

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
        let set = cookie.set("abc", None).unwrap();
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
            .set("abc", None)
            .unwrap();
        assert_eq!(
            set,
            "authd_oauth=abc; Max-Age=600; Path=/v1/oauth/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn the_cookie_carries_the_state_and_the_page_to_return_to() {
        let cookie = FlowCookie::for_public_url("http://127.0.0.1:8080");
        let set = cookie
            .set("abc", Some("https://app.example.com/done?x=1;y"))
            .unwrap();
        let value = set.to_str().unwrap().split(';').next().unwrap();
        assert!(!value[..].contains("?x"), "{value}");
        let read = cookie.read(&cookies(&[value])).unwrap();
        assert_eq!(
            read,
            (
                "abc".into(),
                Some("https://app.example.com/done?x=1;y".into())
            )
        );
        assert_eq!(
            cookie.read(&cookies(&["authd_oauth=xyz"])),
            Some(("xyz".into(), None))
        );
        assert_eq!(cookie.read(&cookies(&["authd_oauth=xyz.%%%"])), None);
        assert_eq!(
            cookie.read(&cookies(&["authd_oauth=xyz; authd_oauth=planted"])),
            None
        );
    }
}
