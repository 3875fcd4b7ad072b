//! The `sessions` table.

use super::Inet;
use sea_orm::entity::prelude::*;

/// A row of `sessions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_hash: Vec<u8>,
    pub expires_at: DateTimeUtc,
    pub ip_address: Option<Inet>,
    pub user_agent: Option<String>,
    pub is_active: bool,
    pub last_accessed_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// NULL for rows made before MFA: read as `created_at`.
    pub authenticated_at: Option<DateTimeUtc>,
    /// The methods' names, sorted, comma-separated; '' for rows made before MFA.
    pub auth_methods: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The `auth_methods` text of `methods`: their names, sorted, without repeats, joined by
/// commas.
pub fn methods_text(methods: &[auth_ports::AuthMethod]) -> String {
    let mut methods = methods.to_vec();
    methods.sort_unstable();
    methods.dedup();
    let names: Vec<&str> = methods.iter().map(|method| method.as_str()).collect();
    names.join(",")
}

/// The methods in an `auth_methods` text ('' is none); `Err` with the first unknown
/// name.
pub fn methods_of(text: &str) -> Result<Vec<auth_ports::AuthMethod>, String> {
    text.split(',')
        .filter(|name| !name.is_empty())
        .map(|name| auth_ports::AuthMethod::parse(name).ok_or_else(|| name.to_owned()))
        .collect()
}
