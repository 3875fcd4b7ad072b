#!/usr/bin/env bash
# The worked example of docs/operations.md, "Migrating to authd", end to end: a real
# Better-Auth (from npm) signs two users up on PostgreSQL, the documented query exports
# them, `authd users import` takes them, and they log in to authd with the passwords they
# chose in Better-Auth, which authd then stores as argon2id.
#
#   scripts/better-auth-example.sh            # uses target/release/authd (built if missing)
#
# Needs node and npm, psql, curl, and a PostgreSQL server on which it may create databases
# (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test); drops them after.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
server=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
authd=${AUTHD:-$root/target/release/authd}
[ -x "$authd" ] || cargo build --release -p authd --manifest-path "$root/Cargo.toml"

suffix=$(date +%s)$$
better_auth_db="better_auth_example_$suffix"
authd_db="authd_example_$suffix"
with_db() { echo "${server%/*}/$1"; }
work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    psql "$server" -qc "DROP DATABASE IF EXISTS $better_auth_db" -c "DROP DATABASE IF EXISTS $authd_db" >/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
psql "$server" -qc "CREATE DATABASE $better_auth_db" -c "CREATE DATABASE $authd_db"

echo "== Better-Auth 1.7 signs up two users"
cd "$work"
npm init -y >/dev/null
npm install --silent better-auth@1.7 pg@8 >/dev/null
cat > sign-up.mjs <<'JS'
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import pg from "pg";
const options = {
  database: new pg.Pool({ connectionString: process.env.BETTER_AUTH_DB_URL }),
  emailAndPassword: { enabled: true },
  secret: "the secret of this example only, long enough",
  baseURL: "http://localhost:3000",
};
await (await getMigrations(options)).runMigrations();
const auth = betterAuth(options);
await auth.api.signUpEmail({ body: { email: "ada@example.com", name: "Ada Lovelace", password: "analytical engine 1843" } });
await auth.api.signUpEmail({ body: { email: "grace@example.com", name: "Grace Hopper", password: "cobol and nanoseconds" } });
await options.database.end();
JS
export BETTER_AUTH_DB_URL
BETTER_AUTH_DB_URL=$(with_db "$better_auth_db")
node sign-up.mjs

echo "== the export query of docs/operations.md"
psql "$BETTER_AUTH_DB_URL" -XAtq -v ON_ERROR_STOP=1 > users.jsonl <<'SQL'
SET TIME ZONE 'UTC';
SELECT json_build_object(
  'email', u.email,
  'email_verified', u."emailVerified",
  'first_name', NULLIF(u.name, ''),
  'created_at', u."createdAt",
  'password_hash', (SELECT a.password FROM account a
                    WHERE a."userId" = u.id AND a."providerId" = 'credential'),
  'oauth_accounts', COALESCE((SELECT json_agg(json_build_object(
      'provider', a."providerId", 'provider_user_id', a."accountId"))
    FROM account a WHERE a."userId" = u.id AND a."providerId" <> 'credential'), '[]'))
FROM "user" u;
SQL
wc -l users.jsonl

echo "== authd"
export DATABASE_URL
DATABASE_URL=$(with_db "$authd_db")
set -x
"$authd" migrate up
"$authd" users import --strict users.jsonl
"$authd" users import users.jsonl
{ set +x; } 2>/dev/null
port=$((20000 + RANDOM % 20000))
AUTHD_BIND=127.0.0.1:$port "$authd" serve >authd.log 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "localhost:$port/health/ready" >/dev/null && break; sleep 0.2; done
login() {
    curl -s -o /dev/null -w "%{http_code}" -X POST "localhost:$port/v1/auth/login" \
        -H 'content-type: application/json' -d "{\"email\": \"$1\", \"password\": \"$2\"}"
}
echo "login ada with her Better-Auth password: $(login ada@example.com 'analytical engine 1843')"
echo "login ada with a wrong password:         $(login ada@example.com 'difference engine 1822')"
echo "login grace with her Better-Auth password: $(login grace@example.com 'cobol and nanoseconds')"
echo "stored hashes now:"
psql "$DATABASE_URL" -XAtc "SELECT email, split_part(password_hash, '\$', 2) FROM users ORDER BY email"
