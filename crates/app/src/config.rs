//! Typed start-up configuration read from environment variables (SPEC section 3).
//! Parsing is pure — `Config::from_vars` takes a lookup function — and collects every
//! bad or missing value before failing; secrets never show in `Debug` output.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ipnet::IpNet;
use lettre::Address;
use lettre::message::Mailbox;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

/// The embedded default database: a SQLite file in the working directory, created on
/// first use.
const DEFAULT_DATABASE_URL: &str = "sqlite://authd.db?mode=rwc";

/// Longest duration any `*_SECS` setting accepts: ten years. Anything larger is a typo
/// and would overflow timestamp arithmetic (`now + ttl`) further down.
const MAX_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// Longest audit retention accepted, in days (a century).
const MAX_RETENTION_DAYS: u64 = 36_500;

/// Upper bound for `ARGON2_MEMORY_KIB` (4 GiB per hash): more is a typo that would let
/// a handful of logins exhaust the host's memory.
const MAX_ARGON2_MEMORY_KIB: u64 = 4 * 1024 * 1024;

/// OWASP's minimum argon2id cost (19 MiB, two passes): less needs `ARGON2_ALLOW_WEAK`.
const OWASP_MIN_MEMORY_KIB: u64 = 19_456;
const OWASP_MIN_ITERATIONS: u64 = 2;

/// The message for an argon2 cost below OWASP's `minimum`.
fn weak(minimum: u64, got: u64) -> String {
    format!("must be at least {minimum} (OWASP's minimum) unless ARGON2_ALLOW_WEAK=true, got {got}")
}

/// Upper bound for `ARGON2_ITERATIONS`: beyond this a single login takes seconds.
const MAX_ARGON2_ITERATIONS: u64 = 100;

/// Upper bound for `HTTP_HEADER_READ_TIMEOUT_SECS`: longer only helps slow-header attacks.
const MAX_HEADER_READ_TIMEOUT_SECS: u64 = 600;

/// Default `HTTP_MAX_CONNECTIONS`: far above what a proxy in front of authd opens; the
/// open-files limit (`ulimit -n`) must leave room above it.
const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;

/// Upper bound for `HTTP_MAX_CONNECTIONS`.
const MAX_CONNECTIONS: u64 = 1_000_000;

/// Upper bound for `ARGON2_MAX_QUEUE`.
const MAX_ARGON2_QUEUE: u64 = 1_000_000;

/// Upper bound for `ARGON2_PARALLELISM` (lanes).
const MAX_ARGON2_PARALLELISM: u64 = 64;

/// The `sslmode` values libpq and sqlx understand.
const SSL_MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// Scopes requested from an OAuth provider when `OAUTH_<NAME>_SCOPES` is unset.
const DEFAULT_OAUTH_SCOPES: &str = "openid email profile";

/// Characters escaped in the user, password and database name of a URL built from
/// `DB_*` parts: everything except RFC 3986 unreserved characters, so no `@`, `:`, `/`
/// or `%` in a password can change how the URL is split.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Standard base64 alphabet, padding optional (`openssl rand -base64 32` and hand-trimmed
/// values both decode).
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// URL-safe base64 alphabet, padding optional.
const BASE64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Everything authd reads from its environment at start-up, parsed and validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the data lives and how the connection pool behaves.
    pub database: DatabaseConfig,
    /// The listener and how authd is reached from outside.
    pub http: HttpConfig,
    /// Session lifetimes.
    pub session: SessionConfig,
    /// Lifetimes of the single-use email-verification and password-reset tokens.
    pub tokens: OneTimeTokenConfig,
    /// Rules for accounts: password length and whether login needs a verified email.
    pub accounts: AccountPolicyConfig,
    /// When failed logins lock an account, and for how long.
    pub lockout: LockoutConfig,
    /// Cost parameters of the argon2id password hash.
    pub argon2: Argon2Config,
    /// Request rate limits and the optional Redis that shares them between instances.
    pub rate_limit: RateLimitConfig,
    /// How outgoing mail is delivered.
    pub mail: MailTransport,
    /// The sender of outgoing mail (`MAIL_FROM`, default `authd <no-reply@HOST>` with the
    /// host of `AUTHD_PUBLIC_URL`).
    pub mail_from: Mailbox,
    /// How long audit entries are kept.
    pub audit: AuditConfig,
    /// Signing key and lifetime of the JWTs handed to other services.
    pub jwt: JwtConfig,
    /// OAuth/OIDC login providers and the key that encrypts their stored tokens.
    pub oauth: OAuthConfig,
}

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
    /// Time a client has to send a request's headers, counted from when the connection
    /// is ready for one, so it also closes a keep-alive connection left idle that long
    /// (`HTTP_HEADER_READ_TIMEOUT_SECS`).
    pub header_read_timeout: Duration,
    /// Connections served at once (`HTTP_MAX_CONNECTIONS`); further ones wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
}

/// Session lifetimes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Absolute lifetime of a session from login (`SESSION_TTL_SECS`).
    pub ttl: Duration,
    /// A session unused for this long expires (`SESSION_IDLE_TIMEOUT_SECS`).
    pub idle_timeout: Duration,
}

/// Lifetimes of single-use tokens sent by mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeTokenConfig {
    /// Lifetime of an email-verification token (`VERIFY_TOKEN_TTL_SECS`).
    pub email_verification_ttl: Duration,
    /// Lifetime of a password-reset token (`RESET_TOKEN_TTL_SECS`).
    pub password_reset_ttl: Duration,
}

/// Account rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPolicyConfig {
    /// Whether a correct password is refused with 403 `email_not_verified` until the
    /// email is verified (`REQUIRE_VERIFIED_EMAIL`).
    pub require_verified_email: bool,
    /// Shortest password accepted, in characters (`PASSWORD_MIN_LENGTH`, 8 to 128).
    pub password_min_length: usize,
}

/// Account lockout after repeated failed logins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutConfig {
    /// Consecutive failed logins from one client source that lock that source out of the
    /// account (`LOCKOUT_THRESHOLD`).
    pub threshold: u32,
    /// Failed logins from all sources together that lock the account for every source
    /// (`LOCKOUT_GLOBAL_THRESHOLD`, at least `threshold`; default 10 × `threshold`).
    pub global_threshold: u32,
    /// How long the lock lasts (`LOCKOUT_DURATION_SECS`).
    pub duration: Duration,
}

/// argon2id cost parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argon2Config {
    /// Memory per hash in KiB (`ARGON2_MEMORY_KIB`, at least 8 × `parallelism`).
    pub memory_kib: u32,
    /// Passes over memory (`ARGON2_ITERATIONS`).
    pub iterations: u32,
    /// Lanes (`ARGON2_PARALLELISM`).
    pub parallelism: u32,
    /// Calls that may wait for a hashing thread (`ARGON2_MAX_QUEUE`); more answer 503
    /// at once. `None`: 64 per hashing thread.
    pub max_queue: Option<usize>,
}

/// Request rate limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Redis that shares limits between instances (`REDIS_URL`); `None`: in-process limits.
    pub redis_url: Option<CredentialUrl>,
    /// Login attempts per minute, per IP and separately per account
    /// (`RATE_LIMIT_LOGIN_PER_MIN`).
    pub login_per_min: u32,
    /// Registrations per minute per IP (`RATE_LIMIT_REGISTER_PER_MIN`).
    pub register_per_min: u32,
    /// Password-reset and verification requests per hour, per email and per IP
    /// (`RATE_LIMIT_RESET_PER_HOUR`).
    pub reset_per_hour: u32,
}

/// How outgoing mail is delivered (`MAIL_TRANSPORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// `log`: messages are written to the log (the default; for development).
    Log,
    /// `file:<dir>`: one JSON file per message in this directory.
    File(PathBuf),
    /// `smtp://…` or `smtps://…`: the URL as given, credentials included.
    Smtp(CredentialUrl),
}

/// Audit log retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Entries older than this are removed by `maintenance cleanup`
    /// (`AUDIT_RETENTION_DAYS`; always a whole number of days).
    pub retention: Duration,
}

/// JWTs for other services (SPEC 4.4).
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The signing key; `None`: `POST /v1/auth/token` answers 501 `not_configured`.
    pub key: Option<JwtKey>,
    /// Lifetime of an issued token (`JWT_TTL_SECS`).
    pub ttl: Duration,
}

/// Where the JWT signing key comes from; at most one of the two variables may be set.
#[derive(Debug, Clone)]
pub enum JwtKey {
    /// `JWT_SECRET`: HS256 with this shared secret (its UTF-8 bytes, at least 32).
    Hs256(Secret<Vec<u8>>),
    /// `JWT_PRIVATE_KEY_FILE`: EdDSA with the Ed25519 PEM key at this path, also published
    /// as JWKS. The file is read by the composition root, not here, so parsing stays pure.
    Ed25519PemFile(PathBuf),
}

/// OAuth login.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// The providers named in `OAUTH_PROVIDERS`, in the order listed.
    pub providers: Vec<OAuthProviderConfig>,
    /// AES-256-GCM key for provider tokens (`OAUTH_TOKEN_KEY`); `None`: tokens are not
    /// stored.
    pub token_key: Option<Secret<[u8; 32]>>,
}

impl OAuthConfig {
    /// The provider called `name`, if configured.
    pub fn provider(&self, name: &str) -> Option<&OAuthProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }
}

/// One OIDC provider, read from `OAUTH_<NAME>_*` where `<NAME>` is the provider name
/// upper-cased with `-` replaced by `_`.
#[derive(Debug, Clone)]
pub struct OAuthProviderConfig {
    /// Name used in URLs (`/v1/oauth/{name}/…`): lowercase `[a-z0-9_-]`.
    pub name: String,
    /// Issuer URL exactly as given, the base of OIDC discovery (`OAUTH_<NAME>_ISSUER`).
    pub issuer: String,
    /// Client id registered with the provider (`OAUTH_<NAME>_CLIENT_ID`).
    pub client_id: String,
    /// Client secret registered with the provider (`OAUTH_<NAME>_CLIENT_SECRET`).
    pub client_secret: Secret<String>,
    /// Scopes requested (`OAUTH_<NAME>_SCOPES`, space- or comma-separated; always
    /// includes `openid`).
    pub scopes: Vec<String>,
}

/// A value that must not be logged: `Debug` prints `Secret(***)`; read it with
/// [`Secret::expose`].
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A URL that may carry a password (database, Redis, SMTP). `Debug` and `Display` show
/// it with the password, and any `password`-like query parameter, replaced by `***`;
/// [`CredentialUrl::expose`] gives the real one to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialUrl(String);

impl CredentialUrl {
    /// Checks that `raw` parses as a URL and keeps it verbatim.
    pub(crate) fn parse(raw: &str) -> Result<(Self, Url), url::ParseError> {
        let url = Url::parse(raw)?;
        Ok((Self(raw.to_owned()), url))
    }

    /// The URL with its credentials, for handing to a driver.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with secrets replaced by `***`, safe to log.
    pub fn redacted(&self) -> String {
        let Ok(mut url) = Url::parse(&self.0) else {
            return "***".to_owned();
        };
        if url.password().is_some() && url.set_password(Some("***")).is_err() {
            return "***".to_owned();
        }
        if url.query_pairs().any(|(key, _)| is_secret_param(&key)) {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(key, value)| {
                    let value = if is_secret_param(&key) {
                        "***".to_owned()
                    } else {
                        value.into_owned()
                    };
                    (key.into_owned(), value)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }
}

/// Whether a query parameter of a connection URL carries a secret (sqlx accepts
/// `?password=`, redis-rs and others similar spellings).
fn is_secret_param(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().as_str(),
        "password" | "passwd" | "pass" | "pwd" | "sslpassword" | "secret" | "token"
    )
}

impl fmt::Debug for CredentialUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CredentialUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for CredentialUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Every bad or missing variable found, in the order they were read. `Display` prints
/// one `VARIABLE: message` line per problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems; never empty.
    problems: Vec<ConfigProblem>,
}

impl ConfigError {
    /// The individual problems.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// One bad or missing variable. Messages quote the offending value unless the variable
/// may hold a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The environment variable at fault.
    pub variable: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl Config {
    /// Reads the process environment (`main` loads `.env` into it first).
    ///
    /// # Errors
    /// A [`ConfigError`] listing every bad or missing variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        // Non-UTF-8 values become lossy strings and then fail validation where the
        // variable has a format, instead of silently counting as unset.
        Self::from_vars(|name| {
            std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
        })
    }

    /// Builds the configuration from `lookup`, which answers a variable name with its
    /// value. Empty or whitespace-only values count as unset, so a `.env` line like
    /// `JWT_SECRET=` means "no secret".
    ///
    /// # Errors
    /// A [`ConfigError`] listing every bad or missing variable, not just the first.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut vars = Vars {
            lookup,
            problems: Vec::new(),
        };
        let database = database(&mut vars);
        let http = http(&mut vars);
        let public_url = http.public_url.clone();
        // Fields are evaluated in order, so problems are listed in this order too.
        let config = Config {
            database,
            http,
            session: SessionConfig {
                ttl: vars.secs("SESSION_TTL_SECS", 43_200),
                idle_timeout: vars.secs("SESSION_IDLE_TIMEOUT_SECS", 1_800),
            },
            tokens: OneTimeTokenConfig {
                email_verification_ttl: vars.secs("VERIFY_TOKEN_TTL_SECS", 86_400),
                password_reset_ttl: vars.secs("RESET_TOKEN_TTL_SECS", 1_800),
            },
            accounts: AccountPolicyConfig {
                require_verified_email: vars.flag("REQUIRE_VERIFIED_EMAIL", false),
                // NIST SP 800-63B floor of 8; SPEC caps passwords at 128 characters.
                password_min_length: vars.number("PASSWORD_MIN_LENGTH", 12, 8, 128) as usize,
            },
            lockout: lockout(&mut vars),
            argon2: argon2(&mut vars),
            rate_limit: RateLimitConfig {
                redis_url: redis_url(&mut vars),
                login_per_min: vars.positive("RATE_LIMIT_LOGIN_PER_MIN", 10),
                register_per_min: vars.positive("RATE_LIMIT_REGISTER_PER_MIN", 10),
                reset_per_hour: vars.positive("RATE_LIMIT_RESET_PER_HOUR", 5),
            },
            mail: mail_transport(&mut vars),
            mail_from: mail_from(&mut vars, &public_url),
            audit: AuditConfig {
                retention: Duration::from_secs(
                    vars.number("AUDIT_RETENTION_DAYS", 90, 1, MAX_RETENTION_DAYS) * 86_400,
                ),
            },
            jwt: JwtConfig {
                key: jwt_key(&mut vars),
                ttl: vars.secs("JWT_TTL_SECS", 300),
            },
            oauth: OAuthConfig {
                providers: oauth_providers(&mut vars),
                token_key: oauth_token_key(&mut vars),
            },
        };
        if vars.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError {
                problems: vars.problems,
            })
        }
    }
}

/// `LOCKOUT_*`: the global threshold defaults to ten sources' worth of failures and may
/// not be below the per-source one (the per-source lock would then never be reached).
fn lockout<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> LockoutConfig {
    let threshold = vars.positive("LOCKOUT_THRESHOLD", 5);
    let default_global = threshold.saturating_mul(10);
    let global_threshold = vars.positive("LOCKOUT_GLOBAL_THRESHOLD", default_global);
    if global_threshold < threshold {
        vars.report(
            "LOCKOUT_GLOBAL_THRESHOLD",
            format!("must be at least LOCKOUT_THRESHOLD ({threshold}), got {global_threshold}"),
        );
    }
    LockoutConfig {
        threshold,
        global_threshold,
        duration: vars.secs("LOCKOUT_DURATION_SECS", 900),
    }
}

/// The variable source plus the problems found so far. Each reader returns the default
/// after reporting a problem, so parsing goes on and every problem is collected.
struct Vars<F> {
    /// Answers a variable name with its value.
    lookup: F,
    /// Problems found so far.
    problems: Vec<ConfigProblem>,
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The value as given, or `None` when unset or blank. For secrets, which are not
    /// trimmed.
    fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    /// The trimmed value, or `None` when unset or blank.
    fn get(&self, name: &str) -> Option<String> {
        self.raw(name).map(|value| value.trim().to_owned())
    }

    /// Records a problem with `name`.
    fn report(&mut self, name: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            variable: name.to_owned(),
            message: message.into(),
        });
    }

    /// An integer in `min..=max`, or `default` when unset.
    fn number(&mut self, name: &str, default: u64, min: u64, max: u64) -> u64 {
        let Some(value) = self.get(name) else {
            return default;
        };
        let kind = if min >= 1 {
            "a positive integer"
        } else {
            "a non-negative integer"
        };
        match value.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            Ok(0) if min == 1 => {
                self.report(name, format!("expected {kind}, got {value:?}"));
                default
            }
            Ok(n) => {
                self.report(name, format!("must be between {min} and {max}, got {n}"));
                default
            }
            Err(_) => {
                self.report(name, format!("expected {kind}, got {value:?}"));
                default
            }
        }
    }

    /// A `u32` in `min..=max`, or `default` when unset.
    fn number_u32(&mut self, name: &str, default: u32, min: u32, max: u32) -> u32 {
        let n = self.number(name, default.into(), min.into(), max.into());
        u32::try_from(n).unwrap_or(default)
    }

    /// A `u32` of at least 1, or `default` when unset.
    fn positive(&mut self, name: &str, default: u32) -> u32 {
        self.number_u32(name, default, 1, u32::MAX)
    }

    /// A positive number of seconds (at most [`MAX_SECS`]), or `default` when unset.
    fn secs(&mut self, name: &str, default: u64) -> Duration {
        Duration::from_secs(self.number(name, default, 1, MAX_SECS))
    }

    /// A boolean (`true`/`false`/`1`/`0`/`yes`/`no`, any case), or `default` when unset.
    fn flag(&mut self, name: &str, default: bool) -> bool {
        let Some(value) = self.get(name) else {
            return default;
        };
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => {
                self.report(
                    name,
                    format!("expected true/false/1/0/yes/no, got {value:?}"),
                );
                default
            }
        }
    }
}

/// `DATABASE_URL`, the `DB_*` parts, pool sizes, timeouts and `AUTHD_AUTO_MIGRATE`.
fn database<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> DatabaseConfig {
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
fn database_url<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> CredentialUrl {
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
fn postgres_url_from_parts<F: Fn(&str) -> Option<String>>(
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

/// `AUTHD_BIND`, `AUTHD_PUBLIC_URL` and `TRUSTED_PROXIES`.
fn http<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> HttpConfig {
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
        Some(value) => match check_http_url(&value) {
            Ok(()) if value.contains('?') || value.contains('#') => {
                vars.report(
                    "AUTHD_PUBLIC_URL",
                    format!("must not have a query or fragment, got {value:?}"),
                );
                String::new()
            }
            Ok(()) => value.trim_end_matches('/').to_owned(),
            Err(message) => {
                vars.report("AUTHD_PUBLIC_URL", format!("{message}, got {value:?}"));
                String::new()
            }
        },
    };
    HttpConfig {
        bind,
        public_url,
        trusted_proxies: trusted_proxies(vars),
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

/// Checks that `value` is an absolute http(s) URL with a host and no credentials.
fn check_http_url(value: &str) -> Result<(), String> {
    let url = Url::parse(value).map_err(|err| format!("expected an http(s) URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err("expected an http(s) URL".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".to_owned());
    }
    Ok(())
}

/// `TRUSTED_PROXIES`: comma-separated IPs or CIDRs; blank entries are skipped.
fn trusted_proxies<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> Vec<IpNet> {
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

/// `ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS` and `ARGON2_PARALLELISM`, within argon2's
/// own limits (memory at least 8 KiB per lane) and below values that can only be typos.
/// Below OWASP's minimum only with `ARGON2_ALLOW_WEAK=true` (tests, benchmarks): a
/// weaker cost is a cheaper offline attack on every hash written with it.
fn argon2<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> Argon2Config {
    let memory_kib = vars.number("ARGON2_MEMORY_KIB", 19_456, 8, MAX_ARGON2_MEMORY_KIB);
    let iterations = vars.number("ARGON2_ITERATIONS", 2, 1, MAX_ARGON2_ITERATIONS);
    let parallelism = vars.number("ARGON2_PARALLELISM", 1, 1, MAX_ARGON2_PARALLELISM);
    let allow_weak = vars.flag("ARGON2_ALLOW_WEAK", false);
    if memory_kib < 8 * parallelism {
        vars.report(
            "ARGON2_MEMORY_KIB",
            format!(
                "must be at least 8 × ARGON2_PARALLELISM ({}), got {memory_kib}",
                8 * parallelism
            ),
        );
    } else if memory_kib < OWASP_MIN_MEMORY_KIB && !allow_weak {
        vars.report("ARGON2_MEMORY_KIB", weak(OWASP_MIN_MEMORY_KIB, memory_kib));
    }
    if iterations < OWASP_MIN_ITERATIONS && !allow_weak {
        vars.report("ARGON2_ITERATIONS", weak(OWASP_MIN_ITERATIONS, iterations));
    }
    // Every bound above is below u32::MAX, so the conversions cannot fail.
    Argon2Config {
        memory_kib: u32::try_from(memory_kib).unwrap_or(19_456),
        iterations: u32::try_from(iterations).unwrap_or(2),
        parallelism: u32::try_from(parallelism).unwrap_or(1),
        max_queue: vars
            .get("ARGON2_MAX_QUEUE")
            .map(|_| vars.number("ARGON2_MAX_QUEUE", 1, 1, MAX_ARGON2_QUEUE))
            .and_then(|n| usize::try_from(n).ok()),
    }
}

/// `REDIS_URL`: a `redis://` or `rediss://` URL, or unset.
fn redis_url<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> Option<CredentialUrl> {
    let value = vars.get("REDIS_URL")?;
    // The value is never quoted back: it may contain a password.
    if !(value.starts_with("redis://") || value.starts_with("rediss://")) {
        vars.report("REDIS_URL", "expected a redis:// or rediss:// URL");
        return None;
    }
    match CredentialUrl::parse(&value) {
        Ok((url, parsed)) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Some(url),
        Ok(_) => {
            vars.report("REDIS_URL", "expected a host after redis:// or rediss://");
            None
        }
        Err(err) => {
            vars.report("REDIS_URL", format!("not a valid URL ({err})"));
            None
        }
    }
}

/// `MAIL_TRANSPORT`: `log`, `file:<dir>`, or an `smtp://`/`smtps://` URL.
fn mail_transport<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> MailTransport {
    let Some(value) = vars.get("MAIL_TRANSPORT") else {
        return MailTransport::Log;
    };
    if value.eq_ignore_ascii_case("log") {
        return MailTransport::Log;
    }
    if let Some(dir) = value.strip_prefix("file:") {
        let dir = dir.trim();
        if dir.is_empty() {
            vars.report("MAIL_TRANSPORT", "expected a directory after file:");
            return MailTransport::Log;
        }
        return MailTransport::File(PathBuf::from(dir));
    }
    // From here on the value is never quoted back: an SMTP URL may contain a password.
    if value.starts_with("smtp://") || value.starts_with("smtps://") {
        return match CredentialUrl::parse(&value) {
            Ok((_, parsed))
                if parsed.scheme() == "smtp"
                    && (!parsed.username().is_empty() || parsed.password().is_some())
                    // lettre reads the first `tls` parameter.
                    && parsed
                        .query_pairs()
                        .find(|(key, _)| key == "tls")
                        .is_none_or(|(_, value)| value != "required") =>
            {
                // lettre would log in, and send every reset link, in plain text.
                vars.report(
                    "MAIL_TRANSPORT",
                    "credentials need an encrypted connection: use smtps:// or add ?tls=required",
                );
                MailTransport::Log
            }
            Ok((url, parsed)) if parsed.host_str().is_some_and(|h| !h.is_empty()) => {
                MailTransport::Smtp(url)
            }
            Ok(_) => {
                vars.report(
                    "MAIL_TRANSPORT",
                    "expected a host after smtp:// or smtps://",
                );
                MailTransport::Log
            }
            Err(err) => {
                vars.report("MAIL_TRANSPORT", format!("not a valid SMTP URL ({err})"));
                MailTransport::Log
            }
        };
    }
    vars.report(
        "MAIL_TRANSPORT",
        "expected log, file:<dir>, smtp://… or smtps://…",
    );
    MailTransport::Log
}

/// `MAIL_FROM`: a mailbox (`Name <user@host>` or a bare address); unset: `authd
/// <no-reply@HOST>` with the host of `public_url`.
fn mail_from<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>, public_url: &str) -> Mailbox {
    // Returned only alongside a reported problem, so it is never used.
    let placeholder = || Mailbox::new(None, Address::new_dangerous("no-reply", "localhost"));
    if let Some(value) = vars.get("MAIL_FROM") {
        // lettre's own error ("Invalid input") would add nothing to this message.
        return value.parse().unwrap_or_else(|_| {
            vars.report(
                "MAIL_FROM",
                format!(
                    "expected an address such as `authd <no-reply@example.com>`, got {value:?}"
                ),
            );
            placeholder()
        });
    }
    // A bad AUTHD_PUBLIC_URL is reported by name already and leaves `public_url` empty.
    let Some(host) = Url::parse(public_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
    else {
        return placeholder();
    };
    match Address::new("no-reply", &host) {
        Ok(address) => Mailbox::new(Some("authd".to_owned()), address),
        Err(_) => {
            vars.report(
                "MAIL_FROM",
                format!("unset, and no-reply@{host} (from AUTHD_PUBLIC_URL) is not an email address: set it"),
            );
            placeholder()
        }
    }
}

/// `JWT_SECRET` or `JWT_PRIVATE_KEY_FILE`, at most one of them.
fn jwt_key<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> Option<JwtKey> {
    let secret = vars.raw("JWT_SECRET");
    let key_file = vars.get("JWT_PRIVATE_KEY_FILE");
    match (secret, key_file) {
        (Some(_), Some(_)) => {
            vars.report(
                "JWT_SECRET",
                "set together with JWT_PRIVATE_KEY_FILE; set only one (HS256 or EdDSA)",
            );
            None
        }
        // RFC 7518 section 3.2: an HS256 key must be at least as long as the hash, 256 bits.
        (Some(secret), None) if secret.len() < 32 => {
            vars.report(
                "JWT_SECRET",
                format!("must be at least 32 bytes, got {}", secret.len()),
            );
            None
        }
        (Some(secret), None) => Some(JwtKey::Hs256(Secret::new(secret.into_bytes()))),
        (None, Some(path)) => Some(JwtKey::Ed25519PemFile(PathBuf::from(path))),
        (None, None) => None,
    }
}

/// `OAUTH_PROVIDERS` and each provider's `OAUTH_<NAME>_*` variables.
fn oauth_providers<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> Vec<OAuthProviderConfig> {
    let Some(list) = vars.get("OAUTH_PROVIDERS") else {
        return Vec::new();
    };
    let mut providers = Vec::new();
    let mut prefixes = HashSet::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let name_is_valid = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_is_valid {
            vars.report(
                "OAUTH_PROVIDERS",
                format!("provider names use only a-z, 0-9, '-' and '_', got {name:?}"),
            );
            continue;
        }
        let prefix = format!("OAUTH_{}_", name.to_ascii_uppercase().replace('-', "_"));
        // `my-idp` and `my_idp` would read the same variables.
        if !prefixes.insert(prefix.clone()) {
            vars.report(
                "OAUTH_PROVIDERS",
                format!("provider {name:?} is listed twice (or clashes with another name once '-' becomes '_')"),
            );
            continue;
        }
        if let Some(provider) = oauth_provider(vars, name, &prefix) {
            providers.push(provider);
        }
    }
    providers
}

/// One provider's `<prefix>ISSUER`, `CLIENT_ID`, `CLIENT_SECRET` and `SCOPES`.
fn oauth_provider<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
    name: &str,
    prefix: &str,
) -> Option<OAuthProviderConfig> {
    let issuer_var = format!("{prefix}ISSUER");
    let client_id_var = format!("{prefix}CLIENT_ID");
    let client_secret_var = format!("{prefix}CLIENT_SECRET");
    let scopes_var = format!("{prefix}SCOPES");
    let required = format!("required for OAuth provider {name:?}");

    let issuer = match vars.get(&issuer_var) {
        None => {
            vars.report(&issuer_var, required.clone());
            None
        }
        Some(value) => match check_http_url(&value) {
            Ok(()) => Some(value),
            Err(message) => {
                vars.report(&issuer_var, format!("{message}, got {value:?}"));
                None
            }
        },
    };
    let client_id = vars.get(&client_id_var);
    if client_id.is_none() {
        vars.report(&client_id_var, required.clone());
    }
    let client_secret = vars.raw(&client_secret_var);
    if client_secret.is_none() {
        vars.report(&client_secret_var, required);
    }
    let scopes: Vec<String> = vars
        .get(&scopes_var)
        .unwrap_or_else(|| DEFAULT_OAUTH_SCOPES.to_owned())
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // The login flow relies on the ID token, which only `openid` brings.
    if !scopes.iter().any(|s| s == "openid") {
        vars.report(&scopes_var, "must include openid");
    }
    Some(OAuthProviderConfig {
        name: name.to_owned(),
        issuer: issuer?,
        client_id: client_id?,
        client_secret: Secret::new(client_secret?),
        scopes,
    })
}

/// `OAUTH_TOKEN_KEY`: base64 (standard or URL-safe, padding optional) of exactly 32 bytes.
fn oauth_token_key<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> Option<Secret<[u8; 32]>> {
    let value = vars.get("OAUTH_TOKEN_KEY")?;
    // The value is never quoted back: it is the key.
    let decoded = BASE64_STANDARD
        .decode(&value)
        .or_else(|_| BASE64_URL_SAFE.decode(&value));
    let Ok(bytes) = decoded else {
        vars.report(
            "OAUTH_TOKEN_KEY",
            "expected base64 of 32 bytes (e.g. `openssl rand -base64 32`), got invalid base64",
        );
        return None;
    };
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(key) => Some(Secret::new(key)),
        Err(_) => {
            vars.report(
                "OAUTH_TOKEN_KEY",
                format!(
                    "expected base64 of exactly 32 bytes, got {} bytes",
                    bytes.len()
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_vars(|name| vars.get(name).cloned())
    }

    fn problem_vars(err: &ConfigError) -> Vec<&str> {
        err.problems().iter().map(|p| p.variable.as_str()).collect()
    }

    fn pg_parts() -> Vec<(&'static str, &'static str)> {
        vec![
            ("DB_HOST", "db.internal"),
            ("DB_PORT", "6543"),
            ("DB_NAME", "authd"),
            ("DB_USER", "auth user"),
            ("DB_PASSWORD", "p@ss:w/rd%"),
            ("DB_SSLMODE", "verify-full"),
        ]
    }

    #[test]
    fn nothing_set_gives_every_default() {
        let config = load(&[]).unwrap();

        assert_eq!(
            config.database,
            DatabaseConfig {
                url: CredentialUrl("sqlite://authd.db?mode=rwc".to_owned()),
                max_connections: 20,
                min_connections: 1,
                idle_timeout: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(10),
                auto_migrate: true,
            }
        );
        assert_eq!(
            config.http,
            HttpConfig {
                bind: "127.0.0.1:8080".parse().unwrap(),
                public_url: "http://127.0.0.1:8080".to_owned(),
                trusted_proxies: vec![],
                header_read_timeout: Duration::from_secs(10),
                max_connections: 10_000,
            }
        );
        assert_eq!(
            config.session,
            SessionConfig {
                ttl: Duration::from_secs(43_200),
                idle_timeout: Duration::from_secs(1_800),
            }
        );
        assert_eq!(
            config.tokens,
            OneTimeTokenConfig {
                email_verification_ttl: Duration::from_secs(86_400),
                password_reset_ttl: Duration::from_secs(1_800),
            }
        );
        assert_eq!(
            config.accounts,
            AccountPolicyConfig {
                require_verified_email: false,
                password_min_length: 12,
            }
        );
        assert_eq!(
            config.lockout,
            LockoutConfig {
                threshold: 5,
                global_threshold: 50,
                duration: Duration::from_secs(900),
            }
        );
        assert_eq!(
            config.argon2,
            Argon2Config {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1,
                max_queue: None,
            }
        );
        assert_eq!(
            config.rate_limit,
            RateLimitConfig {
                redis_url: None,
                login_per_min: 10,
                register_per_min: 10,
                reset_per_hour: 5,
            }
        );
        assert_eq!(config.mail, MailTransport::Log);
        assert_eq!(config.mail_from.to_string(), "authd <no-reply@127.0.0.1>");
        assert_eq!(config.audit.retention, Duration::from_secs(90 * 86_400));
        assert!(config.jwt.key.is_none());
        assert_eq!(config.jwt.ttl, Duration::from_secs(300));
        assert!(config.oauth.providers.is_empty());
        assert!(config.oauth.token_key.is_none());
    }

    #[test]
    fn env_example_gives_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.env.example");
        let vars: HashMap<String, String> = dotenvy::from_path_iter(path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let config = Config::from_vars(|name| vars.get(name).cloned()).unwrap();

        assert_eq!(format!("{config:?}"), format!("{:?}", load(&[]).unwrap()));
        assert!(vars.contains_key("OAUTH_TOKEN_KEY"));
    }

    #[test]
    fn blank_values_count_as_unset() {
        let config = load(&[
            ("DATABASE_URL", ""),
            ("JWT_SECRET", ""),
            ("SESSION_TTL_SECS", "  "),
            ("OAUTH_PROVIDERS", ""),
        ])
        .unwrap();

        assert_eq!(config.database.url.expose(), DEFAULT_DATABASE_URL);
        assert!(config.jwt.key.is_none());
        assert_eq!(config.session.ttl, Duration::from_secs(43_200));
    }

    #[test]
    fn every_variable_is_read() {
        let config = load(&[
            ("DB_MAX_CONNECTIONS", "5"),
            ("DB_MIN_CONNECTIONS", "0"),
            ("DB_IDLE_TIMEOUT_SECS", "60"),
            ("DB_CONNECT_TIMEOUT_SECS", "3"),
            ("AUTHD_BIND", "[::]:0"),
            ("AUTHD_AUTO_MIGRATE", "No"),
            ("SESSION_TTL_SECS", "3600"),
            ("SESSION_IDLE_TIMEOUT_SECS", "600"),
            ("AUTHD_PUBLIC_URL", "https://auth.example.com/base/"),
            ("VERIFY_TOKEN_TTL_SECS", "7200"),
            ("RESET_TOKEN_TTL_SECS", "900"),
            ("REQUIRE_VERIFIED_EMAIL", "YES"),
            ("LOCKOUT_THRESHOLD", "3"),
            ("LOCKOUT_GLOBAL_THRESHOLD", "7"),
            ("LOCKOUT_DURATION_SECS", "60"),
            ("PASSWORD_MIN_LENGTH", "8"),
            ("ARGON2_MEMORY_KIB", "65536"),
            ("ARGON2_ITERATIONS", "3"),
            ("ARGON2_PARALLELISM", "4"),
            ("ARGON2_MAX_QUEUE", "8"),
            ("REDIS_URL", "redis://cache:6379/0"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "20"),
            ("RATE_LIMIT_REGISTER_PER_MIN", "2"),
            ("RATE_LIMIT_RESET_PER_HOUR", "1"),
            ("MAIL_TRANSPORT", "file:/var/spool/authd"),
            ("MAIL_FROM", "Example Sign-in <accounts@example.com>"),
            ("TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16,::1,fd00::/8"),
            ("HTTP_HEADER_READ_TIMEOUT_SECS", "5"),
            ("HTTP_MAX_CONNECTIONS", "100"),
            ("AUDIT_RETENTION_DAYS", "1"),
            ("JWT_PRIVATE_KEY_FILE", "/etc/authd/jwt.pem"),
            ("JWT_TTL_SECS", "60"),
        ])
        .unwrap();

        assert_eq!(config.database.max_connections, 5);
        assert_eq!(config.database.min_connections, 0);
        assert_eq!(config.database.idle_timeout, Duration::from_secs(60));
        assert_eq!(config.database.connect_timeout, Duration::from_secs(3));
        assert!(!config.database.auto_migrate);
        assert_eq!(config.http.bind, "[::]:0".parse().unwrap());
        assert_eq!(config.http.public_url, "https://auth.example.com/base");
        assert_eq!(config.http.header_read_timeout, Duration::from_secs(5));
        assert_eq!(config.http.max_connections, 100);
        assert_eq!(
            config.http.trusted_proxies,
            vec![
                "10.0.0.1/32".parse::<IpNet>().unwrap(),
                "192.168.0.0/16".parse().unwrap(),
                "::1/128".parse().unwrap(),
                "fd00::/8".parse().unwrap(),
            ]
        );
        assert_eq!(config.session.ttl, Duration::from_secs(3600));
        assert_eq!(config.session.idle_timeout, Duration::from_secs(600));
        assert_eq!(
            config.tokens.email_verification_ttl,
            Duration::from_secs(7200)
        );
        assert_eq!(config.tokens.password_reset_ttl, Duration::from_secs(900));
        assert!(config.accounts.require_verified_email);
        assert_eq!(config.accounts.password_min_length, 8);
        assert_eq!(config.lockout.threshold, 3);
        assert_eq!(config.lockout.global_threshold, 7);
        assert_eq!(config.lockout.duration, Duration::from_secs(60));
        assert_eq!(
            config.argon2,
            Argon2Config {
                memory_kib: 65_536,
                iterations: 3,
                parallelism: 4,
                max_queue: Some(8),
            }
        );
        assert_eq!(
            config
                .rate_limit
                .redis_url
                .as_ref()
                .map(CredentialUrl::expose),
            Some("redis://cache:6379/0")
        );
        assert_eq!(config.rate_limit.login_per_min, 20);
        assert_eq!(config.rate_limit.register_per_min, 2);
        assert_eq!(config.rate_limit.reset_per_hour, 1);
        assert_eq!(
            config.mail,
            MailTransport::File(PathBuf::from("/var/spool/authd"))
        );
        assert_eq!(
            config.mail_from.to_string(),
            "Example Sign-in <accounts@example.com>"
        );
        assert_eq!(config.audit.retention, Duration::from_secs(86_400));
        assert!(matches!(
            config.jwt.key,
            Some(JwtKey::Ed25519PemFile(ref path)) if path == &PathBuf::from("/etc/authd/jwt.pem")
        ));
        assert_eq!(config.jwt.ttl, Duration::from_secs(60));
    }

    #[test]
    fn db_parts_build_a_postgres_url_with_encoded_credentials() {
        let config = load(&pg_parts()).unwrap();

        assert_eq!(
            config.database.url.expose(),
            "postgres://auth%20user:p%40ss%3Aw%2Frd%25@db.internal:6543/authd?sslmode=verify-full"
        );
        let parsed = Url::parse(config.database.url.expose()).unwrap();
        assert_eq!(parsed.host_str(), Some("db.internal"));
        assert_eq!(parsed.port(), Some(6543));
    }

    #[test]
    fn db_parts_default_the_port_and_leave_out_password_and_sslmode() {
        let config = load(&[
            ("DB_HOST", "::1"),
            ("DB_NAME", "authd"),
            ("DB_USER", "authd"),
        ])
        .unwrap();

        assert_eq!(
            config.database.url.expose(),
            "postgres://authd@[::1]:5432/authd"
        );
    }

    #[test]
    fn database_url_wins_over_db_parts() {
        let mut vars = pg_parts();
        vars.push(("DATABASE_URL", "postgres://app:secret@primary/authd"));
        let config = load(&vars).unwrap();

        assert_eq!(
            config.database.url.expose(),
            "postgres://app:secret@primary/authd"
        );
    }

    #[test]
    fn db_host_without_name_and_user_reports_both() {
        let err = load(&[("DB_HOST", "db")]).unwrap_err();

        assert_eq!(problem_vars(&err), ["DB_NAME", "DB_USER"]);
    }

    #[test]
    fn each_bad_value_is_reported_by_name() {
        // One row per case: (variable, value, expected part of the message).
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("SESSION_TTL_SECS", "abc", r#"expected a positive integer, got "abc""#),
            ("SESSION_IDLE_TIMEOUT_SECS", "-5", "expected a positive integer"),
            ("DB_IDLE_TIMEOUT_SECS", "0", r#"expected a positive integer, got "0""#),
            ("DB_CONNECT_TIMEOUT_SECS", "1.5", "expected a positive integer"),
            ("VERIFY_TOKEN_TTL_SECS", "99999999999", "must be between 1 and 315360000, got 99999999999"),
            ("RESET_TOKEN_TTL_SECS", "0", "expected a positive integer"),
            ("DB_MAX_CONNECTIONS", "0", "expected a positive integer"),
            ("DB_MIN_CONNECTIONS", "21", "must not exceed DB_MAX_CONNECTIONS (20)"),
            ("DB_MIN_CONNECTIONS", "x", "expected a non-negative integer"),
            ("DATABASE_URL", "mysql://db/authd", "expected a sqlite: or postgres:// URL"),
            ("DATABASE_URL", "not a url", "not a valid URL"),
            ("AUTHD_BIND", "localhost", "expected an address and port"),
            ("HTTP_HEADER_READ_TIMEOUT_SECS", "601", "must be between 1 and 600, got 601"),
            ("HTTP_MAX_CONNECTIONS", "0", "expected a positive integer"),
            ("AUTHD_AUTO_MIGRATE", "maybe", r#"expected true/false/1/0/yes/no, got "maybe""#),
            ("REQUIRE_VERIFIED_EMAIL", "2", "expected true/false/1/0/yes/no"),
            ("AUTHD_PUBLIC_URL", "ftp://example.com", "expected an http(s) URL"),
            ("AUTHD_PUBLIC_URL", "example.com", "expected an http(s) URL"),
            ("AUTHD_PUBLIC_URL", "https://example.com/?a=b", "must not have a query"),
            ("LOCKOUT_THRESHOLD", "0", "expected a positive integer"),
            ("LOCKOUT_GLOBAL_THRESHOLD", "4", "must be at least LOCKOUT_THRESHOLD (5), got 4"),
            ("LOCKOUT_DURATION_SECS", "soon", "expected a positive integer"),
            ("PASSWORD_MIN_LENGTH", "7", "must be between 8 and 128, got 7"),
            ("PASSWORD_MIN_LENGTH", "129", "must be between 8 and 128, got 129"),
            ("ARGON2_MEMORY_KIB", "4", "must be between 8 and 4194304, got 4"),
            ("ARGON2_ITERATIONS", "0", "expected a positive integer"),
            ("ARGON2_PARALLELISM", "65", "must be between 1 and 64, got 65"),
            ("ARGON2_MAX_QUEUE", "0", "expected a positive integer"),
            ("REDIS_URL", "http://cache:6379", "expected a redis:// or rediss:// URL"),
            ("RATE_LIMIT_LOGIN_PER_MIN", "0", "expected a positive integer"),
            ("RATE_LIMIT_REGISTER_PER_MIN", "ten", "expected a positive integer"),
            ("RATE_LIMIT_RESET_PER_HOUR", "0", "expected a positive integer"),
            ("MAIL_TRANSPORT", "file:", "expected a directory after file:"),
            ("MAIL_TRANSPORT", "sendmail", "expected log, file:<dir>, smtp://"),
            ("MAIL_TRANSPORT", "smtp://", "expected a host"),
            ("MAIL_TRANSPORT", "smtp://u:p@mail.example.com", "need an encrypted connection"),
            ("MAIL_FROM", "no-reply", r#"expected an address such as `authd <no-reply@example.com>`, got "no-reply""#),
            ("MAIL_FROM", "authd <no-reply@>", "got \"authd <no-reply@>\""),
            ("TRUSTED_PROXIES", "10.0.0.1,proxy.local", r#"got "proxy.local""#),
            ("TRUSTED_PROXIES", "10.0.0.0/33", r#"got "10.0.0.0/33""#),
            ("AUDIT_RETENTION_DAYS", "0", "expected a positive integer"),
            ("JWT_SECRET", "too-short", "must be at least 32 bytes, got 9"),
            ("JWT_TTL_SECS", "0", "expected a positive integer"),
            ("OAUTH_PROVIDERS", "Google", r#"got "Google""#),
            ("OAUTH_TOKEN_KEY", "not base64!", "invalid base64"),
            ("OAUTH_TOKEN_KEY", "AAAAAAAAAAAAAAAAAAAAAA==", "got 16 bytes"),
        ];
        for &(variable, value, expected) in cases {
            let err = load(&[(variable, value)]).unwrap_err();

            assert_eq!(
                problem_vars(&err),
                [variable],
                "{variable}={value:?} gave {err}"
            );
            assert!(
                err.problems()[0].message.contains(expected),
                "{variable}={value:?}: {:?} does not contain {expected:?}",
                err.problems()[0].message
            );
        }
    }

    #[test]
    fn bad_sslmode_is_reported() {
        let mut vars = pg_parts();
        vars.retain(|(k, _)| *k != "DB_SSLMODE");
        vars.push(("DB_SSLMODE", "always"));
        let err = load(&vars).unwrap_err();

        assert_eq!(problem_vars(&err), ["DB_SSLMODE"]);
        assert!(err.to_string().contains("verify-full"));
    }

    #[test]
    fn argon2_below_owasp_minimum_is_refused_unless_allowed() {
        let weak = [("ARGON2_MEMORY_KIB", "19455"), ("ARGON2_ITERATIONS", "1")];
        let err = load(&weak).unwrap_err();
        assert_eq!(
            problem_vars(&err),
            ["ARGON2_MEMORY_KIB", "ARGON2_ITERATIONS"]
        );
        assert!(
            err.problems()[0].message.contains("at least 19456"),
            "{err}"
        );
        assert!(
            err.problems()[1].message.contains("ARGON2_ALLOW_WEAK=true"),
            "{err}"
        );

        let allowed = load(&[weak[0], weak[1], ("ARGON2_ALLOW_WEAK", "true")]).unwrap();
        assert_eq!(allowed.argon2.memory_kib, 19_455);
        assert_eq!(allowed.argon2.iterations, 1);
        let refused = load(&[weak[1], ("ARGON2_ALLOW_WEAK", "false")]).unwrap_err();
        assert_eq!(problem_vars(&refused), ["ARGON2_ITERATIONS"]);
    }

    #[test]
    fn argon2_memory_below_eight_kib_per_lane_is_reported() {
        let err = load(&[("ARGON2_MEMORY_KIB", "64"), ("ARGON2_PARALLELISM", "16")]).unwrap_err();

        assert_eq!(problem_vars(&err), ["ARGON2_MEMORY_KIB"]);
        assert!(err.to_string().contains("(128), got 64"));
    }

    #[test]
    fn several_bad_values_are_reported_together() {
        let err = load(&[
            ("SESSION_TTL_SECS", "abc"),
            ("AUTHD_BIND", "nowhere"),
            ("PASSWORD_MIN_LENGTH", "4"),
            ("MAIL_TRANSPORT", "pigeon"),
            ("OAUTH_TOKEN_KEY", "short"),
        ])
        .unwrap_err();

        assert_eq!(
            problem_vars(&err),
            [
                "AUTHD_BIND",
                "SESSION_TTL_SECS",
                "PASSWORD_MIN_LENGTH",
                "MAIL_TRANSPORT",
                "OAUTH_TOKEN_KEY",
            ]
        );
        let text = err.to_string();
        assert_eq!(text.lines().count(), 5);
        assert!(text.contains(r#"SESSION_TTL_SECS: expected a positive integer, got "abc""#));
    }

    #[test]
    fn both_jwt_keys_set_is_an_error() {
        let err = load(&[
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("JWT_PRIVATE_KEY_FILE", "/etc/authd/jwt.pem"),
        ])
        .unwrap_err();

        assert_eq!(problem_vars(&err), ["JWT_SECRET"]);
        assert!(err.to_string().contains("JWT_PRIVATE_KEY_FILE"));
    }

    #[test]
    fn jwt_secret_of_32_bytes_selects_hs256() {
        let config = load(&[("JWT_SECRET", "0123456789abcdef0123456789abcdef")]).unwrap();

        assert!(matches!(
            config.jwt.key,
            Some(JwtKey::Hs256(ref secret)) if secret.expose() == b"0123456789abcdef0123456789abcdef"
        ));
    }

    #[test]
    fn oauth_providers_are_read_with_default_scopes_and_mapped_names() {
        let config = load(&[
            ("OAUTH_PROVIDERS", "google, my-idp"),
            ("OAUTH_GOOGLE_ISSUER", "https://accounts.google.com"),
            ("OAUTH_GOOGLE_CLIENT_ID", "gid"),
            ("OAUTH_GOOGLE_CLIENT_SECRET", "gsecret"),
            ("OAUTH_MY_IDP_ISSUER", "http://localhost:8081/realms/dev/"),
            ("OAUTH_MY_IDP_CLIENT_ID", "mid"),
            ("OAUTH_MY_IDP_CLIENT_SECRET", "msecret"),
            ("OAUTH_MY_IDP_SCOPES", "openid,email"),
        ])
        .unwrap();

        let google = config.oauth.provider("google").unwrap();
        assert_eq!(google.issuer, "https://accounts.google.com");
        assert_eq!(google.client_id, "gid");
        assert_eq!(google.client_secret.expose(), "gsecret");
        assert_eq!(google.scopes, ["openid", "email", "profile"]);
        let idp = config.oauth.provider("my-idp").unwrap();
        assert_eq!(idp.issuer, "http://localhost:8081/realms/dev/");
        assert_eq!(idp.scopes, ["openid", "email"]);
        assert!(config.oauth.provider("github").is_none());
    }

    #[test]
    fn oauth_provider_with_missing_issuer_is_reported() {
        let err = load(&[
            ("OAUTH_PROVIDERS", "github"),
            ("OAUTH_GITHUB_CLIENT_ID", "id"),
            ("OAUTH_GITHUB_CLIENT_SECRET", "secret"),
        ])
        .unwrap_err();

        assert_eq!(problem_vars(&err), ["OAUTH_GITHUB_ISSUER"]);
        assert_eq!(
            err.to_string(),
            r#"OAUTH_GITHUB_ISSUER: required for OAuth provider "github""#
        );
    }

    #[test]
    fn oauth_provider_problems_are_all_reported() {
        let err = load(&[
            ("OAUTH_PROVIDERS", "a,b-c,b_c"),
            ("OAUTH_A_ISSUER", "not a url"),
            ("OAUTH_A_SCOPES", "email"),
        ])
        .unwrap_err();

        assert_eq!(
            problem_vars(&err),
            [
                "OAUTH_A_ISSUER",
                "OAUTH_A_CLIENT_ID",
                "OAUTH_A_CLIENT_SECRET",
                "OAUTH_A_SCOPES",
                "OAUTH_B_C_ISSUER",
                "OAUTH_B_C_CLIENT_ID",
                "OAUTH_B_C_CLIENT_SECRET",
                "OAUTH_PROVIDERS",
            ]
        );
    }

    #[test]
    fn oauth_token_key_accepts_base64_of_32_bytes() {
        let key = BASE64_STANDARD.encode([7u8; 32]);
        let config = load(&[("OAUTH_TOKEN_KEY", key.as_str())]).unwrap();

        assert_eq!(config.oauth.token_key.unwrap().expose(), &[7u8; 32]);
    }

    #[test]
    fn mail_transport_keeps_smtp_urls() {
        let config = load(&[("MAIL_TRANSPORT", "smtps://mailer:pw@smtp.example.com:465")]).unwrap();

        assert!(matches!(
            config.mail,
            MailTransport::Smtp(ref url) if url.expose() == "smtps://mailer:pw@smtp.example.com:465"
        ));
    }

    #[test]
    fn mail_from_defaults_to_no_reply_at_the_public_host() {
        for (public_url, expected) in [
            (
                "https://Auth.Example.com:8443/base",
                "authd <no-reply@auth.example.com>",
            ),
            ("http://[::1]:8080", "authd <no-reply@[::1]>"),
        ] {
            let config = load(&[("AUTHD_PUBLIC_URL", public_url)]).unwrap();

            assert_eq!(config.mail_from.to_string(), expected, "{public_url}");
        }
    }

    #[test]
    fn a_public_host_that_makes_no_address_needs_mail_from() {
        let err = load(&[("AUTHD_PUBLIC_URL", "http://auth(host):8080")]).unwrap_err();

        assert_eq!(problem_vars(&err), ["MAIL_FROM"]);
        assert!(err.to_string().contains("no-reply@auth(host)"), "{err}");
        assert!(
            load(&[
                ("AUTHD_PUBLIC_URL", "http://auth(host):8080"),
                ("MAIL_FROM", "no-reply@example.com"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn a_bad_public_url_is_not_reported_again_as_mail_from() {
        let err = load(&[("AUTHD_PUBLIC_URL", "not a url")]).unwrap_err();

        assert_eq!(problem_vars(&err), ["AUTHD_PUBLIC_URL"]);
    }

    #[test]
    fn debug_output_never_contains_a_secret() {
        let token_key = BASE64_STANDARD.encode([0xAB; 32]);
        let mut vars: Vec<(&str, &str)> = pg_parts();
        vars.extend([
            ("REDIS_URL", "redis://:redis-pass-1@cache:6379"),
            (
                "MAIL_TRANSPORT",
                "smtp://mailer:smtp-pass-2@smtp.example.com?tls=required",
            ),
            ("JWT_SECRET", "jwt-secret-3-0123456789abcdef0123456789"),
            ("OAUTH_PROVIDERS", "google"),
            ("OAUTH_GOOGLE_ISSUER", "https://accounts.google.com"),
            ("OAUTH_GOOGLE_CLIENT_ID", "client-id"),
            ("OAUTH_GOOGLE_CLIENT_SECRET", "oauth-secret-4"),
            ("OAUTH_TOKEN_KEY", token_key.as_str()),
        ]);
        let from_parts = format!("{:?}", load(&vars).unwrap());
        let from_url = format!(
            "{:?}",
            load(&[(
                "DATABASE_URL",
                "postgres://app:db-pass-5@db/authd?sslmode=require&password=db-pass-6"
            )])
            .unwrap()
        );

        for secret in [
            "p@ss",
            "p%40ss",
            "redis-pass-1",
            "smtp-pass-2",
            "jwt-secret-3",
            "oauth-secret-4",
            token_key.as_str(),
            "171, 171",
        ] {
            assert!(
                !from_parts.contains(secret),
                "{secret} leaked: {from_parts}"
            );
        }
        for secret in ["db-pass-5", "db-pass-6"] {
            assert!(!from_url.contains(secret), "{secret} leaked: {from_url}");
        }
        assert!(from_parts.contains("postgres://auth%20user:***@db.internal:6543/authd"));
        assert!(from_parts.contains("redis://:***@cache:6379"));
        assert!(from_url.contains("sslmode=require"));
    }

    #[test]
    fn error_messages_never_quote_a_secret() {
        let err = load(&[
            ("JWT_SECRET", "short-secret"),
            ("DATABASE_URL", "mysql://u:db-pass@db/x"),
            ("REDIS_URL", "http://:redis-pass@cache"),
            ("MAIL_TRANSPORT", "smpt://u:smtp-pass@mail"),
            ("OAUTH_TOKEN_KEY", "key-material"),
        ])
        .unwrap_err();
        let text = err.to_string();

        assert_eq!(text.lines().count(), 5);
        for secret in [
            "short-secret",
            "db-pass",
            "redis-pass",
            "smtp-pass",
            "key-material",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}
