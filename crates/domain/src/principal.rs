//! Who is calling: the signed-in user with their session, roles and permissions.

use crate::permission::{MissingPermission, is_granted};
use auth_ports::{Session, User};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How recently a session must have been authenticated for a sensitive change: changing
/// the password or second factors, linking or unlinking a provider, ending other sessions.
pub const STEP_UP_WINDOW: Duration = Duration::from_secs(5 * 60);

/// The session was authenticated too long ago for this change: prove it again first
/// (`POST /v1/auth/reauthenticate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("reauthentication required")]
pub struct ReauthenticationRequired;

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

    /// `Ok` when the session was authenticated within [`STEP_UP_WINDOW`] before `now`, so
    /// a stolen session token alone cannot lock its owner out or take the account over.
    ///
    /// # Errors
    /// [`ReauthenticationRequired`] otherwise.
    pub fn require_recent_authentication(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(), ReauthenticationRequired> {
        let age = (now - self.session.authenticated_at)
            .to_std()
            .unwrap_or_default();
        if age <= STEP_UP_WINDOW {
            Ok(())
        } else {
            Err(ReauthenticationRequired)
        }
    }
}
