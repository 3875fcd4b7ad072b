//! Response bodies more than one group of routes shows.

use auth_ports::{User, UserStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A user as the API shows it: never a hash, never a token.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub(super) struct UserBody {
    id: Uuid,
    #[schema(example = "ada@example.com")]
    email: String,
    // auth-ports knows nothing of OpenAPI, so the enum is described here.
    #[schema(schema_with = user_status_schema)]
    status: UserStatus,
    email_verified: bool,
    first_name: Option<String>,
    last_name: Option<String>,
    created_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
}

fn user_status_schema() -> utoipa::openapi::Object {
    let statuses = [
        UserStatus::Active,
        UserStatus::Inactive,
        UserStatus::Suspended,
        UserStatus::Deleted,
    ];
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(statuses.map(UserStatus::as_str)))
        .examples([UserStatus::Active.as_str()])
        .build()
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id.0,
            email: user.email.into(),
            status: user.status,
            email_verified: user.email_verified,
            first_name: user.first_name,
            last_name: user.last_name,
            created_at: user.created_at,
            last_login_at: user.last_login_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(super) struct AdminUserResponse {
    pub(super) user: UserBody,
}
