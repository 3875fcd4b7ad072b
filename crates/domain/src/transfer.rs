//! Whole accounts in and out of authd (`authd users import|export`): what an imported
//! account must be, and the audit entry of each one created. Accounts already there are
//! never touched, so an import can be run again after a failure or with a longer file.

use crate::audit::{AuditEvent, ClientInfo, entry};
use crate::auth::DEFAULT_ROLE;
use crate::error::{Failure, FieldErrors};
use crate::names::{check_name, non_blank};
use auth_ports::{
    AccountToImport, Clock, Email, Imported, PasswordHash, PasswordHasher, PortableOAuthAccount,
    PortableUser, RoleRepository, UserId, UserStatus, UserTransfer,
};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// Longest provider name or provider subject an import takes.
const MAX_PROVIDER_FIELD: usize = 255;

/// An account as an import file gives it, before it is checked; absent fields get the
/// defaults a registration would have.
#[derive(Debug, Clone, Default)]
pub struct IncomingUser {
    /// Kept when given (it may be what other systems know the account by); else new.
    pub id: Option<UserId>,
    /// The address as the other system has it; normalised here.
    pub email: String,
    /// `active` when absent.
    pub status: Option<String>,
    /// Whether the address was confirmed.
    pub email_verified: bool,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Role names; `user` when absent, none when empty.
    pub roles: Option<Vec<String>>,
    /// The import time when absent.
    pub created_at: Option<DateTime<Utc>>,
    /// A hash in a format the hasher accepts; `None` for no password.
    pub password_hash: Option<String>,
    /// Linked provider accounts.
    pub oauth_accounts: Vec<PortableOAuthAccount>,
}

/// Imports and exports accounts for the operator's command line.
#[derive(Clone)]
pub struct TransferService {
    transfer: Arc<dyn UserTransfer>,
    roles: Arc<dyn RoleRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
}

/// Checks the accounts of one import run: each on its own, and against the accounts
/// before it in the same run (one email, id or provider account twice is a mistake in
/// the file, not a re-run).
pub struct Importer {
    roles: HashSet<String>,
    hasher: Arc<dyn PasswordHasher>,
    now: DateTime<Utc>,
    emails: HashSet<Email>,
    ids: HashSet<UserId>,
    subjects: HashSet<(String, String)>,
}

impl TransferService {
    /// A service over these ports.
    #[must_use]
    pub fn new(
        transfer: Arc<dyn UserTransfer>,
        roles: Arc<dyn RoleRepository>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            transfer,
            roles,
            hasher,
            clock,
        }
    }

    /// The checker of one import run, knowing the roles that exist now.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn importer(&self) -> Result<Importer, Failure> {
        let roles = self.roles.list().await?;
        Ok(Importer {
            roles: roles.into_iter().map(|role| role.name).collect(),
            hasher: Arc::clone(&self.hasher),
            now: self.clock.now(),
            emails: HashSet::new(),
            ids: HashSet::new(),
            subjects: HashSet::new(),
        })
    }

    /// Creates the accounts of `batch` not there yet, in one transaction, each with a
    /// `user.register` entry (`details.via = "import"`); says what became of each.
    ///
    /// # Errors
    /// Storage failures (nothing of the batch is written then).
    pub async fn import(&self, batch: Vec<AccountToImport>) -> Result<Vec<Imported>, Failure> {
        let now = self.clock.now();
        let entries = batch
            .iter()
            .map(|AccountToImport { account: user, .. }| {
                let event = AuditEvent::self_service("user.register", user.id)
                    .with("via", "import")
                    .with("roles", user.roles.clone());
                entry(event, &ClientInfo::default(), now)
            })
            .collect();
        Ok(self.transfer.import(batch, entries).await?)
    }

    /// Up to `limit` accounts in id order after `after`, for `authd users export`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn export(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<PortableUser>, Failure> {
        Ok(self.transfer.export(after, limit).await?)
    }
}

impl Importer {
    /// `incoming` as it will be stored, or every problem with it by field.
    ///
    /// # Errors
    /// The fields that break a rule, with what is wrong (never a hash's text).
    pub fn check(&mut self, incoming: IncomingUser) -> Result<AccountToImport, FieldErrors> {
        let mut errors = FieldErrors::default();
        let email = Email::parse(&incoming.email)
            .map_err(|e| errors.add("email", e.to_string()))
            .ok();
        if email.as_ref().is_some_and(|e| self.emails.contains(e)) {
            errors.add("email", "appears earlier in this import");
        }
        let id = incoming.id.unwrap_or_default();
        if self.ids.contains(&id) {
            errors.add("id", "appears earlier in this import");
        }
        let status = match incoming.status.as_deref() {
            None => UserStatus::Active,
            Some(status) => status.parse().unwrap_or_else(|_| {
                errors.add(
                    "status",
                    "must be one of active, inactive, suspended, deleted",
                );
                UserStatus::Active
            }),
        };
        let first_name = non_blank(incoming.first_name);
        let last_name = non_blank(incoming.last_name);
        check_name(&mut errors, "first_name", first_name.as_ref());
        check_name(&mut errors, "last_name", last_name.as_ref());
        let roles: BTreeSet<String> = incoming
            .roles
            .unwrap_or_else(|| vec![DEFAULT_ROLE.to_owned()])
            .into_iter()
            .collect();
        if let Some(unknown) = roles.iter().find(|role| !self.roles.contains(*role)) {
            errors.add("roles", format!("there is no role named {unknown:?}"));
        }
        let password_hash = incoming.password_hash.map(PasswordHash::new);
        if password_hash
            .as_ref()
            .is_some_and(|hash| !self.hasher.accepts(hash))
        {
            errors.add(
                "password_hash",
                "is not a hash authd can check (argon2, bcrypt, Better-Auth or Firebase \
                 scrypt, Django or PHC PBKDF2; docs/operations.md)",
            );
        }
        self.check_links(&mut errors, &incoming.oauth_accounts);
        errors.into_result()?;
        let Some(email) = email else {
            return Err(FieldErrors::default());
        };
        self.emails.insert(email.clone());
        self.ids.insert(id);
        let mut oauth_accounts = incoming.oauth_accounts;
        oauth_accounts.sort_by(|a, b| a.provider.cmp(&b.provider));
        self.subjects.extend(
            oauth_accounts
                .iter()
                .map(|link| (link.provider.clone(), link.provider_user_id.clone())),
        );
        let account = PortableUser {
            id,
            email,
            status,
            email_verified: incoming.email_verified,
            first_name,
            last_name,
            roles: roles.into_iter().collect(),
            created_at: incoming.created_at.unwrap_or(self.now),
            password_hash,
            oauth_accounts,
        };
        Ok(AccountToImport {
            account,
            id_given: incoming.id.is_some(),
        })
    }

    fn check_links(&self, errors: &mut FieldErrors, links: &[PortableOAuthAccount]) {
        let mut providers = HashSet::new();
        for link in links {
            let fits = |s: &str| !s.is_empty() && s.chars().count() <= MAX_PROVIDER_FIELD;
            if !fits(&link.provider) || !fits(&link.provider_user_id) {
                errors.add(
                    "oauth_accounts",
                    "provider and provider_user_id must be 1 to 255 characters",
                );
            } else if !providers.insert(link.provider.as_str()) {
                errors.add("oauth_accounts", "one provider appears twice");
            } else if self
                .subjects
                .contains(&(link.provider.clone(), link.provider_user_id.clone()))
            {
                errors.add(
                    "oauth_accounts",
                    format!(
                        "the {} account appears earlier in this import",
                        link.provider
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
