//! `sessions`: server-side sessions, found by the SHA-256 of their token (the raw token
//! is never stored).

use crate::sql::{Dialects, sql_migration};
use sea_orm_migration::prelude::*;

sql_migration!();

const UP: Dialects = Dialects {
    postgres: r#"
CREATE TABLE sessions (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash       BYTEA NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    ip_address       INET,
    user_agent       TEXT,
    is_active        BOOLEAN NOT NULL DEFAULT TRUE,
    last_accessed_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    revoked_at       TIMESTAMPTZ,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash),
    CONSTRAINT sessions_token_hash_check CHECK (octet_length(token_hash) = 32)
);
CREATE INDEX idx_sessions_user_id ON sessions (user_id);
CREATE INDEX idx_sessions_expires_at ON sessions (expires_at);
CREATE INDEX idx_sessions_user_id_is_active ON sessions (user_id, is_active);
CREATE INDEX idx_sessions_is_active_expires_at ON sessions (is_active, expires_at);
"#,
    sqlite: r#"
CREATE TABLE sessions (
    id               BLOB PRIMARY KEY NOT NULL,
    user_id          BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash       BLOB NOT NULL,
    expires_at       TEXT NOT NULL,
    ip_address       TEXT,
    user_agent       TEXT,
    is_active        BOOLEAN NOT NULL DEFAULT 1,
    last_accessed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    revoked_at       TEXT,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash),
    CONSTRAINT sessions_token_hash_check CHECK (length(token_hash) = 32)
);
CREATE INDEX idx_sessions_user_id ON sessions (user_id);
CREATE INDEX idx_sessions_expires_at ON sessions (expires_at);
CREATE INDEX idx_sessions_user_id_is_active ON sessions (user_id, is_active);
CREATE INDEX idx_sessions_is_active_expires_at ON sessions (is_active, expires_at);
"#,
};

const DOWN: Dialects = Dialects {
    postgres: "DROP TABLE sessions;",
    sqlite: "DROP TABLE sessions;",
};
