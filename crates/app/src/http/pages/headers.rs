//! The headers every page answer carries, on top of the global `no-store` and `nosniff`.

use axum::http::{HeaderMap, HeaderValue, header};

/// Nothing but the stylesheet may load, forms post only back here, no one may frame the
/// page and no `<base>` may redirect its links: with no script allowed at all, an
/// injection that escaped the escaping still could not run.
pub(super) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `text/html; charset=utf-8`.
pub(super) const HTML: &str = "text/html; charset=utf-8";

/// `text/css; charset=utf-8`.
pub(super) const CSS: &str = "text/css; charset=utf-8";

/// Sets the content type and the page protections: the CSP above; `no-referrer`, since
/// the URL holds a token that must not leak to wherever the page links or loads from;
/// `X-Frame-Options` for browsers without `frame-ancestors`.
pub(super) fn protect(headers: &mut HeaderMap, content_type: &'static str) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}
