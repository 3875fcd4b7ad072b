//! `one_time_tokens`: single-use email-verification and password-reset tokens, found by
//! the SHA-256 of the token.

use crate::sql::{Dialects, sql_migration};
use sea_orm_migration::prelude::*;

sql_migration!();

const UP: Dialects = Dialects {
    postgres: r#"
CREATE TABLE one_time_tokens (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    VARCHAR(32) NOT NULL,
    token_hash BYTEA NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT one_time_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT one_time_tokens_token_hash_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT one_time_tokens_purpose_check
        CHECK (purpose IN ('email_verification', 'password_reset'))
);
CREATE INDEX idx_one_time_tokens_user_id_purpose ON one_time_tokens (user_id, purpose);
CREATE INDEX idx_one_time_tokens_expires_at ON one_time_tokens (expires_at);
"#,
    sqlite: r#"
CREATE TABLE one_time_tokens (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT one_time_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT one_time_tokens_token_hash_check CHECK (length(token_hash) = 32),
    CONSTRAINT one_time_tokens_purpose_check
        CHECK (purpose IN ('email_verification', 'password_reset'))
);
CREATE INDEX idx_one_time_tokens_user_id_purpose ON one_time_tokens (user_id, purpose);
CREATE INDEX idx_one_time_tokens_expires_at ON one_time_tokens (expires_at);
"#,
};

const DOWN: Dialects = Dialects {
    postgres: "DROP TABLE one_time_tokens;",
    sqlite: "DROP TABLE one_time_tokens;",
};
