//! `user_roles`: which user holds which role, and who assigned it.

use crate::sql::{Dialects, sql_migration};
use sea_orm_migration::prelude::*;

sql_migration!();

const UP: Dialects = Dialects {
    postgres: r#"
CREATE TABLE user_roles (
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id     UUID NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    assigned_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    assigned_by UUID REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX idx_user_roles_role_id ON user_roles (role_id);
"#,
    sqlite: r#"
CREATE TABLE user_roles (
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id     BLOB NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    assigned_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    assigned_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (user_id, role_id)
) WITHOUT ROWID;
CREATE INDEX idx_user_roles_role_id ON user_roles (role_id);
"#,
};

const DOWN: Dialects = Dialects {
    postgres: "DROP TABLE user_roles;",
    sqlite: "DROP TABLE user_roles;",
};
