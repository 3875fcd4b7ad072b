//! Multi-factor authentication: `mfa_totp` (a user's TOTP authenticator, its secret
//! sealed by the app), `mfa_recovery_codes` (single-use codes, stored as SHA-256),
//! `passkeys` (WebAuthn credentials), `auth_challenges` (the state between the two
//! requests of an MFA login, a passkey login, a step-up or a passkey registration,
//! found by the SHA-256 of a token handed out once), and on `sessions` when and how the
//! user last proved who they are. Everything a user has here goes with the user.

use crate::sql::{Dialects, sql_migration};
use sea_orm_migration::prelude::*;

sql_migration!();

const UP: Dialects = Dialects {
    postgres: r#"
ALTER TABLE sessions ADD COLUMN authenticated_at TIMESTAMPTZ;
ALTER TABLE sessions ADD COLUMN auth_methods TEXT NOT NULL DEFAULT '';

CREATE TABLE mfa_totp (
    user_id        UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret  BYTEA NOT NULL,
    confirmed_at   TIMESTAMPTZ,
    last_used_step BIGINT,
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE mfa_recovery_codes (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BYTEA NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT mfa_recovery_codes_user_id_code_hash_key UNIQUE (user_id, code_hash),
    CONSTRAINT mfa_recovery_codes_code_hash_check CHECK (octet_length(code_hash) = 32)
);
CREATE INDEX idx_mfa_recovery_codes_user_id ON mfa_recovery_codes (user_id);

CREATE TABLE passkeys (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BYTEA NOT NULL,
    name          TEXT NOT NULL,
    data          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    CONSTRAINT passkeys_credential_id_key UNIQUE (credential_id)
);
CREATE INDEX idx_passkeys_user_id ON passkeys (user_id);

CREATE TABLE auth_challenges (
    id             UUID PRIMARY KEY,
    token_hash     BYTEA NOT NULL,
    kind           VARCHAR(32) NOT NULL,
    user_id        UUID REFERENCES users (id) ON DELETE CASCADE,
    session_id     UUID REFERENCES sessions (id) ON DELETE CASCADE,
    password_hash  TEXT,
    login_source   TEXT,
    webauthn_state TEXT,
    failures       INTEGER NOT NULL DEFAULT 0,
    expires_at     TIMESTAMPTZ NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT auth_challenges_token_hash_key UNIQUE (token_hash),
    CONSTRAINT auth_challenges_token_hash_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT auth_challenges_kind_check
        CHECK (kind IN ('mfa_login', 'passkey_login', 'step_up', 'passkey_registration')),
    CONSTRAINT auth_challenges_failures_check CHECK (failures >= 0)
);
CREATE INDEX idx_auth_challenges_expires_at ON auth_challenges (expires_at);
CREATE INDEX idx_auth_challenges_user_id ON auth_challenges (user_id);
CREATE INDEX idx_auth_challenges_session_id ON auth_challenges (session_id);
"#,
    sqlite: r#"
ALTER TABLE sessions ADD COLUMN authenticated_at TEXT;
ALTER TABLE sessions ADD COLUMN auth_methods TEXT NOT NULL DEFAULT '';

CREATE TABLE mfa_totp (
    user_id        BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret  BLOB NOT NULL,
    confirmed_at   TEXT,
    last_used_step INTEGER,
    created_at     TEXT NOT NULL
);

CREATE TABLE mfa_recovery_codes (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    used_at    TEXT,
    created_at TEXT NOT NULL,
    CONSTRAINT mfa_recovery_codes_user_id_code_hash_key UNIQUE (user_id, code_hash),
    CONSTRAINT mfa_recovery_codes_code_hash_check CHECK (length(code_hash) = 32)
);
CREATE INDEX idx_mfa_recovery_codes_user_id ON mfa_recovery_codes (user_id);

CREATE TABLE passkeys (
    id            BLOB PRIMARY KEY NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL,
    name          TEXT NOT NULL,
    data          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    CONSTRAINT passkeys_credential_id_key UNIQUE (credential_id)
);
CREATE INDEX idx_passkeys_user_id ON passkeys (user_id);

CREATE TABLE auth_challenges (
    id             BLOB PRIMARY KEY NOT NULL,
    token_hash     BLOB NOT NULL,
    kind           TEXT NOT NULL,
    user_id        BLOB REFERENCES users (id) ON DELETE CASCADE,
    session_id     BLOB REFERENCES sessions (id) ON DELETE CASCADE,
    password_hash  TEXT,
    login_source   TEXT,
    webauthn_state TEXT,
    failures       INTEGER NOT NULL DEFAULT 0,
    expires_at     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    CONSTRAINT auth_challenges_token_hash_key UNIQUE (token_hash),
    CONSTRAINT auth_challenges_token_hash_check CHECK (length(token_hash) = 32),
    CONSTRAINT auth_challenges_kind_check
        CHECK (kind IN ('mfa_login', 'passkey_login', 'step_up', 'passkey_registration')),
    CONSTRAINT auth_challenges_failures_check CHECK (failures >= 0)
);
CREATE INDEX idx_auth_challenges_expires_at ON auth_challenges (expires_at);
CREATE INDEX idx_auth_challenges_user_id ON auth_challenges (user_id);
CREATE INDEX idx_auth_challenges_session_id ON auth_challenges (session_id);
"#,
};

// The indexes go with their tables. SQLite drops a column since 3.35 (the bundled
// library is newer); neither column is indexed or constrained, which it would refuse.
const DOWN: Dialects = Dialects {
    postgres: r#"
DROP TABLE auth_challenges;
DROP TABLE passkeys;
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_totp;
ALTER TABLE sessions DROP COLUMN auth_methods;
ALTER TABLE sessions DROP COLUMN authenticated_at;
"#,
    sqlite: r#"
DROP TABLE auth_challenges;
DROP TABLE passkeys;
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_totp;
ALTER TABLE sessions DROP COLUMN auth_methods;
ALTER TABLE sessions DROP COLUMN authenticated_at;
"#,
};
