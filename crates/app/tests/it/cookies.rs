//! Browser use without a browser: cookie sessions, the CSRF defence and CORS, checked on
//! the wire (the real-browser tests are in `browser/cookies.rs`). authd is served as
//! `https://auth.example.com` (so the cookies take their `__Host-` form) and allows the
//! app at `https://app.example.com`.

use crate::server::{PASSWORD, expect_error};
use auth_ports::AuditQuery;
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

auth_testing::on_both_backends!(
    crate::cookies::BrowserApp;
    a_cookie_login_hides_the_token_in_an_http_only_cookie,
    a_cookie_session_authenticates_reads_without_a_csrf_token,
    state_changing_cookie_requests_need_the_csrf_token_and_a_trusted_origin,
    a_planted_csrf_pair_of_another_session_is_refused,
    bearer_requests_need_no_csrf_token,
    a_bad_authorization_header_never_falls_back_to_the_cookie,
    a_foreign_page_cannot_log_the_browser_in,
    the_csrf_token_can_be_fetched_again_by_cookie_only,
    logout_deletes_the_cookies_of_its_own_or_a_dead_session_only,
    cors_answers_allowed_origins_only,
);

/// The test without `CORS_ALLOWED_ORIGINS`.
mod plain {
    pub(super) use super::without_allowed_origins_no_cors_header_is_sent;

    auth_testing::on_both_backends!(
        crate::cookies::PlainApp;
        without_allowed_origins_no_cors_header_is_sent,
    );
}

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example.com";

configured_app! {
    /// authd on https with one allowed app.
    BrowserApp = [
        ("AUTHD_PUBLIC_URL", "https://auth.example.com"),
        ("CORS_ALLOWED_ORIGINS", APP),
    ];
}

configured_app! {
    /// authd without CORS_ALLOWED_ORIGINS.
    PlainApp = [];
}

/// A browser session: the cookie values and the CSRF token the login answered.
struct CookieSession {
    session: String,
    csrf: String,
}

impl CookieSession {
    /// The `Cookie` header a browser would send.
    fn cookie_header(&self) -> String {
        format!(
            "__Host-authd_session={}; __Host-authd_csrf={}",
            self.session, self.csrf
        )
    }
}

/// The `Set-Cookie` header of cookie `name`.
fn set_cookie<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {headers:?}"))
}

/// The value of a `Set-Cookie` header.
fn value_of(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_owned()
}

impl BrowserApp {
    fn login_request(&self, email: &str) -> RequestBuilder {
        self.client
            .post(self.url("/v1/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD, "cookie": true}))
    }

    /// Registers `email` and logs it in from the app's page.
    async fn cookie_login(&self, email: &str) -> CookieSession {
        self.register(email).await;
        let response = self
            .login_request(email)
            .header("origin", APP)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        let body: Value = response.json().await.unwrap();
        let csrf = body["csrf_token"].as_str().unwrap().to_owned();
        assert_eq!(value_of(set_cookie(&headers, "__Host-authd_csrf")), csrf);
        CookieSession {
            session: value_of(set_cookie(&headers, "__Host-authd_session")),
            csrf,
        }
    }

    /// `method path` as the app's page would send it with `session`'s cookies, from
    /// `origin`, with `csrf` in `X-CSRF-Token` if given.
    async fn by_cookie(
        &self,
        method: Method,
        path: &str,
        session: &CookieSession,
        origin: Option<&str>,
        csrf: Option<&str>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("cookie", session.cookie_header());
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send().await.unwrap()
    }

    async fn me_status(&self, session: &CookieSession) -> StatusCode {
        self.by_cookie(Method::GET, "/v1/auth/me", session, None, None)
            .await
            .status()
    }
}

async fn a_cookie_login_hides_the_token_in_an_http_only_cookie(app: &BrowserApp) {
    app.register("ada@example.com").await;
    let response = app
        .login_request("ada@example.com")
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap();
    assert!(body.get("session_token").is_none(), "{body}");
    assert_eq!(body["token_type"], "Cookie");
    assert_eq!(body["user"]["email"], "ada@example.com");
    let session = set_cookie(&headers, "__Host-authd_session");
    assert!(
        session.ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax"),
        "{session}"
    );
    let max_age: i64 = session
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (43_000..=43_200).contains(&max_age),
        "the session's 12 h: {max_age}"
    );
    assert_eq!(value_of(session).len(), 43, "the 256-bit session token");
    let csrf = set_cookie(&headers, "__Host-authd_csrf");
    assert!(
        !csrf.contains("HttpOnly"),
        "page scripts may read it: {csrf}"
    );
    assert_eq!(value_of(csrf), body["csrf_token"].as_str().unwrap());
    // A bearer login is unchanged: the token in the body, no cookie.
    let bearer = app.try_login("ada@example.com", PASSWORD).await;
    assert!(bearer.headers().get(SET_COOKIE).is_none());
    let body: Value = bearer.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["session_token"].is_string() && body.get("csrf_token").is_none());
}

async fn a_cookie_session_authenticates_reads_without_a_csrf_token(app: &BrowserApp) {
    let session = app.cookie_login("ada@example.com").await;
    let response = app
        .by_cookie(Method::GET, "/v1/auth/me", &session, Some(APP), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "ada@example.com");
    // The session is the same one a bearer sees.
    let sessions = app
        .by_cookie(Method::GET, "/v1/auth/sessions", &session, None, None)
        .await;
    let body: Value = sessions.json().await.unwrap();
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(body["sessions"][0]["current"], true);
}

async fn state_changing_cookie_requests_need_the_csrf_token_and_a_trusted_origin(app: &BrowserApp) {
    let session = app.cookie_login("ada@example.com").await;
    let csrf = session.csrf.clone();
    let post =
        |origin, token| app.by_cookie(Method::POST, "/v1/auth/logout-all", &session, origin, token);
    // No token, a wrong token, a foreign or opaque origin: refused, nothing revoked.
    for (origin, token) in [
        (Some(APP), None),
        (Some(APP), Some("not-the-token")),
        (Some(EVIL), Some(csrf.as_str())),
        (Some("null"), Some(csrf.as_str())),
    ] {
        expect_error(
            post(origin, token).await,
            StatusCode::FORBIDDEN,
            "csrf_failed",
        )
        .await;
        assert_eq!(
            app.me_status(&session).await,
            StatusCode::OK,
            "{origin:?} {token:?}"
        );
    }
    // Without Origin, fetch metadata from another site is refused too.
    let cross_site = app
        .client
        .post(app.url("/v1/auth/logout-all"))
        .header("cookie", session.cookie_header())
        .header("sec-fetch-site", "same-site")
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    expect_error(cross_site, StatusCode::FORBIDDEN, "csrf_failed").await;
    // DELETE and the other verbs are state-changing as well.
    let path = "/v1/auth/sessions/00000000-0000-0000-0000-000000000000";
    let delete = app
        .by_cookie(Method::DELETE, path, &session, Some(APP), None)
        .await;
    expect_error(delete, StatusCode::FORBIDDEN, "csrf_failed").await;
    assert!(
        app.audit_entries(AuditQuery {
            action: Some("auth.logout".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .is_empty()
    );
    // From the app with the token: done, and the cookies are deleted.
    let response = post(Some(APP), Some(csrf.as_str())).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(response.headers(), "__Host-authd_session");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(set_cookie(response.headers(), "__Host-authd_csrf").contains("Max-Age=0"));
    assert_eq!(app.me_status(&session).await, StatusCode::UNAUTHORIZED);
}

async fn a_planted_csrf_pair_of_another_session_is_refused(app: &BrowserApp) {
    let victim = app.cookie_login("ada@example.com").await;
    let attacker = app.cookie_login("eve@example.com").await;
    // A matching cookie and header, but from the attacker's session.
    let planted = CookieSession {
        session: victim.session.clone(),
        csrf: attacker.csrf.clone(),
    };
    let response = app
        .by_cookie(
            Method::POST,
            "/v1/auth/logout",
            &planted,
            Some(APP),
            Some(&attacker.csrf),
        )
        .await;
    expect_error(response, StatusCode::FORBIDDEN, "csrf_failed").await;
    assert_eq!(app.me_status(&victim).await, StatusCode::OK);
}

async fn bearer_requests_need_no_csrf_token(app: &BrowserApp) {
    app.register("ada@example.com").await;
    let token = app.login("ada@example.com", PASSWORD).await;
    let response = app
        .client
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(&token)
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        response.headers().get(SET_COOKIE).is_none(),
        "no cookie to delete"
    );
}

async fn a_bad_authorization_header_never_falls_back_to_the_cookie(app: &BrowserApp) {
    let session = app.cookie_login("ada@example.com").await;
    let response = app
        .client
        .get(app.url("/v1/auth/me"))
        .header("cookie", session.cookie_header())
        .header("authorization", "Basic YWRhOnB3")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn a_foreign_page_cannot_log_the_browser_in(app: &BrowserApp) {
    app.register("eve@example.com").await;
    for (name, value) in [("origin", EVIL), ("sec-fetch-site", "cross-site")] {
        let response = app
            .login_request("eve@example.com")
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert!(response.headers().get(SET_COOKIE).is_none());
        expect_error(response, StatusCode::FORBIDDEN, "csrf_failed").await;
    }
    let logins = app
        .audit_entries(AuditQuery {
            action: Some("auth.login".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await;
    assert!(logins.is_empty(), "refused before the password: {logins:?}");
    // authd's own pages may.
    let own = app
        .login_request("eve@example.com")
        .header("origin", "https://auth.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
}

async fn the_csrf_token_can_be_fetched_again_by_cookie_only(app: &BrowserApp) {
    let session = app.cookie_login("ada@example.com").await;
    let response = app
        .by_cookie(Method::GET, "/v1/auth/csrf", &session, Some(APP), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = value_of(set_cookie(response.headers(), "__Host-authd_csrf"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["csrf_token"], session.csrf.as_str());
    assert_eq!(cookie, session.csrf);
    // A bearer token is not a cookie session.
    let token = app.login("ada@example.com", PASSWORD).await;
    let bearer = app.get("/v1/auth/csrf", &token).await;
    expect_error(bearer, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// Whether `response` deletes the session cookie.
fn deletes_the_cookie(response: &Response) -> bool {
    response.headers().get_all(SET_COOKIE).iter().any(|v| {
        v.to_str()
            .unwrap()
            .starts_with("__Host-authd_session=; Max-Age=0")
    })
}

async fn logout_deletes_the_cookies_of_its_own_or_a_dead_session_only(app: &BrowserApp) {
    let session = app.cookie_login("ada@example.com").await;
    let csrf = Some(session.csrf.as_str());
    // A refused logout leaves the browser signed in.
    let refused = app
        .by_cookie(Method::POST, "/v1/auth/logout", &session, Some(EVIL), csrf)
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(!deletes_the_cookie(&refused));
    // A bearer logout ends the bearer's session, not the cookie's.
    let token = app.login("ada@example.com", PASSWORD).await;
    let bearer = app
        .client
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(&token)
        .header("cookie", session.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::NO_CONTENT);
    assert!(!deletes_the_cookie(&bearer));
    assert_eq!(app.me_status(&session).await, StatusCode::OK);
    // A cookie whose session is gone (revoked elsewhere) is deleted by a logout: page
    // scripts cannot delete an HttpOnly cookie.
    let other = app.login("ada@example.com", PASSWORD).await;
    let everywhere = app
        .post("/v1/auth/logout-all", Some(&other), json!({}))
        .await;
    assert_eq!(everywhere.status(), StatusCode::NO_CONTENT);
    let dead = app
        .by_cookie(Method::POST, "/v1/auth/logout", &session, Some(APP), csrf)
        .await;
    assert_eq!(dead.status(), StatusCode::UNAUTHORIZED);
    assert!(deletes_the_cookie(&dead));
}

async fn cors_answers_allowed_origins_only(app: &BrowserApp) {
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/v1/auth/logout"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-csrf-token",
            )
            .send()
    };
    let allowed = preflight(APP).await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], APP);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let headers = h["access-control-allow-headers"].to_str().unwrap();
    assert!(headers.contains("x-csrf-token"), "{headers}");
    assert_eq!(h["cache-control"], "no-store");
    let refused = preflight(EVIL).await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    // Answers, errors included, name the allowed origin so its pages can read them.
    let error = app
        .client
        .get(app.url("/v1/auth/me"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error.headers()["access-control-allow-origin"], APP);
    assert!(error.headers()["vary"].to_str().unwrap().contains("origin"));
    let foreign = app
        .client
        .get(app.url("/health/live"))
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

async fn without_allowed_origins_no_cors_header_is_sent(app: &PlainApp) {
    let response = app
        .client
        .get(app.url("/health/live"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/v1/auth/login"))
        .header("origin", APP)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
