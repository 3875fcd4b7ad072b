//! Seeds the default roles of SPEC.md section 2 with fixed ids, so every installation
//! (and every test database) agrees on them.

use crate::sql::{Dialects, sql_migration};
use sea_orm_migration::prelude::*;

sql_migration!();

const UP: Dialects = Dialects {
    postgres: r#"
INSERT INTO roles (id, name, description, permissions) VALUES
    ('019ac3a0-0000-7000-8000-000000000001', 'admin', 'Full access to everything', '["*"]'),
    ('019ac3a0-0000-7000-8000-000000000002', 'moderator', 'Reads and suspends users, reads the audit log',
        '["users:read", "users:suspend", "audit:read"]'),
    ('019ac3a0-0000-7000-8000-000000000003', 'user', 'Manages its own profile and sessions',
        '["profile:read", "profile:write", "sessions:read", "sessions:write"]');
"#,
    sqlite: r#"
INSERT INTO roles (id, name, description, permissions) VALUES
    (X'019ac3a0000070008000000000000001', 'admin', 'Full access to everything', '["*"]'),
    (X'019ac3a0000070008000000000000002', 'moderator', 'Reads and suspends users, reads the audit log',
        '["users:read", "users:suspend", "audit:read"]'),
    (X'019ac3a0000070008000000000000003', 'user', 'Manages its own profile and sessions',
        '["profile:read", "profile:write", "sessions:read", "sessions:write"]');
"#,
};

const DOWN: Dialects = Dialects {
    postgres: r#"
DELETE FROM roles WHERE id IN ('019ac3a0-0000-7000-8000-000000000001',
    '019ac3a0-0000-7000-8000-000000000002', '019ac3a0-0000-7000-8000-000000000003');
"#,
    sqlite: r#"
DELETE FROM roles WHERE id IN (X'019ac3a0000070008000000000000001',
    X'019ac3a0000070008000000000000002', X'019ac3a0000070008000000000000003');
"#,
};
