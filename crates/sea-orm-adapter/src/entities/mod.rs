//! sea-orm entities of the authd tables. Private to the adapter: repositories convert
//! them into the port models, so no entity ever crosses the boundary.

pub mod audit_logs;
pub mod auth_challenges;
pub mod login_failures;
pub mod mail_outbox;
pub mod mfa_recovery_codes;
pub mod mfa_totp;
pub mod oauth_accounts;
pub mod oauth_flows;
pub mod one_time_tokens;
pub mod passkeys;
pub mod roles;
pub mod sessions;
pub mod user_roles;
pub mod users;

use sea_orm::DeriveValueType;

/// An IP address column: `INET` on PostgreSQL, `TEXT` on SQLite.
///
/// Declared as an enum-typed column named `inet` because sea-orm casts enum values with
/// `CAST(… AS inet)` on PostgreSQL only and reads them back `AS text`; on SQLite both are
/// no-ops. That keeps the one real type difference out of repository code.
#[derive(Clone, Debug, PartialEq, Eq, DeriveValueType)]
#[sea_orm(
    column_type = "Enum { name: sea_orm::sea_query::IntoIden::into_iden(sea_orm::sea_query::Alias::new(\"inet\")), variants: Vec::new() }"
)]
pub struct Inet(pub String);

impl Inet {
    /// Parses the stored text; PostgreSQL's text form of `inet` carries a `/32` or `/128`
    /// host mask, which is dropped.
    pub fn to_ip(&self) -> Option<std::net::IpAddr> {
        self.0.split('/').next().and_then(|ip| ip.parse().ok())
    }
}

impl From<std::net::IpAddr> for Inet {
    fn from(ip: std::net::IpAddr) -> Self {
        Self(ip.to_string())
    }
}
