//! `oauth_flows`: OAuth/OIDC login and link flows between the redirect to the provider
//! and its callback, kept in the database so any instance can finish a flow another
//! began. Found by the SHA-256 of the `state` parameter (the raw state is never stored);
//! each row is taken once and lives minutes. A link flow names the user and the session
//! that began it, and goes with either.

use crate::sql::{Dialects, sql_migration};
use sea_orm_migration::prelude::*;

sql_migration!();

const UP: Dialects = Dialects {
    postgres: r#"
CREATE TABLE oauth_flows (
    state_hash      BYTEA PRIMARY KEY,
    provider        VARCHAR(64) NOT NULL,
    nonce           TEXT NOT NULL,
    pkce_verifier   TEXT NOT NULL,
    link_user_id    UUID REFERENCES users (id) ON DELETE CASCADE,
    link_session_id UUID REFERENCES sessions (id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT oauth_flows_state_hash_check CHECK (octet_length(state_hash) = 32),
    CONSTRAINT oauth_flows_link_session_check
        CHECK ((link_user_id IS NULL) = (link_session_id IS NULL))
);
CREATE INDEX idx_oauth_flows_expires_at ON oauth_flows (expires_at);
CREATE INDEX idx_oauth_flows_link_user_id ON oauth_flows (link_user_id);
CREATE INDEX idx_oauth_flows_link_session_id ON oauth_flows (link_session_id);
"#,
    sqlite: r#"
CREATE TABLE oauth_flows (
    state_hash      BLOB PRIMARY KEY NOT NULL,
    provider        TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    pkce_verifier   TEXT NOT NULL,
    link_user_id    BLOB REFERENCES users (id) ON DELETE CASCADE,
    link_session_id BLOB REFERENCES sessions (id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    CONSTRAINT oauth_flows_state_hash_check CHECK (length(state_hash) = 32),
    CONSTRAINT oauth_flows_link_session_check
        CHECK ((link_user_id IS NULL) = (link_session_id IS NULL))
);
CREATE INDEX idx_oauth_flows_expires_at ON oauth_flows (expires_at);
CREATE INDEX idx_oauth_flows_link_user_id ON oauth_flows (link_user_id);
CREATE INDEX idx_oauth_flows_link_session_id ON oauth_flows (link_session_id);
"#,
};

// The indexes go with their table.
const DOWN: Dialects = Dialects {
    postgres: "DROP TABLE oauth_flows;",
    sqlite: "DROP TABLE oauth_flows;",
};
