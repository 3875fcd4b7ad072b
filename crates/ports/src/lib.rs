//! The boundary of authd: the model types that cross it and the async traits the domain
//! needs from the outside world. Nothing here does I/O or knows a database.

pub mod audit;
pub mod email;
pub mod error;
pub mod ids;
pub mod oauth;
pub mod role;
pub mod session;
pub mod user;

pub use audit::{AuditCursor, AuditEntry, AuditQuery, AuditRepository, NewAuditEntry};
pub use email::{Email, EmailError};
pub use error::{Constraint, StoreError};
pub use ids::{AuditEntryId, OAuthAccountId, RoleId, SessionId, UserId};
pub use oauth::{OAuthAccount, OAuthAccountRepository, OAuthLink};
pub use role::{NewRole, Role, RoleRepository, RoleUpdate};
pub use session::{NewSession, Session, SessionRepository, TokenHash};
pub use user::{
    FailedLogin, LockoutPolicy, NewUser, PasswordChange, PasswordHash, RevokeSessions, User,
    UserCursor, UserQuery, UserRepository, UserStatus, UserUpdate,
};

#[cfg(any(test, feature = "mock"))]
pub use audit::MockAuditRepository;
#[cfg(any(test, feature = "mock"))]
pub use oauth::MockOAuthAccountRepository;
#[cfg(any(test, feature = "mock"))]
pub use role::MockRoleRepository;
#[cfg(any(test, feature = "mock"))]
pub use session::MockSessionRepository;
#[cfg(any(test, feature = "mock"))]
pub use user::MockUserRepository;
