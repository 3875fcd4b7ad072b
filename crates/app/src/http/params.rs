//! Path parameters as the OpenAPI document describes them. These types describe and are
//! never built: handlers read ids with `extract::IdPath` and `IdPairPath`, which answer
//! 404 for anything but a UUID.

#![expect(
    dead_code,
    reason = "descriptions only: their parameters are documented, their values never exist"
)]

use utoipa::IntoParams;
use uuid::Uuid;

/// `/v1/admin/users/{id}…`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct UserPath {
    /// The user's id
    id: Uuid,
}

/// `/v1/admin/roles/{id}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct RolePath {
    /// The role's id
    id: Uuid,
}

/// `/v1/admin/users/{id}/roles/{role_id}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct UserRolePath {
    /// The user's id
    id: Uuid,
    /// The role's id
    role_id: Uuid,
}
