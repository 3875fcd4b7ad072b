//! Sign-in with an OAuth/OIDC provider and linked accounts (SPEC.md section 4.3).
//!
//! A login flow begins with a browser visiting `/v1/oauth/{provider}/authorize`; the
//! answer sets a short-lived HttpOnly cookie holding the flow's `state`, and the callback
//! is accepted only from the browser that carries it (RFC 6749 §10.12: otherwise an
//! attacker could make a victim finish the attacker's login). A link flow is begun by an
//! API call with a session, and is bound to that session instead: it completes only
//! for that session's user, and only while the session is active.

use super::auth::{LoginResponse, session_cookies};
use super::error::ApiError;
use super::error::doc::ErrorBody;
use super::extract::{ApiQuery, Authenticated, Client};
use super::kind;
use super::mfa::MfaRequiredResponse;
use super::state::AppState;
use auth_domain::{
    Callback, ClientInfo, Finished, IssuedChallenge, LoginSuccess, OAuthError, UnlinkError,
};
use auth_ports::OAuthAccount;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/oauth/{provider}/authorize", get(authorize))
        .route("/v1/oauth/{provider}/callback", get(callback))
        .route("/v1/auth/oauth", get(accounts))
        .route("/v1/auth/oauth/{provider}/link", post(link))
        .route("/v1/auth/oauth/{provider}", delete(unlink))
}

/// Begins a login: redirects the browser to the provider (authorization code flow with
/// PKCE S256, `state` and `nonce`), setting the cookie the callback checks.
#[utoipa::path(
    get,
    path = "/v1/oauth/{provider}/authorize",
    tag = "oauth",
    params(
        ("provider" = String, Path, description = "A name from `OAUTH_PROVIDERS`"),
        ("return_to" = Option<String>, Query, description = "For a browser app: a page on \
            authd's origin or one in `CORS_ALLOWED_ORIGINS`; the callback then sets the \
            session cookies and answers 303 to it (with `error=<code>` added if the sign-in \
            failed) instead of JSON"),
    ),
    responses(
        kind::Public, kind::Query, kind::Limited,
        (status = 302, description = "To the provider's authorization endpoint; sets the \
            flow cookie (HttpOnly, SameSite=Lax, 10 minutes)"),
        (status = 404, description = "No such provider (`not_found`)", body = ErrorBody,
            example = json!({"error": {"code": "not_found", "message": "Not found"}})),
    )
)]
async fn authorize(
    State(state): State<AppState>,
    Client(client): Client,
    Path(provider): Path<String>,
    ApiQuery(query): ApiQuery<AuthorizeQuery>,
) -> Result<Response, ApiError> {
    let return_to = checked_return_to(&state, query.return_to)?;
    let begun = state.oauth.begin(&provider, None, &client).await?;
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    let location = HeaderValue::from_str(&begun.authorization_url).map_err(|_| {
        tracing::error!(%provider, "the provider's authorization URL is not a valid header");
        ApiError::Internal
    })?;
    headers.insert(header::LOCATION, location);
    let flow_cookie = state
        .oauth_cookie
        .set(begun.state.expose(), return_to.as_deref());
    if let Some(cookie) = flow_cookie {
        headers.insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Longest `return_to` kept: it travels in the flow cookie, and browsers keep cookies of
/// up to 4 KiB.
const MAX_RETURN_TO: usize = 2048;

#[derive(Deserialize)]
struct AuthorizeQuery {
    /// A page of the app to send the browser to afterwards (signed in by cookie, for a
    /// login).
    return_to: Option<String>,
}

/// `return_to` if it is a page the browser may be sent to: on authd's origin or an
/// allowed one, and short enough for the flow cookie. Else 422.
fn checked_return_to(
    state: &AppState,
    return_to: Option<String>,
) -> Result<Option<String>, ApiError> {
    match return_to {
        Some(url) if url.len() > MAX_RETURN_TO || !state.origins.allows_url(&url) => {
            Err(ApiError::invalid(
                "return_to",
                "must be a URL on authd's origin or one in CORS_ALLOWED_ORIGINS",
            ))
        }
        checked => Ok(checked),
    }
}

/// What the provider sends the browser back with. Other parameters (`iss`,
/// `session_state`, `scope` …) are ignored.
#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct AccountBody {
    /// The provider's name in `OAUTH_PROVIDERS`.
    #[schema(example = "google")]
    provider: String,
    /// The email the provider reported, if any.
    provider_email: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<OAuthAccount> for AccountBody {
    fn from(account: OAuthAccount) -> Self {
        Self {
            provider: account.provider,
            provider_email: account.provider_email,
            created_at: account.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AccountsResponse {
    accounts: Vec<AccountBody>,
}

impl AccountsResponse {
    fn new(accounts: Vec<OAuthAccount>) -> Self {
        Self {
            accounts: accounts.into_iter().map(AccountBody::from).collect(),
        }
    }
}

/// A finished login (a session, or for an account with MFA on the challenge of the second
/// step, as `POST /v1/auth/login` answers) or a finished link (the caller's linked
/// accounts).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum CallbackResponse {
    SignedIn(LoginResponse),
    MfaRequired(MfaRequiredResponse),
    Linked(AccountsResponse),
}

/// How a flow ended, with the challenge of the second step already issued for an
/// account with MFA on.
enum Ended {
    SignedIn(Box<LoginSuccess>),
    MfaRequired(IssuedChallenge),
    Linked(Vec<OAuthAccount>),
}

/// The end of a finished flow: a sign-in to an account with MFA on gets its challenge.
async fn ended(
    state: &AppState,
    client: &ClientInfo,
    outcome: Result<Finished, OAuthError>,
) -> Result<Ended, ApiError> {
    Ok(match outcome? {
        Finished::SignedIn(success) => Ended::SignedIn(success),
        Finished::MfaRequired(user) => {
            Ended::MfaRequired(state.auth.begin_second_factor(&user, client).await?)
        }
        Finished::Linked(accounts) => Ended::Linked(accounts),
    })
}

/// Finishes a flow: exchanges the code, verifies the ID token, then signs in (a new user
/// on a first login; an existing user of the same email only if the provider verified
/// it) or links the provider to the user who began the link.
#[utoipa::path(
    get,
    path = "/v1/oauth/{provider}/callback",
    tag = "oauth",
    params(
        ("provider" = String, Path, description = "A name from `OAUTH_PROVIDERS`"),
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state of the flow"),
        ("error" = Option<String>, Query, description = "The provider's error, if it refused"),
    ),
    responses(
        kind::Public, kind::Query, kind::Limited,
        (status = 200, description = "Signed in (`session_token` …) or, for a link flow, \
            the linked accounts", body = CallbackResponse),
        (status = 303, description = "A flow begun with `return_to`: back to that page \
            (a login signed in by cookie, `Set-Cookie`), or with `error=<code>` in its query"),
        (status = 400, description = "Unknown, expired, used or foreign state, no flow \
            cookie for a login, or a link whose session was revoked since (`invalid_state`); \
            the provider refused, or its answer did not verify (`oauth_failed`)",
            body = ErrorBody, examples(
                ("invalid_state" = (value = json!({"error": {"code": "invalid_state",
                    "message": "This sign-in link is invalid, used or expired; start again"}}))),
                ("oauth_failed" = (value = json!({"error": {"code": "oauth_failed",
                    "message": "The provider did not confirm the sign-in"}}))),
            )),
        (status = 403, description = "The account may not log in: `account_disabled` or \
            `email_not_verified`", body = ErrorBody),
        (status = 404, description = "No such provider (`not_found`)", body = ErrorBody),
        (status = 409, description = "`email_taken`: an account has this email and the \
            provider did not verify it (its owner can link the provider while signed in); \
            `oauth_account_taken`: this provider account is linked to another user; \
            `provider_already_linked`: the user has another account of this provider linked",
            body = ErrorBody),
    )
)]
async fn callback(
    State(state): State<AppState>,
    Client(client): Client,
    Path(provider): Path<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<CallbackQuery>,
) -> Response {
    let callback = Callback {
        code: query.code,
        state: query.state,
        error: query.error,
    };
    let (browser_state, return_to) = state.oauth_cookie.read(&headers).unzip();
    let outcome = state
        .oauth
        .finish(&provider, callback, browser_state.as_deref(), &client)
        .await;
    let outcome = ended(&state, &client, outcome).await;
    // Checked again: the cookie could have been planted over plain http.
    let return_to = return_to
        .flatten()
        .filter(|url| state.origins.allows_url(url));
    let mut response = match return_to {
        Some(url) => back_to_app(&state, &url, outcome),
        None => match outcome {
            Ok(Ended::SignedIn(success)) => {
                Json(CallbackResponse::SignedIn((*success).into())).into_response()
            }
            Ok(Ended::MfaRequired(challenge)) => {
                Json(CallbackResponse::MfaRequired(challenge.into())).into_response()
            }
            Ok(Ended::Linked(accounts)) => {
                Json(CallbackResponse::Linked(AccountsResponse::new(accounts))).into_response()
            }
            Err(e) => e.into_response(),
        },
    };
    // The flow is spent whatever the outcome.
    if let Some(clear) = state.oauth_cookie.clear() {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

/// A flow begun with `return_to`: 303 there (a login signed in by cookie, a link done),
/// or with `error=<code>` added to the URL. A sign-in that needs its second step gets
/// `#mfa_token=…&methods=…` in the fragment (which browsers send to no server and put in
/// no `Referer`), for the app to post to `/v1/auth/mfa/verify` with `cookie: true`.
fn back_to_app(state: &AppState, url: &str, outcome: Result<Ended, ApiError>) -> Response {
    let mut location = match url::Url::parse(url) {
        Ok(location) => location,
        Err(_) => return ApiError::Internal.into_response(),
    };
    let signed_in = outcome.and_then(|ended| match ended {
        Ended::SignedIn(success) => session_cookies(state, &success).map(Some),
        Ended::MfaRequired(challenge) => {
            let methods = super::mfa::method_names(&challenge.methods).join(",");
            let fragment = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("mfa_token", challenge.token.expose())
                .append_pair("methods", &methods)
                .finish();
            location.set_fragment(Some(&fragment));
            Ok(None)
        }
        Ended::Linked(_) => Ok(None),
    });
    let cookies = match signed_in {
        Ok(signed_in) => signed_in.map(|(_, cookies)| cookies),
        Err(err) => {
            location.query_pairs_mut().append_pair("error", err.code());
            None
        }
    };
    let Ok(location) = HeaderValue::from_str(location.as_str()) else {
        return ApiError::Internal.into_response();
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    for cookie in cookies.into_iter().flatten() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The caller's linked provider accounts, oldest first.
#[utoipa::path(
    get,
    path = "/v1/auth/oauth",
    tag = "oauth",
    security(("session" = [])),
    responses(
        kind::Session,
        (status = 200, description = "The linked accounts", body = AccountsResponse),
    )
)]
async fn accounts(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<AccountsResponse>, ApiError> {
    let accounts = state.oauth.accounts(&principal).await?;
    Ok(Json(AccountsResponse::new(accounts)))
}

#[derive(Serialize, ToSchema)]
struct LinkResponse {
    /// Send the browser here; the provider returns it to the callback, which links the
    /// provider account to the caller if this session is still active then.
    authorization_url: String,
}

/// Begins linking a provider to the caller. Needs a session authenticated within the last
/// 5 minutes.
#[utoipa::path(
    post,
    path = "/v1/auth/oauth/{provider}/link",
    tag = "oauth",
    security(("session" = [])),
    params(
        ("provider" = String, Path, description = "A name from `OAUTH_PROVIDERS`"),
        ("return_to" = Option<String>, Query, description = "For a browser app: a page on \
            authd's origin or one in `CORS_ALLOWED_ORIGINS`, kept in a flow cookie this \
            answer sets; when the same browser finishes the link, the callback answers 303 \
            to it (with `error=<code>` added on failure) instead of JSON"),
    ),
    responses(
        kind::Sensitive, kind::Query, kind::Limited,
        (status = 200, description = "Where to send the browser", body = LinkResponse),
        (status = 404, description = "No such provider (`not_found`)", body = ErrorBody),
    )
)]
async fn link(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Path(provider): Path<String>,
    ApiQuery(query): ApiQuery<AuthorizeQuery>,
) -> Result<Response, ApiError> {
    let return_to = checked_return_to(&state, query.return_to)?;
    let begun = state
        .oauth
        .begin(&provider, Some(&principal), &client)
        .await?;
    // Where to go back to travels in the flow cookie, so it reaches the callback only
    // when the browser that asked (a web app's page) also finishes the link.
    let flow_cookie = return_to
        .as_deref()
        .and_then(|url| state.oauth_cookie.set(begun.state.expose(), Some(url)));
    let mut response = Json(LinkResponse {
        authorization_url: begun.authorization_url,
    })
    .into_response();
    if let Some(cookie) = flow_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Unlinks a provider from the caller, unless it is their last way to log in. Needs a
/// session authenticated within the last 5 minutes.
#[utoipa::path(
    delete,
    path = "/v1/auth/oauth/{provider}",
    tag = "oauth",
    security(("session" = [])),
    params(("provider" = String, Path, description = "A linked provider")),
    responses(
        kind::Sensitive,
        (status = 204, description = "Unlinked"),
        (status = 404, description = "Not linked (`not_found`)", body = ErrorBody),
        (status = 409, description = "No password and no other provider would remain \
            (`last_login_method`)", body = ErrorBody, example = json!({"error": {
                "code": "last_login_method",
                "message": "Set a password or link another provider first"}})),
    )
)]
async fn unlink(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Path(provider): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.oauth.unlink(&principal, &provider, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<OAuthError> for ApiError {
    fn from(err: OAuthError) -> Self {
        match err {
            OAuthError::UnknownProvider => Self::NotFound,
            OAuthError::RateLimited { retry_after } => Self::RateLimited(retry_after),
            OAuthError::InvalidState => Self::InvalidState,
            OAuthError::OAuthFailed => Self::OAuthFailed,
            OAuthError::EmailTaken => Self::EmailTaken,
            OAuthError::ProviderAccountTaken => Self::OAuthAccountTaken,
            OAuthError::AlreadyLinked => Self::ProviderAlreadyLinked,
            OAuthError::AccountDisabled => Self::AccountDisabled,
            OAuthError::EmailNotVerified => Self::EmailNotVerified,
            OAuthError::ReauthenticationRequired(_) => Self::ReauthenticationRequired,
            OAuthError::Unavailable(reason) => {
                tracing::warn!(%reason, "OAuth provider unavailable");
                Self::Unavailable
            }
            OAuthError::Failure(failure) => failure.into(),
        }
    }
}

impl From<UnlinkError> for ApiError {
    fn from(err: UnlinkError) -> Self {
        match err {
            UnlinkError::NotFound => Self::NotFound,
            UnlinkError::LastLoginMethod => Self::LastLoginMethod,
            UnlinkError::ReauthenticationRequired(_) => Self::ReauthenticationRequired,
            UnlinkError::Failure(failure) => failure.into(),
        }
    }
}
