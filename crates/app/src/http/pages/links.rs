//! Where the pages' own links (stylesheet, form actions) point.

/// The path of `public_url` (a validated http(s) URL) without its trailing slash: a proxy
/// that serves authd under a prefix expects the pages' links under it too.
pub(crate) fn root(public_url: &str) -> String {
    url::Url::parse(public_url).map_or_else(
        |_| String::new(),
        |url| url.path().trim_end_matches('/').to_owned(),
    )
}
