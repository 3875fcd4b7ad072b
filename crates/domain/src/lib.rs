//! The auth rules of authd. Depends only on `auth-ports` and small pure crates: no I/O,
//! no runtime, no database; everything it needs from the world comes through a port.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod error;
pub mod messages;
mod names;
pub mod oauth;
pub mod password_policy;
pub mod permission;
mod principal;
mod rate_limits;
pub mod rbac;
#[cfg(test)]
mod test_support;
pub mod tokens;
pub mod transfer;

pub use admin::{
    AccountChanges, AccountError, AdminPorts, AdminService, AuditPage, GetUserError, UserFilter,
    UserPage,
};
pub use audit::{AuditEvent, Auditor, ClientInfo};
pub use auth::{
    AuthPolicy, AuthPorts, AuthService, AuthenticateError, ChangePasswordError, DeleteAccountError,
    FactorAnswer, IssuedChallenge, LoginError, LoginOutcome, LoginSuccess, MfaError, NewTotp,
    PasswordCheckError, Principal, Reauthenticated, ReauthenticationRequired, RecoveryRequestError,
    RegisterError, RegisteredPasskey, Registration, ResetRequest, RevokeError, SecondFactorPorts,
    SessionView, StepUpAnswer, TokenError,
};
pub use error::{Failure, FieldErrors, ReadError};
pub use messages::Messages;
pub use oauth::{
    BegunFlow, Callback, FLOW_LIFETIME, Finished, OAuthError, OAuthPolicy, OAuthPorts,
    OAuthService, UnlinkError,
};
pub use password_policy::{PasswordPolicy, PasswordRejection};
pub use permission::MissingPermission;
pub use rbac::{RbacService, RoleChanges, RoleError};
pub use tokens::{IssueTokenError, IssuedToken, TokenService};
pub use transfer::{Importer, IncomingUser, TransferService};
