//! The error every storage port returns: callers can tell "absent", "taken", "try again
//! later" and "broken" apart without knowing the database.

/// A unique constraint that a write can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// `users.email`: the address is already registered.
    UserEmail,
    /// `roles.name`: a role of that name exists.
    RoleName,
    /// `sessions.token_hash`: a session token collided (practically never).
    SessionToken,
    /// `one_time_tokens.token_hash`: a one-time token collided (practically never).
    OneTimeToken,
    /// `oauth_accounts (provider, provider_user_id)`: that external account is linked
    /// to a user already.
    OAuthSubject,
    /// `oauth_accounts (user_id, provider)`: the user has linked that provider already.
    OAuthUserProvider,
    /// The change would leave a protected role (`admin`) without an active holder.
    LastActiveHolder,
    /// The user is deleted, and a deleted account is final.
    DeletedUser,
    /// `mfa_totp`: the user has a confirmed TOTP authenticator already.
    TotpEnrolled,
    /// `passkeys.credential_id`: that credential is registered already.
    PasskeyCredential,
    /// `auth_challenges.token_hash`: a challenge token collided (practically never).
    ChallengeToken,
    /// Removing this OAuth link would leave the user no way to log in (no password, no
    /// other link).
    LastLoginMethod,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the operation needs (or a row it refers to) does not exist.
    #[error("not found")]
    NotFound,
    /// The write would break a unique constraint; nothing was changed.
    #[error("conflict on {0:?}")]
    Conflict(Constraint),
    /// The database could not be reached in time (connect, pool acquire, I/O); retrying
    /// later may succeed.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else: a bug or a corrupt row. Log it; never show it to a client.
    #[error("storage error")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}
