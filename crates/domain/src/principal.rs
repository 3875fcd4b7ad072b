//! Who is calling: the signed-in user with their session, roles and permissions.

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
