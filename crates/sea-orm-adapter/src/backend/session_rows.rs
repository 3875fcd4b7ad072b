//! The rows of the session lookup every authenticated request makes: one statement
//! joining the session, its user and the user's roles, for one token or a batch of
//! them, and how its rows read back into [`ActiveSession`]s.

use crate::entities::{roles, sessions, user_roles, users};
use crate::error::{DbResultExt, corrupt};
use auth_ports::{ActiveSession, StoreError};
use sea_orm::sea_query::Expr;
use sea_orm::{
    DbErr, EntityTrait, JoinType, QueryFilter, QueryResult, QuerySelect, RelationDef,
    RelationTrait, SelectTwo, TryGetable,
};
use std::collections::BTreeSet;

/// The sessions (in whatever state) among the rows of a batch, one per token found.
pub(super) fn sessions_in(rows: &[QueryResult]) -> Result<Vec<ActiveSession>, StoreError> {
    let mut by_token: Vec<(Vec<u8>, Vec<&QueryResult>)> = Vec::new();
    for row in rows {
        let token: Vec<u8> = row.try_get_by_index(TOKEN_HASH_AT).store()?;
        match by_token.iter_mut().find(|(seen, _)| *seen == token) {
            Some((_, of_token)) => of_token.push(row),
            None => by_token.push((token, vec![row])),
        }
    }
    let mut found = Vec::with_capacity(by_token.len());
    for (_, of_token) in by_token {
        found.extend(active_session(&of_token)?);
    }
    Ok(found)
}

/// The lookup: one row per role of the user (one with NULL role columns for a user
/// without roles), holding the session's columns, then its user's, then the role's
/// name and permissions.
pub(super) fn lookup_query(token: impl Into<Expr>) -> SelectTwo<sessions::Entity, users::Entity> {
    let user_of_session: RelationDef = sessions::Entity::belongs_to(users::Entity)
        .from(sessions::Column::UserId)
        .to(users::Column::Id)
        .into();
    sessions::Entity::find()
        .select_also(users::Entity)
        .join(JoinType::InnerJoin, user_of_session)
        .join(JoinType::LeftJoin, user_roles::Relation::User.def().rev())
        .join(JoinType::LeftJoin, user_roles::Relation::Role.def())
        .column(roles::Column::Name)
        .column(roles::Column::Permissions)
        .filter(token.into())
}

/// The position of `sessions.token_hash` in a lookup row.
pub(super) const TOKEN_HASH_AT: usize = 2;

/// The session in the rows of one token (in whatever state), if any.
pub(super) fn active_session<R: std::borrow::Borrow<QueryResult>>(
    rows: &[R],
) -> Result<Option<ActiveSession>, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut columns = Columns::of(first.borrow());
    let session = columns.session().store()?;
    let user = columns.user().store()?;
    let role_at = columns.at;
    let (mut names, mut permissions) = (BTreeSet::new(), BTreeSet::new());
    for row in rows {
        let mut columns = Columns {
            row: row.borrow(),
            at: role_at,
        };
        if let Some(name) = columns.next::<Option<String>>().store()? {
            let granted: Option<serde_json::Value> = columns.next().store()?;
            let granted: Vec<String> = serde_json::from_value(granted.unwrap_or_default())
                .map_err(|e| corrupt("roles.permissions", e))?;
            names.insert(name);
            permissions.extend(granted);
        }
    }
    Ok(Some(ActiveSession {
        session: session.try_into()?,
        user: user.try_into()?,
        roles: names.into_iter().collect(),
        permissions: permissions.into_iter().collect(),
    }))
}

/// Reads a lookup row's columns by position, in the order they were selected (by name,
/// each read would format and search for its prefixed name).
struct Columns<'r> {
    row: &'r QueryResult,
    at: usize,
}

impl<'r> Columns<'r> {
    fn of(row: &'r QueryResult) -> Self {
        Self { row, at: 0 }
    }

    fn next<T: TryGetable>(&mut self) -> Result<T, DbErr> {
        let value = self.row.try_get_by_index(self.at);
        self.at += 1;
        value
    }

    /// The fields in the order of the entity's columns, as `select_also` selects them.
    fn session(&mut self) -> Result<sessions::Model, DbErr> {
        Ok(sessions::Model {
            id: self.next()?,
            user_id: self.next()?,
            token_hash: self.next()?,
            expires_at: self.next()?,
            ip_address: self.next()?,
            user_agent: self.next()?,
            is_active: self.next()?,
            last_accessed_at: self.next()?,
            created_at: self.next()?,
            revoked_at: self.next()?,
            authenticated_at: self.next()?,
            auth_methods: self.next()?,
        })
    }

    fn user(&mut self) -> Result<users::Model, DbErr> {
        Ok(users::Model {
            id: self.next()?,
            email: self.next()?,
            password_hash: self.next()?,
            status: self.next()?,
            email_verified: self.next()?,
            email_verified_at: self.next()?,
            failed_login_attempts: self.next()?,
            last_failed_login_at: self.next()?,
            locked_until: self.next()?,
            first_name: self.next()?,
            last_name: self.next()?,
            oauth_providers: self.next()?,
            last_login_at: self.next()?,
            created_at: self.next()?,
            updated_at: self.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{DbBackend, QueryTrait as _};

    #[test]
    fn the_token_hash_is_the_third_column_of_a_lookup_row() {
        let sql = lookup_query(Expr::cust("true"))
            .build(DbBackend::Postgres)
            .sql;
        let columns = sql.split(" FROM ").next().unwrap_or_default();
        assert_eq!(
            columns.split(", ").nth(TOKEN_HASH_AT),
            Some(r#""sessions"."token_hash" AS "A_token_hash""#)
        );
    }
}
