//! `DATABASE_URL`, or a PostgreSQL URL built from the `DB_*` parts, and the pool settings.

use super::secret::CredentialUrl;
use super::vars::Vars;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::time::Duration;

/// The embedded default database: a SQLite file in the working directory, created on
/// first use.
pub(super) const DEFAULT_DATABASE_URL: &str = "sqlite://authd.db?mode=rwc";

/// The `sslmode` values libpq and sqlx understand.
pub(super) const SSL_MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// Characters escaped in the user, password and database name of a URL built from
/// `DB_*` parts: everything except RFC 3986 unreserved characters, so no `@`, `:`, `/`
/// or `%` in a password can change how the URL is split.
pub(super) const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Database connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `sqlite:` or `postgres://` URL: `DATABASE_URL`, else built from the `DB_*` parts
    /// when `DB_HOST` is set, else the embedded SQLite default.
    pub url: CredentialUrl,
    /// Upper bound of the pool (`DB_MAX_CONNECTIONS`, at least 1).
    pub max_connections: u32,
    /// Connections kept open when idle (`DB_MIN_CONNECTIONS`, at most `max_connections`).
    pub min_connections: u32,
    /// How long an unused connection stays in the pool (`DB_IDLE_TIMEOUT_SECS`).
    pub idle_timeout: Duration,
    /// How long to wait for a new connection (`DB_CONNECT_TIMEOUT_SECS`).
    pub connect_timeout: Duration,
    /// Whether `serve` applies pending migrations before listening (`AUTHD_AUTO_MIGRATE`).
    pub auto_migrate: bool,
}

/// `DATABASE_URL`, the `DB_*` parts, pool sizes, timeouts and `AUTHD_AUTO_MIGRATE`.
pub(super) fn database<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> DatabaseConfig {
    let url = database_url(vars);
    let max_connections = vars.positive("DB_MAX_CONNECTIONS", 20);
    let min_connections = vars.number_u32("DB_MIN_CONNECTIONS", 1, 0, u32::MAX);
    if min_connections > max_connections {
        vars.report(
            "DB_MIN_CONNECTIONS",
            format!(
                "must not exceed DB_MAX_CONNECTIONS ({max_connections}), got {min_connections}"
            ),
        );
    }
    DatabaseConfig {
        url,
        max_connections,
        min_connections,
        idle_timeout: vars.secs("DB_IDLE_TIMEOUT_SECS", 30),
        connect_timeout: vars.secs("DB_CONNECT_TIMEOUT_SECS", 10),
        auto_migrate: vars.flag("AUTHD_AUTO_MIGRATE", true),
    }
}

/// `DATABASE_URL` if set, else PostgreSQL from the `DB_*` parts if `DB_HOST` is set,
/// else the SQLite default. The parts are ignored when `DATABASE_URL` is set.
pub(super) fn database_url<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> CredentialUrl {
    if let Some(value) = vars.get("DATABASE_URL") {
        // The value is never quoted back: it may contain a password.
        return match CredentialUrl::parse(&value) {
            Ok((url, parsed)) => match parsed.scheme() {
                "sqlite" | "postgres" | "postgresql" => url,
                scheme => {
                    vars.report(
                        "DATABASE_URL",
                        format!("expected a sqlite: or postgres:// URL, got scheme {scheme:?}"),
                    );
                    CredentialUrl(DEFAULT_DATABASE_URL.to_owned())
                }
            },
            Err(err) => {
                vars.report("DATABASE_URL", format!("not a valid URL ({err})"));
                CredentialUrl(DEFAULT_DATABASE_URL.to_owned())
            }
        };
    }
    match vars.get("DB_HOST") {
        Some(host) => postgres_url_from_parts(vars, &host),
        None => CredentialUrl(DEFAULT_DATABASE_URL.to_owned()),
    }
}

/// `postgres://user:password@host:port/name?sslmode=…` from `DB_*`, with user, password
/// and database name percent-encoded. `DB_NAME` and `DB_USER` are required;
/// `DB_PASSWORD` and `DB_SSLMODE` are optional (the driver's default is `prefer`).
pub(super) fn postgres_url_from_parts<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
    host: &str,
) -> CredentialUrl {
    let placeholder = CredentialUrl(DEFAULT_DATABASE_URL.to_owned());
    let mut ok = true;
    let host_is_valid = !host
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '/' | '@' | '?' | '#'));
    if !host_is_valid {
        vars.report(
            "DB_HOST",
            format!("expected a host name or IP address, got {host:?}"),
        );
        ok = false;
    }
    let port = vars.number_u32("DB_PORT", 5432, 1, 65_535);
    let name = vars.get("DB_NAME");
    if name.is_none() {
        vars.report("DB_NAME", "required when DB_HOST is set");
        ok = false;
    }
    let user = vars.get("DB_USER");
    if user.is_none() {
        vars.report("DB_USER", "required when DB_HOST is set");
        ok = false;
    }
    let password = vars.raw("DB_PASSWORD");
    let sslmode = vars.get("DB_SSLMODE").map(|mode| mode.to_ascii_lowercase());
    if let Some(mode) = &sslmode
        && !SSL_MODES.contains(&mode.as_str())
    {
        vars.report(
            "DB_SSLMODE",
            format!("expected one of {}, got {mode:?}", SSL_MODES.join(", ")),
        );
        ok = false;
    }
    let (Some(name), Some(user), true) = (name, user, ok) else {
        return placeholder;
    };

    // A bare IPv6 address needs brackets to be told apart from the port.
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let mut url = format!("postgres://{}", utf8_percent_encode(&user, URL_COMPONENT));
    if let Some(password) = &password {
        url.push(':');
        url.extend(utf8_percent_encode(password, URL_COMPONENT));
    }
    url.push_str(&format!(
        "@{host}:{port}/{}",
        utf8_percent_encode(&name, URL_COMPONENT)
    ));
    if let Some(mode) = &sslmode {
        url.push_str("?sslmode=");
        url.push_str(mode);
    }
    match CredentialUrl::parse(&url) {
        Ok((url, _)) => url,
        Err(err) => {
            vars.report(
                "DB_HOST",
                format!("does not form a valid PostgreSQL URL ({err})"),
            );
            placeholder
        }
    }
}
