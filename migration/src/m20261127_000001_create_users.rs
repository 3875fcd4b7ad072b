//! `users`: accounts and their login state, with the `updated_at` trigger (on PostgreSQL
//! the shared `set_updated_at()` function, which later tables reuse).

use crate::sql::{Dialects, sql_migration};
use sea_orm_migration::prelude::*;

sql_migration!();

const UP: Dialects = Dialects {
    postgres: r#"
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END
$$;

CREATE TABLE users (
    id                    UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email                 VARCHAR(254) NOT NULL,
    password_hash         TEXT,
    status                VARCHAR(16) NOT NULL DEFAULT 'active',
    email_verified        BOOLEAN NOT NULL DEFAULT FALSE,
    email_verified_at     TIMESTAMPTZ,
    failed_login_attempts INTEGER NOT NULL DEFAULT 0,
    last_failed_login_at  TIMESTAMPTZ,
    locked_until          TIMESTAMPTZ,
    first_name            VARCHAR(100),
    last_name             VARCHAR(100),
    oauth_providers       JSONB NOT NULL DEFAULT '[]'::jsonb,
    last_login_at         TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_status_check
        CHECK (status IN ('active', 'inactive', 'suspended', 'deleted')),
    CONSTRAINT users_failed_login_attempts_check CHECK (failed_login_attempts >= 0),
    CONSTRAINT users_oauth_providers_check CHECK (jsonb_typeof(oauth_providers) = 'array')
);
CREATE INDEX idx_users_status ON users (status);
CREATE INDEX idx_users_created_at ON users (created_at, id);
CREATE INDEX idx_users_locked_until ON users (locked_until) WHERE locked_until IS NOT NULL;

CREATE TRIGGER trg_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
"#,
    sqlite: r#"
CREATE TABLE users (
    id                    BLOB PRIMARY KEY NOT NULL,
    email                 TEXT NOT NULL,
    password_hash         TEXT,
    status                TEXT NOT NULL DEFAULT 'active',
    email_verified        BOOLEAN NOT NULL DEFAULT 0,
    email_verified_at     TEXT,
    failed_login_attempts INTEGER NOT NULL DEFAULT 0,
    last_failed_login_at  TEXT,
    locked_until          TEXT,
    first_name            TEXT,
    last_name             TEXT,
    oauth_providers       TEXT NOT NULL DEFAULT '[]',
    last_login_at         TEXT,
    created_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_status_check
        CHECK (status IN ('active', 'inactive', 'suspended', 'deleted')),
    CONSTRAINT users_email_length_check CHECK (length(email) <= 254),
    CONSTRAINT users_failed_login_attempts_check CHECK (failed_login_attempts >= 0),
    CONSTRAINT users_oauth_providers_check
        CHECK (json_valid(oauth_providers) AND json_type(oauth_providers) = 'array')
);
CREATE INDEX idx_users_status ON users (status);
CREATE INDEX idx_users_created_at ON users (created_at, id);
CREATE INDEX idx_users_locked_until ON users (locked_until) WHERE locked_until IS NOT NULL;

-- Timestamps use the format the driver writes (RFC 3339, +00:00) so they compare as text.
CREATE TRIGGER trg_users_updated_at AFTER UPDATE ON users
    FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE users SET updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE id = NEW.id;
END;
"#,
};

const DOWN: Dialects = Dialects {
    postgres: r#"
DROP TABLE users;
DROP FUNCTION set_updated_at();
"#,
    sqlite: r#"
DROP TABLE users;
"#,
};
