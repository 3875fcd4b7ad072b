# authd developer commands; `just` lists them. Recipes run from the workspace root.

# List the recipes
default:
    @just --list

# Run the server binary (`just run serve`, `just run user create ...`); reads .env if present
run *args:
    cargo run -p authd -- {{ args }}

# Run every test; PostgreSQL/Redis tests skip unless TEST_DATABASE_URL/TEST_REDIS_URL are set,
# the SMTP test unless Python's aiosmtpd is installed
test *args:
    cargo test --workspace {{ args }}

# Run every test, PostgreSQL ones included (TEST_DATABASE_URL defaults to the local server)
test-pg *args:
    TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}" cargo test --workspace {{ args }}

# Check formatting and lint everything with warnings as errors (as CI does)
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the workspace
fmt:
    cargo fmt --all

# Migrations through the authd CLI, against the configured database (`just migrate up`)
migrate *args:
    cargo run -p authd -- migrate {{ args }}

# The standard sea-orm-migration CLI (`just migration status`, `fresh`, `down -n 1`)
migration *args:
    cargo run -p migration -- {{ args }}

# HTTP load benchmark of the release authd (docs/benchmarks.md; `--db postgres`, `--duration S`,
# `--scenario NAME`, `--sweep-users N,N,…`); builds authd first so a stale binary is never measured
bench *args:
    cargo build --release -p authd
    cargo run --release -p authd-bench -- {{ args }}

# Soak of the release authd under mixed traffic (docs/benchmarks.md, "Soak"): `just soak 30m`,
# `just soak 30m --db postgres`; exits non-zero when RSS grows or any answer is a 5xx
soak duration *args:
    cargo build --release -p authd
    cargo run --release -p authd-bench -- --soak {{ duration }} {{ args }}

# Audit query benchmark on PostgreSQL (docs/benchmarks.md): recreates the database
# authd_audit_bench on the server of TEST_DATABASE_URL and seeds it (`--rows N`, default 1,000,000)
bench-audit *args:
    TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}" cargo run --release -p auth-sea-orm --example audit_queries -- {{ args }}

# Take docs/screenshots/*.png again: the browser tests of the mail-link pages save what they saw
screenshots:
    AUTHD_SCREENSHOTS="{{ justfile_directory() }}/docs/screenshots" cargo test -p authd --test it -- browser::pages::sqlite

# Everything CI runs: services, fmt, clippy, domain-purity check, tests
ci:
    bash .ci/run

# Start PostgreSQL, Redis and authd in Docker (http://localhost:8080)
up *args:
    docker compose up -d {{ args }}

# Stop the Docker stack (`just down -v` also drops the database volume)
down *args:
    docker compose down {{ args }}
