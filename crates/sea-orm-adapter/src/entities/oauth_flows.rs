//! The `oauth_flows` table.

use sea_orm::entity::prelude::*;
use std::fmt;

/// A row of `oauth_flows`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_flows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub state_hash: Vec<u8>,
    pub provider: String,
    pub nonce: SecretText,
    pub pkce_verifier: SecretText,
    pub link_user_id: Option<Uuid>,
    pub link_session_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A text column holding a secret (a flow's nonce or PKCE verifier, a challenge's
/// password hash or WebAuthn state): stored as it is, but
/// redacted in `Debug`, so neither a row nor an active model ever prints one.
#[derive(Clone, PartialEq, Eq, DeriveValueType)]
pub struct SecretText(pub String);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}
