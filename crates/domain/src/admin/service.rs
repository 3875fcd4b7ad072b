//! The AdminService itself and the ports it works through.

use crate::audit::Auditor;
use crate::password_policy::PasswordPolicy;
use auth_ports::{
    AuditRepository, Clock, MfaRepository, PasswordHasher, RoleRepository, UserRepository,
};
use std::sync::Arc;

/// The ports AdminService works through.
#[derive(Clone)]
pub struct AdminPorts {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Roles, to find the protected `admin` role.
    pub roles: Arc<dyn RoleRepository>,
    /// The audit trail, to read.
    pub audit_log: Arc<dyn AuditRepository>,
    /// The audit trail, to write.
    pub audit: Auditor,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Second factors, to show and reset.
    pub mfa: Arc<dyn MfaRepository>,
    /// Hashes the password of an account an operator makes.
    pub hasher: Arc<dyn PasswordHasher>,
    /// The rules such a password meets (those of a registration).
    pub password: PasswordPolicy,
}

/// Reads and changes accounts and reads the audit trail for operators. Every method
/// takes the caller and checks the permissions it needs itself, so any front end gets
/// the same rules.
#[derive(Clone)]
pub struct AdminService {
    pub(super) ports: AdminPorts,
}

impl AdminService {
    /// A service over `ports`.
    #[must_use]
    pub fn new(ports: AdminPorts) -> Self {
        Self { ports }
    }
}
