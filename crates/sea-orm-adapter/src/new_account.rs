//! A new account's rows, built once for either way of writing them (PostgreSQL's one
//! statement, or a transaction).

use crate::entities::{mail_outbox, one_time_tokens as tokens, roles, user_roles, users};
use crate::error::DbResultExt;
use crate::mail_outbox::mail_row;
use crate::shared_writes::token_row;
use auth_ports::{NewOneTimeToken, NewUser, StoreError, TokenPurpose, UserId, UserStatus};
use sea_orm::sea_query::{Expr, InsertStatement, Query};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, Set};

/// The rows of one new account.
#[derive(Clone)]
pub(crate) struct NewAccount {
    pub(crate) user: users::ActiveModel,
    pub(crate) verification: Option<tokens::ActiveModel>,
    /// The verification mail, for the outbox.
    pub(crate) mail: Option<mail_outbox::ActiveModel>,
    /// The role named by the insert itself (`… SELECT …, roles.id, … FROM roles WHERE
    /// name = ?`): one statement, no lookup before it.
    pub(crate) role: Option<(String, InsertStatement)>,
}

impl NewAccount {
    pub(crate) fn new(user: NewUser, oauth_providers: &[&str]) -> Result<Self, StoreError> {
        let id = UserId::new();
        let (verification, mail) = match user.verification {
            Some(verification) => (
                Some(token_row(NewOneTimeToken {
                    user_id: id,
                    purpose: TokenPurpose::EmailVerification,
                    token_hash: verification.token_hash,
                    expires_at: verification.expires_at,
                    created_at: user.created_at,
                })),
                Some(mail_row(verification.mail, user.created_at)),
            ),
            None => (None, None),
        };
        let role = match user.role {
            Some(name) => {
                let assign = Query::insert()
                    .into_table(user_roles::Entity)
                    .columns([
                        user_roles::Column::UserId,
                        user_roles::Column::RoleId,
                        user_roles::Column::AssignedAt,
                    ])
                    .select_from(
                        Query::select()
                            .expr(Expr::val(id.0))
                            .column(roles::Column::Id)
                            .expr(Expr::val(user.created_at))
                            .from(roles::Entity)
                            .and_where(roles::Column::Name.eq(name.as_str()))
                            .to_owned(),
                    )
                    .map_err(|e| StoreError::Other(e.into()))?
                    .to_owned();
                Some((name, assign))
            }
            None => None,
        };
        let user = users::ActiveModel {
            id: Set(id.0),
            email: Set(user.email.as_str().to_owned()),
            password_hash: Set(user.password_hash.map(|h| h.expose().to_owned())),
            status: Set(UserStatus::Active.as_str().to_owned()),
            email_verified: Set(user.email_verified),
            email_verified_at: Set(user.email_verified.then_some(user.created_at)),
            failed_login_attempts: Set(0),
            last_failed_login_at: Set(None),
            locked_until: Set(None),
            first_name: Set(user.first_name),
            last_name: Set(user.last_name),
            oauth_providers: Set(serde_json::json!(oauth_providers)),
            last_login_at: Set(None),
            created_at: Set(user.created_at),
            updated_at: Set(user.created_at),
        };
        Ok(Self {
            user,
            verification,
            mail,
            role,
        })
    }

    /// Inserts the rows on the caller's transaction; `NotFound` when the role does not
    /// exist.
    pub(crate) async fn insert(
        self,
        txn: &impl ConnectionTrait,
    ) -> Result<users::Model, StoreError> {
        let created = self.user.insert(txn).await.store()?;
        if let Some(token) = self.verification {
            token.insert(txn).await.store()?;
        }
        if let Some(mail) = self.mail {
            mail.insert(txn).await.store()?;
        }
        if let Some((_, assign)) = self.role {
            let assigned = txn.execute(&assign).await.store()?;
            if assigned.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        Ok(created)
    }
}
