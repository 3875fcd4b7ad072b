//! `oauth_accounts`: external identities linked to a user. Provider tokens are stored
//! only as AES-256-GCM ciphertext (or not at all).

use crate::sql::{Dialects, sql_migration};
use sea_orm_migration::prelude::*;

sql_migration!();

const UP: Dialects = Dialects {
    postgres: r#"
CREATE TABLE oauth_accounts (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider         VARCHAR(64) NOT NULL,
    provider_user_id VARCHAR(255) NOT NULL,
    provider_email   VARCHAR(254),
    access_token     BYTEA,
    refresh_token    BYTEA,
    token_expires_at TIMESTAMPTZ,
    scopes           TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT oauth_accounts_provider_subject_key UNIQUE (provider, provider_user_id),
    CONSTRAINT oauth_accounts_user_provider_key UNIQUE (user_id, provider)
);

CREATE TRIGGER trg_oauth_accounts_updated_at BEFORE UPDATE ON oauth_accounts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
"#,
    sqlite: r#"
CREATE TABLE oauth_accounts (
    id               BLOB PRIMARY KEY NOT NULL,
    user_id          BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider         TEXT NOT NULL,
    provider_user_id TEXT NOT NULL,
    provider_email   TEXT,
    access_token     BLOB,
    refresh_token    BLOB,
    token_expires_at TEXT,
    scopes           TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT oauth_accounts_provider_subject_key UNIQUE (provider, provider_user_id),
    CONSTRAINT oauth_accounts_user_provider_key UNIQUE (user_id, provider)
);

CREATE TRIGGER trg_oauth_accounts_updated_at AFTER UPDATE ON oauth_accounts
    FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE oauth_accounts SET updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')
    WHERE id = NEW.id;
END;
"#,
};

const DOWN: Dialects = Dialects {
    postgres: "DROP TABLE oauth_accounts;",
    sqlite: "DROP TABLE oauth_accounts;",
};
