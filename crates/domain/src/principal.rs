//! Who is calling: the signed-in user with their session, roles and permissions.

use crate::permission::{MissingPermission, is_granted};
use auth_ports::{Session, User};

/// Who is calling, established from a session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user (active).
    pub user: User,
    /// The session the token belongs to.
    pub session: Session,
    /// Names of the user's roles.
    pub roles: Vec<String>,
    /// The union of their permissions.
    pub permissions: Vec<String>,
}

impl Principal {
    /// `Ok` when the caller holds `permission` (directly, through `resource:*`, or
    /// through `*`). Permissions are read with the session on every request, so a
    /// change applies at the next one.
    ///
    /// # Errors
    /// [`MissingPermission`] naming `permission`.
    pub fn require(&self, permission: &'static str) -> Result<(), MissingPermission> {
        if is_granted(&self.permissions, permission) {
            Ok(())
        } else {
            Err(MissingPermission(permission))
        }
    }
}
