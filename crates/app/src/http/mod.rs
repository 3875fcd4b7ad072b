//! The HTTP API (SPEC.md section 4) on axum: routes, shared state, the middleware every
//! request passes through, and graceful shutdown.

mod accounts;
mod admin;
mod admin_mfa;
mod auth;
mod body;
mod client;
mod cookies;
mod cors;
mod csrf;
mod error;
mod extract;
mod flow_cookie;
mod health;
mod kind;
mod metrics;
mod mfa;
mod oauth;
mod openapi;
mod own_account;
mod pages;
mod params;
mod recovery;
mod refusals;
mod roles;
mod session_cookie;
mod state;
mod tokens;

pub use error::ApiError;
pub use metrics::{MetricSources, Metrics};
pub use state::{AccessTokens, AppState, AppStateInner, Services};

use crate::config::HttpConfig;
use axum::error_handling::HandleErrorLayer;
use axum::extract::ConnectInfo;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{BoxError, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// Largest request body accepted (SPEC.md section 4).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Longest a request may take before it is answered 503: well past a login under load,
/// short enough that a stuck dependency cannot pile up connections.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole API as one router.
pub fn router(state: AppState) -> Router {
    with_middleware(
        Router::new()
            .merge(health::routes())
            .merge(auth::routes())
            .merge(recovery::routes())
            .merge(admin::routes())
            .merge(accounts::routes())
            .merge(own_account::routes())
            .merge(admin_mfa::routes())
            .merge(mfa::routes())
            .merge(roles::routes())
            .merge(tokens::routes())
            .merge(oauth::routes())
            .merge(pages::routes())
            .route("/metrics", get(metrics::render))
            .route("/openapi.json", get(openapi::document)),
        state,
    )
}

/// The fallbacks and the middleware every request passes through, around `routes`: one
/// function, so tests can put a route of their own (one that panics) behind the same
/// stack.
fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    let request_id = header::HeaderName::from_static("x-request-id");
    let cors = cors::layer(state.origins.allowed());
    routes
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.refusals),
            refusals::audit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            metrics::track,
        ))
        .with_state(state.clone())
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                // Responses carry personal data and tokens: never cache them, never sniff.
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                // Outside the routes, so preflights are answered before routing, and
                // outside the error handling, so an app can read every error's body.
                .option_layer(cors)
                .layer(HandleErrorLayer::new(|_: BoxError| async {
                    ApiError::Unavailable.into_response()
                }))
                .timeout(REQUEST_TIMEOUT)
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    reject_at_once,
                ))
                .layer(DefaultBodyLimit::max(BODY_LIMIT))
                // Innermost, so the 500 still gets the headers, the request id and its
                // log line above.
                .layer(CatchPanicLayer::custom(panic_response)),
        )
}

/// A panicking handler answers the opaque 500 of every other bug instead of dropping the
/// connection. The payload is logged (the panic hook prints where it happened).
fn panic_response(payload: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "handler panicked");
    ApiError::Internal.into_response()
}

/// One INFO span per request, carrying its id, so every log line of a request (a 500's
/// cause included) can be traced back to it.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), id)
}

/// Answers at once what the head of a request already refuses: `%00` in the URL (400;
/// PostgreSQL refuses NUL in text, so it must never reach a query) and a
/// `Content-Length` over [`BODY_LIMIT`] (413, instead of waiting for a body that a lying
/// client may never send), in HTML on the pages. One middleware for both: each layer
/// costs every request.
async fn reject_at_once(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let refuse = |error: ApiError| {
        if pages::PATHS.contains(&request.uri().path()) {
            pages::ErrorPage::new(error, &state.page_root).into_response()
        } else {
            error.into_response()
        }
    };
    let url = request
        .uri()
        .path_and_query()
        .map_or("", axum::http::uri::PathAndQuery::as_str);
    if url.contains("%00") {
        return refuse(ApiError::BadRequest("the URL contains a NUL byte".into()));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
        // The body is never read, so the connection cannot carry another request: say
        // so, or a client may reuse it and see its next request fail.
        let mut response = refuse(ApiError::PayloadTooLarge);
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    next.run(request).await
}

/// How long in-flight requests may take to finish after the stop signal (orchestrators
/// usually wait 30 s before they kill: Kubernetes' default termination grace period).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// Serves the API over HTTP/1.1 on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish, for at most [`SHUTDOWN_GRACE`].
///
/// Slow clients cannot hold the service: a connection that has not sent a request's
/// headers within `header_read_timeout` (idle keep-alive connections included) is
/// closed, and at most `max_connections` are served at once; beyond that, new
/// connections wait in the kernel's listen backlog (not accepted, so not dropped) until
/// one closes, which the header timeout guarantees for idle ones.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    config: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "authd listening");
    let mail = state.mail.start();
    let app = router(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((stream, peer, slot)) = accepted else {
            continue;
        };
        // What `into_make_service_with_connect_info` does: the peer for `extract::Client`.
        let service = TowerToHyperService::new(tower::Layer::layer(
            &axum::Extension(ConnectInfo(peer)),
            app.clone(),
        ));
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running {SHUTDOWN_GRACE:?} after the stop signal are cut off"
        );
    }
    mail.stop().await;
    tracing::info!("authd stopped");
    Ok(())
}

/// Waits for a free connection slot, then for a connection. `None` after an accept
/// error, which is logged; errors such as running out of file descriptors pause
/// accepting for a second rather than spinning.
async fn accept(
    listener: &tokio::net::TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(tokio::net::TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    // The semaphore is never closed, so acquiring only waits.
    let slot = Arc::clone(slots).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, peer)) => Some((stream, peer, slot)),
        Err(err) if is_per_connection(&err) => None,
        Err(err) => {
            tracing::warn!(error = %err, "cannot accept connections; retrying in 1 s");
            tokio::time::sleep(Duration::from_secs(1)).await;
            None
        }
    }
}

/// Errors that concern one connection only, not the listener.
fn is_per_connection(err: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        err.kind(),
        K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset
    )
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    async fn state() -> (AppState, auth_testing::TestDatabase) {
        let database = auth_testing::TestDatabase::sqlite();
        let url = database.url().to_owned();
        let config =
            crate::config::Config::from_vars(|name| (name == "DATABASE_URL").then(|| url.clone()))
                .unwrap();
        let store = crate::connect(&config).await.unwrap();
        store.migrate_up().await.unwrap();
        let state = crate::build_state(&config, store, "test:").await.unwrap();
        (state, database)
    }

    #[allow(clippy::panic)]
    async fn boom() -> StatusCode {
        panic!("secret detail")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_an_opaque_json_500() {
        let (state, _database) = state().await;
        let routes = Router::new().route("/boom", get(boom));
        let response = with_middleware(routes, state)
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert!(response.headers().contains_key("x-request-id"));
        let body = axum::body::to_bytes(response.into_body(), BODY_LIMIT)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "internal_error", "message": "Something went wrong"}})
        );
    }
}
