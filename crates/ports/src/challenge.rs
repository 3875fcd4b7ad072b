//! Pending authentication challenges: the state a multi-step sign-in, step-up or passkey
//! registration keeps between its two requests, found by the SHA-256 of a token handed to
//! the client once. Stored, not kept in memory, so any instance can finish what another
//! began.

use crate::{ChallengeId, PasswordHash, SessionId, StoreError, TokenHash, UserId};
use chrono::{DateTime, Utc};
use std::fmt;

/// What a challenge is for; a token of one kind never serves another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallengeKind {
    /// A login whose password was right and that needs a second factor.
    MfaLogin,
    /// A passwordless login with a passkey.
    PasskeyLogin,
    /// A passkey assertion to re-authenticate a session (step-up).
    StepUp,
    /// A passkey registration.
    PasskeyRegistration,
}

impl ChallengeKind {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MfaLogin => "mfa_login",
            Self::PasskeyLogin => "passkey_login",
            Self::StepUp => "step_up",
            Self::PasskeyRegistration => "passkey_registration",
        }
    }

    /// The kind of a stored name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::MfaLogin,
            Self::PasskeyLogin,
            Self::StepUp,
            Self::PasskeyRegistration,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// A challenge to store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewChallenge {
    /// SHA-256 of the token handed to the client.
    pub token_hash: TokenHash,
    /// What it is for.
    pub kind: ChallengeKind,
    /// Whose it is; `None` for a passwordless login, whose user the passkey names.
    pub user_id: Option<UserId>,
    /// The session it re-authenticates or registers a passkey for.
    pub session_id: Option<SessionId>,
    /// For an MFA login: the hash the password matched, so a password changed meanwhile
    /// ends the login.
    pub password_hash: Option<PasswordHash>,
    /// For an MFA login: the lockout source of the client ([`crate::LoginSource`] key).
    pub login_source: Option<String>,
    /// The WebAuthn library's state of a passkey ceremony, as JSON.
    pub webauthn_state: Option<String>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Issue time.
    pub created_at: DateTime<Utc>,
}

/// A stored challenge.
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The id.
    pub id: ChallengeId,
    /// What was stored.
    pub stored: NewChallenge,
    /// Wrong answers so far.
    pub failures: u32,
}

impl fmt::Debug for NewChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewChallenge")
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Challenge")
            .field("id", &self.id)
            .field("stored", &self.stored)
            .field("failures", &self.failures)
            .finish()
    }
}

/// Stores challenges. A challenge is live while unexpired and not used up.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait ChallengeRepository: Send + Sync {
    /// Stores a challenge.
    ///
    /// # Errors
    /// `Conflict(ChallengeToken)` on a hash collision; `NotFound` for an unknown user.
    async fn create(&self, challenge: NewChallenge) -> Result<Challenge, StoreError>;

    /// The live challenge of this kind with this token hash at `now`.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_live(
        &self,
        token_hash: &TokenHash,
        kind: ChallengeKind,
        now: DateTime<Utc>,
    ) -> Result<Option<Challenge>, StoreError>;

    /// Counts a wrong answer; the challenge is deleted when it reaches `max_failures`.
    /// Returns whether it is still live.
    ///
    /// # Errors
    /// Storage failures only.
    async fn record_failure(&self, id: ChallengeId, max_failures: u32) -> Result<bool, StoreError>;

    /// Uses the challenge up. `false` when it was gone already (used concurrently), so
    /// of concurrent uses exactly one gets `true`.
    ///
    /// # Errors
    /// Storage failures only.
    async fn consume(&self, id: ChallengeId) -> Result<bool, StoreError>;

    /// Deletes challenges that expired before `now`. Returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
