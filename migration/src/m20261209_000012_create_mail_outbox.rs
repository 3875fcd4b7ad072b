//! `mail_outbox`: mail waiting for delivery. A write that sends mail adds its message
//! here in its own transaction, so the message exists exactly when the write committed;
//! delivery workers claim due messages (`next_attempt_at`), delete what they delivered
//! and, after the last attempt, keep the message without its bodies (`failed_at`).

use crate::sql::{Dialects, sql_migration};
use sea_orm_migration::prelude::*;

sql_migration!();

// Due messages are found by `next_attempt_at`; a given-up message has none, so the
// index holds only the queue.
const UP: Dialects = Dialects {
    postgres: r#"
CREATE TABLE mail_outbox (
    id              UUID PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    last_error      TEXT,
    failed_at       TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT mail_outbox_attempts_check CHECK (attempts >= 0),
    CONSTRAINT mail_outbox_state_check CHECK ((next_attempt_at IS NULL) = (failed_at IS NOT NULL))
);
CREATE INDEX idx_mail_outbox_next_attempt_at ON mail_outbox (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX idx_mail_outbox_failed_at ON mail_outbox (failed_at) WHERE failed_at IS NOT NULL;
"#,
    sqlite: r#"
CREATE TABLE mail_outbox (
    id              BLOB PRIMARY KEY NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    failed_at       TEXT,
    created_at      TEXT NOT NULL,
    CONSTRAINT mail_outbox_attempts_check CHECK (attempts >= 0),
    CONSTRAINT mail_outbox_state_check CHECK ((next_attempt_at IS NULL) = (failed_at IS NOT NULL))
);
CREATE INDEX idx_mail_outbox_next_attempt_at ON mail_outbox (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX idx_mail_outbox_failed_at ON mail_outbox (failed_at) WHERE failed_at IS NOT NULL;
"#,
};

// The indexes go with the table.
const DOWN: Dialects = Dialects {
    postgres: "DROP TABLE mail_outbox;",
    sqlite: "DROP TABLE mail_outbox;",
};
