//! The listener: `AUTHD_BIND`, `AUTHD_PUBLIC_URL`, `TRUSTED_PROXIES`,
//! `CORS_ALLOWED_ORIGINS` and the connection limits.

use super::vars::Vars;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use url::Url;

/// Upper bound for `HTTP_HEADER_READ_TIMEOUT_SECS`: longer only helps slow-header attacks.
const MAX_HEADER_READ_TIMEOUT_SECS: u64 = 600;

/// Default `HTTP_MAX_CONNECTIONS`: far above what a proxy in front of authd opens; the
/// open-files limit (`ulimit -n`) must leave room above it.
const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;

/// Upper bound for `HTTP_MAX_CONNECTIONS`.
const MAX_CONNECTIONS: u64 = 1_000_000;

/// HTTP listener settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Address the server listens on (`AUTHD_BIND`); port 0 picks a free port.
    pub bind: SocketAddr,
    /// Base URL clients use to reach authd (`AUTHD_PUBLIC_URL`), an http(s) URL without a
    /// trailing slash: used for links in mails, OAuth redirect URIs and the JWT `iss`.
    pub public_url: String,
    /// Peers whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`); empty: the header is
    /// ignored. Single addresses are stored as /32 or /128 networks.
    pub trusted_proxies: Vec<IpNet>,
    /// Browser origins (`https://app.example.com`) that may call the API with credentials
    /// (`CORS_ALLOWED_ORIGINS`), as browsers serialise them in `Origin`; empty: none.
    pub cors_allowed_origins: Vec<String>,
    /// Time a client has to send a request's headers, counted from when the connection
    /// is ready for one, so it also closes a keep-alive connection left idle that long
    /// (`HTTP_HEADER_READ_TIMEOUT_SECS`).
    pub header_read_timeout: Duration,
    /// Connections served at once (`HTTP_MAX_CONNECTIONS`); further ones wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
}

/// `AUTHD_BIND`, `AUTHD_PUBLIC_URL` and `TRUSTED_PROXIES`.
pub(super) fn http<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> HttpConfig {
    let default_bind = SocketAddr::from(([127, 0, 0, 1], 8080));
    let bind = match vars.get("AUTHD_BIND") {
        None => default_bind,
        Some(value) => value.parse().unwrap_or_else(|_| {
            vars.report(
                "AUTHD_BIND",
                format!("expected an address and port such as 127.0.0.1:8080 or [::]:8080, got {value:?}"),
            );
            default_bind
        }),
    };
    let public_url = match vars.get("AUTHD_PUBLIC_URL") {
        None => "http://127.0.0.1:8080".to_owned(),
        Some(value) => base_url(&value).unwrap_or_else(|message| {
            vars.report("AUTHD_PUBLIC_URL", format!("{message}, got {value:?}"));
            String::new()
        }),
    };
    HttpConfig {
        bind,
        public_url,
        trusted_proxies: trusted_proxies(vars),
        cors_allowed_origins: cors_allowed_origins(vars),
        header_read_timeout: Duration::from_secs(vars.number(
            "HTTP_HEADER_READ_TIMEOUT_SECS",
            10,
            1,
            MAX_HEADER_READ_TIMEOUT_SECS,
        )),
        max_connections: usize::try_from(vars.number(
            "HTTP_MAX_CONNECTIONS",
            DEFAULT_MAX_CONNECTIONS,
            1,
            MAX_CONNECTIONS,
        ))
        .unwrap_or(1),
    }
}

/// `value` as a base URL that paths are appended to: an http(s) URL ([`check_http_url`])
/// without query or fragment, its trailing slashes trimmed.
pub(super) fn base_url(value: &str) -> Result<String, String> {
    check_http_url(value)?;
    if value.contains('?') || value.contains('#') {
        return Err("must not have a query or fragment".to_owned());
    }
    // As the url crate serialises it (lower-case scheme and host, `"` escaped), so the
    // https test for cookies and the links in mails cannot be fooled by the spelling.
    let url = Url::parse(value).map_err(|err| err.to_string())?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Checks that `value` is an absolute http(s) URL with a host and no credentials.
pub(super) fn check_http_url(value: &str) -> Result<(), String> {
    let url = Url::parse(value).map_err(|err| format!("expected an http(s) URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err("expected an http(s) URL".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".to_owned());
    }
    Ok(())
}

/// `CORS_ALLOWED_ORIGINS`: comma-separated origins, each `scheme://host[:port]`. `*` is
/// refused: credentialed requests need the origin named, and a wildcard would let every
/// site act with the user's cookie.
fn cors_allowed_origins<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> Vec<String> {
    let Some(value) = vars.get("CORS_ALLOWED_ORIGINS") else {
        return Vec::new();
    };
    let mut origins = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry.contains('*') {
            // The url crate takes `*` in a host, which would never match an `Origin`.
            vars.report(
                "CORS_ALLOWED_ORIGINS",
                format!("wildcards are not allowed (name each origin), got {entry:?}"),
            );
            continue;
        }
        match origin_of(entry) {
            Ok(origin) if !origins.contains(&origin) => origins.push(origin),
            Ok(_) => {}
            Err(message) => {
                vars.report("CORS_ALLOWED_ORIGINS", format!("{message}, got {entry:?}"))
            }
        }
    }
    origins
}

/// `entry` as the origin a browser sends (lower-case host, default port left out), if it
/// is one: an http(s) URL with nothing after the authority.
fn origin_of(entry: &str) -> Result<String, String> {
    check_http_url(entry)
        .map_err(|_| "expected an origin such as https://app.example.com".to_owned())?;
    let url = Url::parse(entry).map_err(|err| err.to_string())?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("an origin has no path, query or fragment".to_owned());
    }
    Ok(url.origin().ascii_serialization())
}

/// `TRUSTED_PROXIES`: comma-separated IPs or CIDRs; blank entries are skipped.
pub(super) fn trusted_proxies<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> Vec<IpNet> {
    let Some(value) = vars.get("TRUSTED_PROXIES") else {
        return Vec::new();
    };
    let mut proxies = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry
            .parse::<IpNet>()
            .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from));
        match parsed {
            // `10.0.0.1/8` is taken to mean the network `10.0.0.0/8`.
            Ok(net) => proxies.push(net.trunc()),
            Err(_) => vars.report(
                "TRUSTED_PROXIES",
                format!("expected an IP address or CIDR, got {entry:?}"),
            ),
        }
    }
    proxies
}
