//! Second factors (TOTP, passkeys, recovery codes) and the repository port that stores
//! them. The secrets inside are opaque here: a TOTP secret is sealed by the
//! [`TotpAuthenticator`](crate::TotpAuthenticator) adapter, a passkey is the WebAuthn
//! library's own record, and recovery codes are stored as hashes.

use crate::{AuditWith, PasskeyId, StoreError, TokenHash, UserId};
use chrono::{DateTime, Utc};
use std::fmt;

/// How a session's user proved who they are; a session records the methods of its last
/// authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthMethod {
    /// The account password.
    Password,
    /// A sign-in through an OAuth provider.
    OAuth,
    /// A time-based one-time code (RFC 6238).
    Totp,
    /// A WebAuthn credential (passkey or security key).
    Webauthn,
    /// A single-use recovery code.
    RecoveryCode,
}

impl AuthMethod {
    /// The stored and serialised name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::OAuth => "oauth",
            Self::Totp => "totp",
            Self::Webauthn => "webauthn",
            Self::RecoveryCode => "recovery_code",
        }
    }

    /// The method of a stored name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Password,
            Self::OAuth,
            Self::Totp,
            Self::Webauthn,
            Self::RecoveryCode,
        ]
        .into_iter()
        .find(|method| method.as_str() == name)
    }

    /// Whether it is a second factor (what an account with MFA must show).
    #[must_use]
    pub fn is_second_factor(self) -> bool {
        matches!(self, Self::Totp | Self::Webauthn | Self::RecoveryCode)
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's TOTP authenticator, confirmed or waiting for its first code.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpEnrollment {
    /// The secret, sealed by the TOTP adapter for this user.
    pub sealed_secret: Vec<u8>,
    /// `None` until a code from the authenticator app was accepted.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last time step a code was accepted for; no code of it or earlier works again.
    pub last_used_step: Option<i64>,
    /// When the secret was made.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpEnrollment")
            .field("confirmed_at", &self.confirmed_at)
            .field("last_used_step", &self.last_used_step)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A registered WebAuthn credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Passkey {
    /// The id (safe to show the user).
    pub id: PasskeyId,
    /// Whose it is.
    pub user_id: UserId,
    /// The authenticator's credential id.
    pub credential_id: Vec<u8>,
    /// The user's name for it.
    pub name: String,
    /// The WebAuthn library's record of it (public key, counter, flags), as JSON.
    pub data: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last signed a login or step-up.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for Passkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passkey")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// Every second factor of a user, read together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaFactors {
    /// The TOTP authenticator, confirmed or pending.
    pub totp: Option<TotpEnrollment>,
    /// Registered passkeys, oldest first.
    pub passkeys: Vec<Passkey>,
    /// How many recovery codes are left unused.
    pub recovery_codes_left: u32,
}

impl MfaFactors {
    /// The second factors a login must offer one of, in a fixed order: a confirmed TOTP,
    /// passkeys, and recovery codes when any are left. Empty when MFA is off.
    #[must_use]
    pub fn methods(&self) -> Vec<AuthMethod> {
        let mut methods = Vec::new();
        if self.totp_confirmed() {
            methods.push(AuthMethod::Totp);
        }
        if !self.passkeys.is_empty() {
            methods.push(AuthMethod::Webauthn);
        }
        if !methods.is_empty() && self.recovery_codes_left > 0 {
            methods.push(AuthMethod::RecoveryCode);
        }
        methods
    }

    /// Whether logins need a second factor: a confirmed TOTP or a passkey.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.totp_confirmed() || !self.passkeys.is_empty()
    }

    /// Whether the TOTP authenticator is confirmed.
    #[must_use]
    pub fn totp_confirmed(&self) -> bool {
        self.totp.as_ref().is_some_and(|t| t.confirmed_at.is_some())
    }
}

/// A passkey to store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPasskey {
    /// Whose it is.
    pub user_id: UserId,
    /// The authenticator's credential id.
    pub credential_id: Vec<u8>,
    /// The user's name for it.
    pub name: String,
    /// The WebAuthn library's record of it, as JSON.
    pub data: String,
    /// Registration time.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for NewPasskey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewPasskey")
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A fresh set of recovery codes to store in place of the old ones, by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCodeSet {
    /// SHA-256 of each normalised code.
    pub hashes: Vec<TokenHash>,
    /// When they were made.
    pub created_at: DateTime<Utc>,
}

/// Stores second factors. Every method is atomic.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait MfaRepository: Send + Sync {
    /// Every second factor of the user.
    ///
    /// # Errors
    /// Storage failures only.
    async fn factors(&self, user_id: UserId) -> Result<MfaFactors, StoreError>;

    /// Stores a new, unconfirmed TOTP secret in place of an unconfirmed one.
    ///
    /// # Errors
    /// `Conflict(TotpEnrolled)` when a confirmed one exists; `NotFound` for an unknown
    /// user.
    async fn begin_totp(
        &self,
        user_id: UserId,
        sealed_secret: Vec<u8>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Confirms the pending TOTP secret `sealed_secret` with a code of `step`, stores
    /// `recovery_codes` (if any) in place of the old ones and appends `audit`, in one
    /// transaction. `false`, with nothing written, when that secret is no longer the
    /// pending one (confirmed or replaced since).
    ///
    /// # Errors
    /// Storage failures only.
    async fn confirm_totp(
        &self,
        user_id: UserId,
        sealed_secret: Vec<u8>,
        step: i64,
        recovery_codes: Option<RecoveryCodeSet>,
        audit: AuditWith<()>,
    ) -> Result<bool, StoreError>;

    /// Records that a code of `step` was accepted, unless a code of that step or a later
    /// one was accepted already: `false` then (a replayed code). One statement, so of two
    /// concurrent uses of one code exactly one wins.
    ///
    /// # Errors
    /// Storage failures only.
    async fn use_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError>;

    /// Removes the user's TOTP authenticator (confirmed or pending) and appends `audit`,
    /// in one transaction; with no second factor left, the recovery codes go too.
    /// `false`, with nothing written, when there was none.
    ///
    /// # Errors
    /// Storage failures only.
    async fn remove_totp(&self, user_id: UserId, audit: AuditWith<()>) -> Result<bool, StoreError>;

    /// Stores `codes` in place of the user's recovery codes and appends `audit`, in one
    /// transaction.
    ///
    /// # Errors
    /// `NotFound` for an unknown user.
    async fn replace_recovery_codes(
        &self,
        user_id: UserId,
        codes: RecoveryCodeSet,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError>;

    /// Uses up the user's unused recovery code with this hash at `at` and appends
    /// `audit` (given how many are left), in one transaction. `None`, with nothing
    /// written, when there is no such unused code; of concurrent uses of one code
    /// exactly one succeeds.
    ///
    /// # Errors
    /// Storage failures only.
    async fn use_recovery_code(
        &self,
        user_id: UserId,
        code_hash: TokenHash,
        at: DateTime<Utc>,
        audit: AuditWith<u32>,
    ) -> Result<Option<u32>, StoreError>;

    /// Stores a passkey, and `recovery_codes` (if any) in place of the old ones, and
    /// appends `audit`, in one transaction.
    ///
    /// # Errors
    /// `Conflict(PasskeyCredential)` when that credential is registered already;
    /// `NotFound` for an unknown user.
    async fn add_passkey(
        &self,
        passkey: NewPasskey,
        recovery_codes: Option<RecoveryCodeSet>,
        audit: AuditWith<Passkey>,
    ) -> Result<Passkey, StoreError>;

    /// The passkey with this credential id, whoever's it is.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_passkey(&self, credential_id: &[u8]) -> Result<Option<Passkey>, StoreError>;

    /// Records a use of the passkey at `at` with the library's updated record (its
    /// signature counter).
    ///
    /// # Errors
    /// `NotFound` when it was removed.
    async fn record_passkey_use(
        &self,
        id: PasskeyId,
        data: String,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Removes one passkey of the user and appends `audit`, in one transaction; with no
    /// second factor left, the recovery codes go too.
    ///
    /// # Errors
    /// `NotFound` when the user has no such passkey (including another user's).
    async fn remove_passkey(
        &self,
        user_id: UserId,
        id: PasskeyId,
        audit: AuditWith<()>,
    ) -> Result<(), StoreError>;

    /// Removes every second factor of the user (TOTP, passkeys, recovery codes) and every
    /// pending challenge of theirs, and appends `audit`, in one transaction. Returns
    /// whether there was anything to remove.
    ///
    /// # Errors
    /// Storage failures only.
    async fn reset(&self, user_id: UserId, audit: AuditWith<bool>) -> Result<bool, StoreError>;
}
