//! One line of an import or export file: a JSON object per account. Export writes every
//! field; import needs only `email` (docs/operations.md, "Migrating to authd").

use auth_domain::IncomingUser;
use auth_ports::{PortableOAuthAccount, PortableUser, UserId};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An account as a line holds it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Line {
    #[serde(default)]
    id: Option<Uuid>,
    email: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    /// Absent: the `user` role; `[]`: none.
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    password_hash: Option<String>,
    #[serde(default)]
    oauth_accounts: Vec<OAuthLine>,
}

/// A linked provider account as a line holds it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthLine {
    provider: String,
    provider_user_id: String,
    #[serde(default)]
    provider_email: Option<String>,
}

/// Why a line is not an account.
#[derive(Debug, thiserror::Error)]
pub(super) enum LineError {
    /// Not JSON, or not of the format; the text of quoted values is left out, so no hash
    /// reaches the terminal.
    #[error("{0}")]
    Json(String),
    /// `created_at` is not an RFC 3339 time.
    #[error("created_at: not an RFC 3339 time")]
    CreatedAt,
}

impl Line {
    /// Parses one line.
    pub(super) fn parse(text: &[u8]) -> Result<IncomingUser, LineError> {
        let line: Self =
            serde_json::from_slice(text).map_err(|e| LineError::Json(redact(&e.to_string())))?;
        let created_at = line
            .created_at
            .map(|at| DateTime::parse_from_rfc3339(&at).map(|at| at.with_timezone(&Utc)))
            .transpose()
            .map_err(|_| LineError::CreatedAt)?;
        Ok(IncomingUser {
            id: line.id.map(UserId),
            email: line.email,
            status: line.status,
            email_verified: line.email_verified,
            first_name: line.first_name,
            last_name: line.last_name,
            roles: line.roles,
            created_at,
            password_hash: line.password_hash,
            oauth_accounts: line
                .oauth_accounts
                .into_iter()
                .map(|link| PortableOAuthAccount {
                    provider: link.provider,
                    provider_user_id: link.provider_user_id,
                    provider_email: link.provider_email,
                })
                .collect(),
        })
    }

    /// The line of a stored account.
    pub(super) fn of(user: PortableUser) -> Self {
        Self {
            id: Some(user.id.0),
            email: user.email.as_str().to_owned(),
            status: Some(user.status.as_str().to_owned()),
            email_verified: user.email_verified,
            first_name: user.first_name,
            last_name: user.last_name,
            roles: Some(user.roles),
            created_at: Some(user.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            password_hash: user.password_hash.map(|h| h.expose().to_owned()),
            oauth_accounts: user
                .oauth_accounts
                .into_iter()
                .map(|link| OAuthLine {
                    provider: link.provider,
                    provider_user_id: link.provider_user_id,
                    provider_email: link.provider_email,
                })
                .collect(),
        }
    }
}

/// `message` with the text between double quotes replaced by `…`: serde_json quotes the
/// values it found (`invalid type: string "…"`), which may be a hash in the wrong place.
fn redact(message: &str) -> String {
    message
        .split('"')
        .enumerate()
        .map(|(i, part)| if i % 2 == 0 { part } else { "…" })
        .collect::<Vec<_>>()
        .join("\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_email_is_needed() {
        let user =
            Line::parse(br#"{"email": "ada@example.com"}"#).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(user.email, "ada@example.com");
        assert!(user.roles.is_none() && user.id.is_none() && user.password_hash.is_none());
    }

    #[test]
    fn unknown_fields_and_bad_times_are_refused() {
        let typo = Line::parse(br#"{"email": "a@example.com", "emial_verified": true}"#);
        assert!(matches!(typo, Err(LineError::Json(m)) if m.contains("emial_verified")));
        let time = Line::parse(br#"{"email": "a@example.com", "created_at": "yesterday"}"#);
        assert!(matches!(time, Err(LineError::CreatedAt)));
    }

    #[test]
    fn quoted_values_never_reach_the_message() {
        let error =
            Line::parse(br#"{"email": "a@example.com", "email_verified": "$2b$05$secret"}"#)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
        assert!(error.contains("invalid type"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }
}
