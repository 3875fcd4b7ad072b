//! The `users` table.

use sea_orm::entity::prelude::*;

/// A row of `users`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub email: String,
    pub password_hash: Option<String>,
    pub status: String,
    pub email_verified: bool,
    pub email_verified_at: Option<DateTimeUtc>,
    pub failed_login_attempts: i32,
    pub last_failed_login_at: Option<DateTimeUtc>,
    pub locked_until: Option<DateTimeUtc>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub oauth_providers: Json,
    pub last_login_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
