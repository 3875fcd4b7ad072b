//! Sessions, single-use tokens, account rules and audit retention.

use super::vars::Vars;
use std::time::Duration;

/// Longest audit retention accepted, in days (a century).
const MAX_RETENTION_DAYS: u64 = 36_500;

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

/// Audit log retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Entries older than this are removed by `maintenance cleanup`
    /// (`AUDIT_RETENTION_DAYS`; always a whole number of days).
    pub retention: Duration,
}

/// `SESSION_TTL_SECS` and `SESSION_IDLE_TIMEOUT_SECS`.
pub(super) fn session<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> SessionConfig {
    SessionConfig {
        ttl: vars.secs("SESSION_TTL_SECS", 43_200),
        idle_timeout: vars.secs("SESSION_IDLE_TIMEOUT_SECS", 1_800),
    }
}

/// `VERIFY_TOKEN_TTL_SECS` and `RESET_TOKEN_TTL_SECS`.
pub(super) fn tokens<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> OneTimeTokenConfig {
    OneTimeTokenConfig {
        email_verification_ttl: vars.secs("VERIFY_TOKEN_TTL_SECS", 86_400),
        password_reset_ttl: vars.secs("RESET_TOKEN_TTL_SECS", 1_800),
    }
}

/// `REQUIRE_VERIFIED_EMAIL` and `PASSWORD_MIN_LENGTH`.
pub(super) fn account_policy<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
) -> AccountPolicyConfig {
    AccountPolicyConfig {
        require_verified_email: vars.flag("REQUIRE_VERIFIED_EMAIL", false),
        // NIST SP 800-63B floor of 8; SPEC caps passwords at 128 characters.
        password_min_length: vars.number("PASSWORD_MIN_LENGTH", 12, 8, 128) as usize,
    }
}

/// `AUDIT_RETENTION_DAYS`.
pub(super) fn audit<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> AuditConfig {
    AuditConfig {
        retention: Duration::from_secs(
            vars.number("AUDIT_RETENTION_DAYS", 90, 1, MAX_RETENTION_DAYS) * 86_400,
        ),
    }
}
