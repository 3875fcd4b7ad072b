//! Accounts in bulk: an import batch in one transaction (checked against what is there,
//! then written with multi-row inserts), and export pages in id order.

use crate::audit;
use crate::entities::{oauth_accounts, roles, user_roles, users};
use crate::error::{DbResultExt, begin_write};
use auth_ports::{
    AccountToImport, Imported, NewAuditEntry, OAuthAccountId, PortableOAuthAccount, PortableUser,
    StoreError, User, UserId, UserTransfer,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    RelationTrait, Set,
};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The bulk side of users, over a connection pool.
#[derive(Debug, Clone)]
pub struct SeaOrmUserTransfer {
    db: DatabaseConnection,
}

impl SeaOrmUserTransfer {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl UserTransfer for SeaOrmUserTransfer {
    async fn import(
        &self,
        batch: Vec<AccountToImport>,
        audit: Vec<NewAuditEntry>,
    ) -> Result<Vec<Imported>, StoreError> {
        let txn = begin_write(&self.db).await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            // A table filling fast is planned with stale statistics until autovacuum
            // analyzes it, and a scan per batch made 100,000 accounts take a minute
            // instead of seconds; the lookups below have their indexes.
            txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await
                .store()?;
        }
        let outcomes = classify(&txn, &batch).await?;
        let role_ids = role_ids(&txn, &batch).await?;
        let (mut accounts, mut assignments, mut links, mut entries) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((AccountToImport { account: user, .. }, outcome), entry) in
            batch.into_iter().zip(&outcomes).zip(audit)
        {
            if *outcome != Imported::Created {
                continue;
            }
            for role in &user.roles {
                let role_id = role_ids.get(role).ok_or(StoreError::NotFound)?;
                assignments.push(user_roles::ActiveModel {
                    user_id: Set(user.id.0),
                    role_id: Set(*role_id),
                    assigned_at: Set(user.created_at),
                    assigned_by: Set(None),
                });
            }
            links.extend(
                user.oauth_accounts
                    .iter()
                    .map(|link| oauth_accounts::ActiveModel {
                        id: Set(OAuthAccountId::new().0),
                        user_id: Set(user.id.0),
                        provider: Set(link.provider.clone()),
                        provider_user_id: Set(link.provider_user_id.clone()),
                        provider_email: Set(link.provider_email.clone()),
                        access_token: Set(None),
                        refresh_token: Set(None),
                        token_expires_at: Set(None),
                        scopes: Set(None),
                        created_at: Set(user.created_at),
                        updated_at: Set(user.created_at),
                    }),
            );
            accounts.push(row(user));
            entries.push(audit::row(entry));
        }
        insert_all(&txn, accounts).await?;
        insert_all(&txn, entries).await?;
        insert_all(&txn, assignments).await?;
        insert_all(&txn, links).await?;
        txn.commit().await.store()?;
        Ok(outcomes)
    }

    async fn export(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<PortableUser>, StoreError> {
        let page = users::Entity::find()
            .apply_if(after, |s, after| s.filter(users::Column::Id.gt(after.0)))
            .order_by_asc(users::Column::Id)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .store()?;
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            return Ok(Vec::new());
        };
        // The page's ids as a range, not a list: a short statement on the index.
        let (first, last) = (first.id, last.id);
        let mut roles: HashMap<Uuid, Vec<String>> = HashMap::new();
        let assigned: Vec<(Uuid, String)> = user_roles::Entity::find()
            .select_only()
            .column(user_roles::Column::UserId)
            .column(roles::Column::Name)
            .join(JoinType::InnerJoin, user_roles::Relation::Role.def())
            .filter(user_roles::Column::UserId.between(first, last))
            .into_tuple()
            .all(&self.db)
            .await
            .store()?;
        for (user_id, name) in assigned {
            roles.entry(user_id).or_default().push(name);
        }
        let mut links: HashMap<Uuid, Vec<PortableOAuthAccount>> = HashMap::new();
        let linked = oauth_accounts::Entity::find()
            .filter(oauth_accounts::Column::UserId.between(first, last))
            .all(&self.db)
            .await
            .store()?;
        for link in linked {
            links
                .entry(link.user_id)
                .or_default()
                .push(PortableOAuthAccount {
                    provider: link.provider,
                    provider_user_id: link.provider_user_id,
                    provider_email: link.provider_email,
                });
        }
        page.into_iter()
            .map(|model| {
                let id = model.id;
                let user = User::try_from(model)?;
                let mut roles = roles.remove(&id).unwrap_or_default();
                roles.sort();
                let mut oauth_accounts = links.remove(&id).unwrap_or_default();
                oauth_accounts.sort_by(|a, b| a.provider.cmp(&b.provider));
                Ok(PortableUser {
                    id: user.id,
                    email: user.email,
                    status: user.status,
                    email_verified: user.email_verified,
                    first_name: user.first_name,
                    last_name: user.last_name,
                    roles,
                    created_at: user.created_at,
                    password_hash: user.password_hash,
                    oauth_accounts,
                })
            })
            .collect()
    }
}

/// Rows per `INSERT`: a statement of a few dozen kilobytes. sqlx leaves Nagle's
/// algorithm on, so a statement longer than one TCP segment can wait for a delayed ACK
/// (40 ms) before its last bytes leave; a batch of 500 accounts in 500-row statements
/// took seven times as long over TCP as over a Unix socket.
const ROWS_PER_INSERT: usize = 64;

/// Inserts `rows` on `txn`, [`ROWS_PER_INSERT`] at a time.
async fn insert_all<A>(txn: &DatabaseTransaction, rows: Vec<A>) -> Result<(), StoreError>
where
    A: ActiveModelTrait + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        A::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await
            .store()?;
    }
    Ok(())
}

/// What would become of each account of `batch`, judged by what is stored now (the
/// batch itself has no two accounts with one email, id or provider account).
async fn classify(
    txn: &impl sea_orm::ConnectionTrait,
    batch: &[AccountToImport],
) -> Result<Vec<Imported>, StoreError> {
    let emails: Vec<&str> = batch.iter().map(|a| a.account.email.as_str()).collect();
    let ids: Vec<Uuid> = batch.iter().map(|a| a.account.id.0).collect();
    // Two lookups, not one with OR: each then uses its index instead of a scan.
    let mut existing: Vec<(Uuid, String)> = Vec::new();
    for matching in [
        users::Column::Email.is_in(emails),
        users::Column::Id.is_in(ids),
    ] {
        let found: Vec<(Uuid, String)> = users::Entity::find()
            .select_only()
            .columns([users::Column::Id, users::Column::Email])
            .filter(matching)
            .into_tuple()
            .all(txn)
            .await
            .store()?;
        existing.extend(found);
    }
    let by_email: HashMap<&str, Uuid> = existing.iter().map(|(id, e)| (e.as_str(), *id)).collect();
    let taken_ids: HashSet<Uuid> = existing.iter().map(|(id, _)| *id).collect();
    let subjects: Vec<&str> = batch
        .iter()
        .flat_map(|a| &a.account.oauth_accounts)
        .map(|link| link.provider_user_id.as_str())
        .collect();
    let linked: HashSet<(String, String)> = if subjects.is_empty() {
        HashSet::new()
    } else {
        oauth_accounts::Entity::find()
            .select_only()
            .columns([
                oauth_accounts::Column::Provider,
                oauth_accounts::Column::ProviderUserId,
            ])
            .filter(oauth_accounts::Column::ProviderUserId.is_in(subjects))
            .into_tuple()
            .all(txn)
            .await
            .store()?
            .into_iter()
            .collect()
    };
    Ok(batch
        .iter()
        .map(
            |AccountToImport {
                 account: user,
                 id_given,
             }| match by_email.get(user.email.as_str()) {
                Some(id) if *id == user.id.0 || !id_given => Imported::Present,
                Some(_) => Imported::Clashes,
                None if taken_ids.contains(&user.id.0) => Imported::Clashes,
                None if user.oauth_accounts.iter().any(|link| {
                    linked.contains(&(link.provider.clone(), link.provider_user_id.clone()))
                }) =>
                {
                    Imported::LinkTaken
                }
                None => Imported::Created,
            },
        )
        .collect())
}

/// The ids of the roles the batch names; `NotFound` when one does not exist.
async fn role_ids(
    txn: &impl sea_orm::ConnectionTrait,
    batch: &[AccountToImport],
) -> Result<HashMap<String, Uuid>, StoreError> {
    let names: HashSet<&str> = batch
        .iter()
        .flat_map(|a| &a.account.roles)
        .map(String::as_str)
        .collect();
    let found: Vec<(Uuid, String)> = roles::Entity::find()
        .select_only()
        .columns([roles::Column::Id, roles::Column::Name])
        .filter(roles::Column::Name.is_in(names.iter().copied()))
        .into_tuple()
        .all(txn)
        .await
        .store()?;
    if found.len() != names.len() {
        return Err(StoreError::NotFound);
    }
    Ok(found.into_iter().map(|(id, name)| (name, id)).collect())
}

/// The users row of an imported account: no failed logins, no lock, no last login.
fn row(user: PortableUser) -> users::ActiveModel {
    let providers: Vec<&str> = user
        .oauth_accounts
        .iter()
        .map(|link| link.provider.as_str())
        .collect();
    users::ActiveModel {
        id: Set(user.id.0),
        email: Set(user.email.as_str().to_owned()),
        password_hash: Set(user.password_hash.as_ref().map(|h| h.expose().to_owned())),
        status: Set(user.status.as_str().to_owned()),
        email_verified: Set(user.email_verified),
        email_verified_at: Set(user.email_verified.then_some(user.created_at)),
        failed_login_attempts: Set(0),
        last_failed_login_at: Set(None),
        locked_until: Set(None),
        first_name: Set(user.first_name),
        last_name: Set(user.last_name),
        oauth_providers: Set(serde_json::json!(providers)),
        last_login_at: Set(None),
        created_at: Set(user.created_at),
        updated_at: Set(user.created_at),
    }
}
