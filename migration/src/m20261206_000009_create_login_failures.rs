//! `login_failures`: failed logins per account and client source (an address key), so a
//! stranger's failures lock out the stranger's source, not the owner everywhere.

use crate::sql::{Dialects, sql_migration};
use sea_orm_migration::prelude::*;

sql_migration!();

const UP: Dialects = Dialects {
    postgres: r#"
CREATE TABLE login_failures (
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source         VARCHAR(64) NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_failed_at TIMESTAMPTZ NOT NULL,
    locked_until   TIMESTAMPTZ,
    PRIMARY KEY (user_id, source),
    CONSTRAINT login_failures_attempts_check CHECK (attempts >= 0)
);
CREATE INDEX idx_login_failures_last_failed_at ON login_failures (last_failed_at);
"#,
    sqlite: r#"
CREATE TABLE login_failures (
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source         TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_failed_at TEXT NOT NULL,
    locked_until   TEXT,
    PRIMARY KEY (user_id, source),
    CONSTRAINT login_failures_attempts_check CHECK (attempts >= 0)
);
CREATE INDEX idx_login_failures_last_failed_at ON login_failures (last_failed_at);
"#,
};

const DOWN: Dialects = Dialects {
    postgres: "DROP TABLE login_failures;",
    sqlite: "DROP TABLE login_failures;",
};
