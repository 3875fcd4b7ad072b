//! The boundary of authd: the model types that cross it and the async traits the domain
//! needs from the outside world. Nothing here does I/O or knows a database.

pub mod access_token;
pub mod audit;
pub mod challenge;
pub mod clock;
pub mod crypto;
pub mod email;
pub mod error;
pub mod ids;
pub mod mail;
pub mod mfa;
pub mod oauth;
pub mod one_time_token;
pub mod rate_limit;
pub mod readiness;
pub mod role;
pub mod second_factor;
pub mod secret;
pub mod session;
pub mod token_hash;
pub mod transfer;
pub mod user;

pub use access_token::{AccessClaims, AccessTokenSigner, SignError};
pub use audit::{AuditCursor, AuditEntry, AuditQuery, AuditRepository, AuditWith, NewAuditEntry};
pub use challenge::{Challenge, ChallengeKind, ChallengeRepository, NewChallenge};
pub use clock::Clock;
pub use crypto::{HashError, PasswordHasher, TokenGenerator, Verification};
pub use email::{Email, EmailError};
pub use error::{Constraint, StoreError};
pub use ids::{
    AuditEntryId, ChallengeId, MailId, OAuthAccountId, PasskeyId, RoleId, SessionId, UserId,
};
pub use mail::{MailMessage, MailOutbox, OutboxBacklog, QueuedMail};
pub use mfa::{
    AuthMethod, MfaFactors, MfaRepository, NewPasskey, Passkey, RecoveryCodeSet, TotpEnrollment,
};
pub use oauth::{
    AuthorizationRequest, ExternalIdentity, FlowSecret, OAuthAccount, OAuthAccountRepository,
    OAuthClient, OAuthClientError, OAuthFlowRepository, OAuthLink, PendingOAuthFlow, SealedTokens,
};
pub use one_time_token::{NewOneTimeToken, OneTimeTokenRepository, Redemption, TokenPurpose};
pub use rate_limit::{RateDecision, RateLimit, RateLimiter};
pub use readiness::Readiness;
pub use role::{NewRole, Role, RoleRepository, RoleUpdate};
pub use second_factor::{
    Assertion, Ceremony, NewTotpSecret, PasskeyAuthenticator, RegisteredCredential,
    SecondFactorError, TotpAuthenticator,
};
pub use secret::{AccessToken, BearerToken, Password, RecoveryCode, TotpSecret};
pub use session::{ActiveSession, NewSession, OpenedSession, Session, SessionRepository};
pub use token_hash::TokenHash;
pub use transfer::{AccountToImport, Imported, PortableOAuthAccount, PortableUser, UserTransfer};
pub use user::{
    FailedLogin, LockScope, LockoutPolicy, LoginAccount, LoginSource, NewUser, NewVerification,
    PasswordChange, PasswordHash, RevokeSessions, User, UserCursor, UserQuery, UserRepository,
    UserStatus, UserUpdate,
};

#[cfg(any(test, feature = "mock"))]
pub use access_token::MockAccessTokenSigner;
#[cfg(any(test, feature = "mock"))]
pub use audit::MockAuditRepository;
#[cfg(any(test, feature = "mock"))]
pub use challenge::MockChallengeRepository;
#[cfg(any(test, feature = "mock"))]
pub use clock::MockClock;
#[cfg(any(test, feature = "mock"))]
pub use crypto::{MockPasswordHasher, MockTokenGenerator};
#[cfg(any(test, feature = "mock"))]
pub use mail::MockMailOutbox;
#[cfg(any(test, feature = "mock"))]
pub use mfa::MockMfaRepository;
#[cfg(any(test, feature = "mock"))]
pub use oauth::{MockOAuthAccountRepository, MockOAuthClient, MockOAuthFlowRepository};
#[cfg(any(test, feature = "mock"))]
pub use one_time_token::MockOneTimeTokenRepository;
#[cfg(any(test, feature = "mock"))]
pub use rate_limit::MockRateLimiter;
#[cfg(any(test, feature = "mock"))]
pub use role::MockRoleRepository;
#[cfg(any(test, feature = "mock"))]
pub use second_factor::{MockPasskeyAuthenticator, MockTotpAuthenticator};
#[cfg(any(test, feature = "mock"))]
pub use session::MockSessionRepository;
#[cfg(any(test, feature = "mock"))]
pub use transfer::MockUserTransfer;
#[cfg(any(test, feature = "mock"))]
pub use user::MockUserRepository;
