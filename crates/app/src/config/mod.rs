//! Typed start-up configuration read from environment variables (SPEC section 3).
//! Parsing is pure — `Config::from_vars` takes a lookup function — and collects every
//! bad or missing value before failing; secrets never show in `Debug` output.

mod accounts;
mod database;
mod error;
mod http;
mod jwt;
mod mail;
mod mfa;
mod oauth;
mod secret;
mod security;
#[cfg(test)]
mod tests;
mod vars;

pub use accounts::{AccountPolicyConfig, AuditConfig, OneTimeTokenConfig, SessionConfig};
pub use database::DatabaseConfig;
pub use error::{ConfigError, ConfigProblem};
pub use http::HttpConfig;
pub use jwt::{JwtConfig, JwtKey};
pub use mail::MailTransport;
pub use mfa::{MfaConfig, WebauthnConfig};
pub use oauth::{OAuthConfig, OAuthProviderConfig, ProviderKind};
pub use secret::{CredentialUrl, Secret};
pub use security::{Argon2Config, LockoutConfig, RateLimitConfig};
pub(crate) use security::{MAX_ARGON2_ITERATIONS, MAX_ARGON2_MEMORY_KIB};

use lettre::message::Mailbox;
use vars::Vars;

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
    /// The base URL of the links in mails (`MAIL_LINK_BASE`, default `AUTHD_PUBLIC_URL`):
    /// an http(s) URL without query, fragment or trailing slash.
    pub mail_link_base: String,
    /// How long audit entries are kept.
    pub audit: AuditConfig,
    /// Signing key and lifetime of the JWTs handed to other services.
    pub jwt: JwtConfig,
    /// OAuth/OIDC login providers and the key that encrypts their stored tokens.
    pub oauth: OAuthConfig,
    /// Second factors: the key that seals TOTP secrets and the passkey relying party.
    pub mfa: MfaConfig,
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
        let mut vars = Vars::new(lookup);
        let database = database::database(&mut vars);
        let http = http::http(&mut vars);
        let public_url = http.public_url.clone();
        let cors_origins = http.cors_allowed_origins.clone();
        // Fields are evaluated in order, so problems are listed in this order too.
        let config = Config {
            database,
            http,
            session: accounts::session(&mut vars),
            tokens: accounts::tokens(&mut vars),
            accounts: accounts::account_policy(&mut vars),
            lockout: security::lockout(&mut vars),
            argon2: security::argon2(&mut vars),
            rate_limit: security::rate_limit(&mut vars),
            mail: mail::mail_transport(&mut vars),
            mail_from: mail::mail_from(&mut vars, &public_url),
            mail_link_base: mail::mail_link_base(&mut vars, &public_url),
            audit: accounts::audit(&mut vars),
            jwt: jwt::jwt(&mut vars),
            oauth: oauth::oauth(&mut vars),
            mfa: mfa::mfa(&mut vars, &public_url, &cors_origins),
        };
        vars.finish().map(|()| config)
    }
}
