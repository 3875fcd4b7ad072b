//! `roles`: named sets of permission strings (JSON arrays; GIN-indexed on PostgreSQL).

use crate::sql::{Dialects, sql_migration};
use sea_orm_migration::prelude::*;

sql_migration!();

const UP: Dialects = Dialects {
    postgres: r#"
CREATE TABLE roles (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name        VARCHAR(64) NOT NULL,
    description TEXT,
    permissions JSONB NOT NULL DEFAULT '[]'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT roles_name_key UNIQUE (name),
    CONSTRAINT roles_permissions_check CHECK (jsonb_typeof(permissions) = 'array')
);
CREATE INDEX idx_roles_permissions ON roles USING GIN (permissions);

CREATE TRIGGER trg_roles_updated_at BEFORE UPDATE ON roles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
"#,
    sqlite: r#"
CREATE TABLE roles (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    permissions TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT roles_name_key UNIQUE (name),
    CONSTRAINT roles_name_length_check CHECK (length(name) <= 64),
    CONSTRAINT roles_permissions_check
        CHECK (json_valid(permissions) AND json_type(permissions) = 'array')
);

CREATE TRIGGER trg_roles_updated_at AFTER UPDATE ON roles
    FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE roles SET updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE id = NEW.id;
END;
"#,
};

const DOWN: Dialects = Dialects {
    postgres: "DROP TABLE roles;",
    sqlite: "DROP TABLE roles;",
};
