//! Who a login flow signs in as (SPEC.md section 4.3): the user the external account is
//! linked to; else the user with the provider's email, linked only when the provider
//! vouches for that email and the user verified it too; else a new user. Then the
//! session, as a password login opens one.

use super::errors::OAuthError;
use super::flow::Finished;
use super::service::{Attempt, OAuthService, link_event, usable_email};
use crate::audit::AuditEvent;
use crate::auth::{DEFAULT_ROLE, LoginSuccess};
use crate::error::Failure;
use crate::names::acceptable_name;
use auth_ports::{
    AuthMethod, Constraint, Email, ExternalIdentity, NewSession, NewUser, OAuthAccount, Session,
    StoreError, User, UserStatus,
};

/// A linked user or account expected after a conflict the database reported, and gone.
fn vanished(what: &'static str) -> Failure {
    Failure::Unexpected(what.into())
}

impl OAuthService {
    /// Signs in as the user `identity` belongs to, creating or linking one by the rules
    /// above, if the account is active (and its email verified, when the policy asks);
    /// an account with MFA on gets no session yet (`auth.login` failed with reason
    /// `mfa_required`), but must show a second factor too. A password lockout does not
    /// stop this login: the lock guards the password against guessing, and no password
    /// is checked here.
    pub(super) async fn sign_in(
        &self,
        identity: &ExternalIdentity,
        attempt: &Attempt<'_>,
    ) -> Result<Finished, OAuthError> {
        let user = self.login_user(identity, attempt).await?;
        let refused = if user.status != UserStatus::Active {
            Some(OAuthError::AccountDisabled)
        } else if self.policy.require_verified_email && !user.email_verified {
            Some(OAuthError::EmailNotVerified)
        } else {
            None
        };
        if let Some(error) = refused {
            return Err(self.refuse(attempt, Some(user.id), error, None).await?);
        }
        let factors = self.ports.mfa.factors(user.id).await;
        if factors.map_err(Failure::from)?.enabled() {
            let pending = attempt.event(Some(user.id)).failed("mfa_required");
            self.ports.audit.record(pending, attempt.client).await?;
            return Ok(Finished::MfaRequired(Box::new(user)));
        }
        let success = self.open_session(user, attempt).await?;
        Ok(Finished::SignedIn(Box::new(success)))
    }

    /// The user the login signs in as, linked or created if need be.
    async fn login_user(
        &self,
        identity: &ExternalIdentity,
        attempt: &Attempt<'_>,
    ) -> Result<User, OAuthError> {
        if let Some(user) = self.linked_user(identity, attempt).await? {
            return Ok(user);
        }
        let Some(email) = usable_email(identity) else {
            let (failed, cause) = (OAuthError::OAuthFailed, Some("no usable email"));
            return Err(self.refuse(attempt, None, failed, cause).await?);
        };
        let found = self.ports.users.find_by_email(&email).await;
        match found.map_err(Failure::from)? {
            Some(owner) => self.link_by_email(owner, identity, attempt).await,
            None => self.register(email, identity, attempt).await,
        }
    }

    /// The user the external account is linked to, if any, with the email marked
    /// verified when the provider vouches for it.
    async fn linked_user(
        &self,
        identity: &ExternalIdentity,
        attempt: &Attempt<'_>,
    ) -> Result<Option<User>, Failure> {
        let accounts = &self.ports.accounts;
        let Some(account) = accounts
            .find_by_subject(attempt.provider, &identity.subject)
            .await?
        else {
            return Ok(None);
        };
        // A user deleted since (the link goes with it) is as good as never linked.
        let Some(user) = self.ports.users.find_by_id(account.user_id).await? else {
            return Ok(None);
        };
        Ok(Some(
            self.verify_email_if_vouched(user, identity, attempt)
                .await?,
        ))
    }

    /// Marks `user`'s email verified when the provider says it verified that same
    /// address (SPEC 4.1: an OAuth login with a provider-verified email does), with its
    /// `email.verify` entry in the same transaction.
    async fn verify_email_if_vouched(
        &self,
        mut user: User,
        identity: &ExternalIdentity,
        attempt: &Attempt<'_>,
    ) -> Result<User, Failure> {
        let vouched = identity.email_verified && usable_email(identity) == Some(user.email.clone());
        if vouched && !user.email_verified {
            let now = self.ports.clock.now();
            let (id, provider) = (user.id, attempt.provider.to_owned());
            let audit = self.ports.audit.after(attempt.client, move |(): &()| {
                vec![
                    AuditEvent::self_service("email.verify", id)
                        .with("method", "oauth")
                        .with("provider", provider),
                ]
            });
            self.ports.users.mark_email_verified(id, now, audit).await?;
            user.email_verified = true;
            user.email_verified_at = Some(now);
        }
        Ok(user)
    }

    /// Links the external account to `owner`, who has the provider's email, only if the
    /// provider says it verified that email (anyone can claim an address at a provider
    /// that does not check it) and `owner` verified it too (else whoever registered the
    /// address without owning the mailbox would own the account its owner signs into).
    /// Otherwise `EmailTaken`, and nothing is written: the owner proves the mailbox
    /// (verification or reset), then links the provider while signed in. In every case
    /// a concurrent first login that linked this external account meanwhile wins: this
    /// one signs in as that account's user.
    async fn link_by_email(
        &self,
        owner: User,
        identity: &ExternalIdentity,
        attempt: &Attempt<'_>,
    ) -> Result<User, OAuthError> {
        let refused = if !identity.email_verified {
            Some((OAuthError::EmailTaken, "provider email not verified"))
        } else if !owner.email_verified {
            Some((OAuthError::EmailTaken, "account email not verified"))
        } else if owner.status != UserStatus::Active {
            Some((OAuthError::AccountDisabled, "account not active"))
        } else {
            None
        };
        if let Some((error, cause)) = refused {
            if let Some(user) = self.linked_user(identity, attempt).await? {
                return Ok(user);
            }
            return Err(self
                .refuse(attempt, Some(owner.id), error, Some(cause))
                .await?);
        }
        let link = self.link_of(attempt.provider, identity);
        let audit = self
            .ports
            .audit
            .after(attempt.client, |account: &OAuthAccount| {
                vec![link_event(account).with("via", "email")]
            });
        match self.ports.accounts.link(owner.id, link, audit).await {
            // The owner's email is verified already: nothing to mark.
            Ok(_) => Ok(owner),
            // Either constraint may be reported when both are broken: the same external
            // account's first login, concurrently, linked it first (to `owner` or to the
            // user it created), or `owner` has another account of the provider.
            Err(StoreError::Conflict(
                constraint @ (Constraint::OAuthSubject | Constraint::OAuthUserProvider),
            )) => match self.linked_user(identity, attempt).await? {
                Some(user) => Ok(user),
                None if constraint == Constraint::OAuthSubject => {
                    Err(vanished("account linked concurrently, then gone").into())
                }
                None => {
                    let (taken, cause) = (OAuthError::EmailTaken, Some("another account linked"));
                    Err(self.refuse(attempt, Some(owner.id), taken, cause).await?)
                }
            },
            Err(StoreError::Conflict(Constraint::DeletedUser)) => {
                let disabled = OAuthError::AccountDisabled;
                Err(self.refuse(attempt, Some(owner.id), disabled, None).await?)
            }
            Err(other) => Err(Failure::from(other).into()),
        }
    }

    /// Creates a user without a password together with its link, writing
    /// `user.register` and `oauth.link` in the same transaction. A concurrent first
    /// login of the same account wins: this one signs in as the user it made. An email
    /// registered meanwhile is decided once more, as an existing user's.
    async fn register(
        &self,
        email: Email,
        identity: &ExternalIdentity,
        attempt: &Attempt<'_>,
    ) -> Result<User, OAuthError> {
        let new_user = NewUser {
            email: email.clone(),
            password_hash: None,
            first_name: acceptable_name(identity.first_name.clone()),
            last_name: acceptable_name(identity.last_name.clone()),
            email_verified: identity.email_verified,
            role: Some(DEFAULT_ROLE.to_owned()),
            verification: None,
            created_at: self.ports.clock.now(),
        };
        let link = self.link_of(attempt.provider, identity);
        let provider = attempt.provider.to_owned();
        let audit = self.ports.audit.after(
            attempt.client,
            move |(user, account): &(User, OAuthAccount)| {
                vec![
                    AuditEvent::self_service("user.register", user.id)
                        .with("method", "oauth")
                        .with("provider", provider)
                        .with("role", DEFAULT_ROLE),
                    link_event(account).with("via", "register"),
                ]
            },
        );
        let users = &self.ports.users;
        match users.create_with_oauth(new_user, link, audit).await {
            Ok((user, _)) => Ok(user),
            Err(StoreError::Conflict(Constraint::OAuthSubject)) => self
                .linked_user(identity, attempt)
                .await?
                .ok_or_else(|| vanished("account linked concurrently, then gone").into()),
            Err(StoreError::Conflict(Constraint::UserEmail)) => {
                let found = users.find_by_email(&email).await.map_err(Failure::from)?;
                let owner = found.ok_or_else(|| vanished("email taken concurrently, then gone"))?;
                self.link_by_email(owner, identity, attempt).await
            }
            Err(other) => Err(Failure::from(other).into()),
        }
    }

    /// Opens the session (`auth.login` with its id, in the same transaction) if the
    /// account is still active.
    async fn open_session(
        &self,
        user: User,
        attempt: &Attempt<'_>,
    ) -> Result<LoginSuccess, OAuthError> {
        let now = self.ports.clock.now();
        let (token, token_hash) = self.ports.tokens.generate();
        let event = attempt.event(Some(user.id));
        let audit = self
            .ports
            .audit
            .after(attempt.client, move |session: &Session| {
                vec![event.opened(session)]
            });
        let new_session = NewSession {
            user_id: user.id,
            token_hash,
            expires_at: Self::expiry(now, self.policy.session_ttl)?,
            ip_address: attempt.client.ip,
            user_agent: attempt.client.user_agent.clone(),
            created_at: now,
            auth_methods: vec![AuthMethod::OAuth],
        };
        let sessions = &self.ports.sessions;
        let opened = sessions.open_without_password(new_session, audit).await;
        match opened.map_err(Failure::from)? {
            Some(opened) => Ok(LoginSuccess::new(token, opened)),
            None => {
                let disabled = OAuthError::AccountDisabled;
                Err(self.refuse(attempt, Some(user.id), disabled, None).await?)
            }
        }
    }
}
