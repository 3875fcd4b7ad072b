//! `authd migrate …` and configuration errors, through the real binary.

use auth_testing::TestDatabase;
use auth_testing::unaudited;
use std::process::{Command, Output};

/// A test per database kind, `$sqlite` and `$postgres` (skipped without PostgreSQL),
/// each handing a fresh database's URL to `$test`.
macro_rules! on_both_databases {
    ($sqlite:ident, $postgres:ident => $test:ident) => {
        #[test]
        fn $sqlite() {
            let db = TestDatabase::sqlite();
            $test(db.url());
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(db) = TestDatabase::postgres().await else {
                return;
            };
            $test(db.url());
        }
    };
    ($sqlite:ident, $postgres:ident => async $test:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let db = TestDatabase::sqlite();
            $test(db.url()).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(db) = TestDatabase::postgres().await else {
                return;
            };
            $test(db.url()).await;
        }
    };
}

/// A small pool on `url`, to check what the binary wrote.
async fn connect(url: &str) -> auth_sea_orm::Store {
    auth_sea_orm::Store::connect(&auth_sea_orm::PoolConfig {
        url: url.to_owned(),
        max_connections: 2,
        min_connections: 0,
        idle_timeout: std::time::Duration::from_secs(10),
        connect_timeout: std::time::Duration::from_secs(5),
    })
    .await
    .unwrap()
}

/// Runs `authd` with only the given environment, in an empty directory (so no `.env`
/// is picked up).
fn authd(env: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `(applied, pending)` counts from `authd migrate status`.
fn status(url: &str) -> (usize, usize) {
    let output = authd(&[("DATABASE_URL", url)], &["migrate", "status"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let count = |state| text.lines().filter(|l| l.starts_with(state)).count();
    (count("applied "), count("pending "))
}

fn migrate(url: &str, args: &[&str]) -> String {
    let mut full = vec!["migrate"];
    full.extend_from_slice(args);
    let output = authd(&[("DATABASE_URL", url)], &full);
    assert!(output.status.success(), "authd {full:?} failed: {output:?}");
    stdout(&output)
}

fn migrate_commands_walk_the_schema(url: &str) {
    assert_eq!(
        status(url),
        (0, 12),
        "an empty database has everything pending"
    );
    assert_eq!(migrate(url, &["up"]).trim(), "applied 12 migration(s)");
    assert_eq!(status(url), (12, 0));
    assert_eq!(migrate(url, &["up"]).trim(), "nothing to do (12 applied)");
    assert_eq!(
        migrate(url, &["down"]).trim(),
        "rolled back 1 migration(s)",
        "one step by default"
    );
    assert_eq!(status(url), (11, 1));
    assert_eq!(
        migrate(url, &["down", "-n", "3"]).trim(),
        "rolled back 3 migration(s)"
    );
    assert_eq!(status(url), (8, 4));
    assert_eq!(
        migrate(url, &["down", "-n", "100"]).trim(),
        "rolled back 8 migration(s)"
    );
    assert_eq!(status(url), (0, 12));
    assert_eq!(
        migrate(url, &["fresh"]).trim(),
        "rolled back 0, applied 12 migration(s)"
    );
    assert_eq!(status(url), (12, 0));
    assert_eq!(
        migrate(url, &["fresh"]).trim(),
        "rolled back 12, applied 12 migration(s)",
        "fresh on a migrated database"
    );
    assert_eq!(status(url), (12, 0));
}

/// `authd migrate fresh` with stdin on a pseudo-terminal (through `script`), or `None`
/// when `script` is missing (a failure under CI).
fn fresh_at_a_terminal(url: &str, yes: bool) -> Option<Output> {
    let program = env!("CARGO_BIN_EXE_authd");
    let flag = if yes { " --yes" } else { "" };
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new("script")
        .args([
            "-qec",
            &format!("'{program}' migrate fresh{flag}"),
            "/dev/null",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("DATABASE_URL", url)
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .output();
    match output {
        Ok(output) => Some(output),
        Err(err) => {
            assert!(std::env::var_os("CI").is_none(), "no `script`: {err}");
            eprintln!("skipped: no `script` to run authd on a terminal ({err})");
            None
        }
    }
}

fn fresh_asks_for_yes_at_a_terminal(url: &str) {
    migrate(url, &["up"]);
    let Some(refused) = fresh_at_a_terminal(url, false) else {
        return;
    };
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(stdout(&refused).contains("--yes"), "{refused:?}");
    assert_eq!(status(url), (12, 0));

    let confirmed = fresh_at_a_terminal(url, true).unwrap();
    assert!(confirmed.status.success(), "{confirmed:?}");
    assert!(
        stdout(&confirmed).contains("rolled back 12, applied 12"),
        "{confirmed:?}"
    );
}

on_both_databases!(fresh_asks_for_yes_at_a_terminal_on_sqlite, fresh_asks_for_yes_at_a_terminal_on_postgres => fresh_asks_for_yes_at_a_terminal);

on_both_databases!(migrate_commands_on_sqlite, migrate_commands_on_postgres => migrate_commands_walk_the_schema);

#[test]
fn bad_configuration_is_reported_by_name_and_exits_1() {
    let output = authd(
        &[
            ("SESSION_TTL_SECS", "abc"),
            ("LOCKOUT_THRESHOLD", "0"),
            ("DB_MAX_CONNECTIONS", "-1"),
        ],
        &["migrate", "status"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for name in [
        "SESSION_TTL_SECS",
        "LOCKOUT_THRESHOLD",
        "DB_MAX_CONNECTIONS",
    ] {
        assert!(stderr.contains(name), "{name} not named in: {stderr}");
    }
}

#[test]
fn down_rejects_zero_steps() {
    let db = TestDatabase::sqlite();
    let output = authd(
        &[("DATABASE_URL", db.url())],
        &["migrate", "down", "-n", "0"],
    );
    assert_eq!(output.status.code(), Some(2), "clap usage error");
    assert!(String::from_utf8_lossy(&output.stderr).contains("steps"));
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let output = authd(
        &[
            (
                "DATABASE_URL",
                "postgres://nobody:secret-pw@127.0.0.1:1/none",
            ),
            ("DB_CONNECT_TIMEOUT_SECS", "2"),
        ],
        &["migrate", "status"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(
        !stderr.contains("secret-pw"),
        "the password leaked: {stderr}"
    );
}

/// Runs `authd user create` with `password` on stdin.
fn create_user(url: &str, email: &str, role: &str, password: &str) -> Output {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["user", "create", "--email", email, "--role", role])
        .env_clear()
        .envs([
            ("DATABASE_URL", url),
            ("ARGON2_MEMORY_KIB", "1024"),
            ("ARGON2_ITERATIONS", "1"),
            ("ARGON2_ALLOW_WEAK", "true"),
        ])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

async fn user_create_makes_a_verified_user_with_the_role(url: &str) {
    use auth_ports::{Email, RoleRepository, UserRepository};
    assert!(migrate(url, &["up"]).contains("applied"));
    let output = create_user(url, "Root@Example.com", "admin", "a long admin passphrase");
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("root@example.com"));
    assert!(
        !stdout(&output).contains("passphrase")
            && !String::from_utf8_lossy(&output.stderr).contains("passphrase")
    );

    let store = connect(url).await;
    let user = store
        .users()
        .find_by_email(&Email::parse("root@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(user.email_verified, "users made by the CLI are verified");
    let roles: Vec<String> = store
        .roles()
        .roles_of_user(user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(roles, ["admin"]);

    let taken = create_user(url, "root@example.com", "admin", "another long passphrase");
    assert_eq!(taken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&taken.stderr).contains("exists"));
    let weak = create_user(url, "weak@example.com", "user", "short");
    assert_eq!(weak.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));
    let no_role = create_user(url, "x@example.com", "emperor", "a long admin passphrase");
    assert_eq!(no_role.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_role.stderr).contains("emperor"));
    assert!(
        store
            .users()
            .find_by_email(&Email::parse("x@example.com").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

on_both_databases!(user_create_on_sqlite, user_create_on_postgres => async user_create_makes_a_verified_user_with_the_role);

async fn cleanup_removes_only_what_is_spent(url: &str) {
    use auth_ports::{
        AuditQuery, AuditRepository, ChallengeKind, ChallengeRepository, MailMessage, MailOutbox,
        NewAuditEntry, NewChallenge, NewOneTimeToken, NewSession, OneTimeTokenRepository,
        SessionRepository, TokenHash, TokenPurpose, UserRepository,
    };
    assert!(migrate(url, &["up"]).contains("applied"));
    let store = connect(url).await;
    let now = crate::server::now();
    let new_user = auth_ports::NewUser {
        email: auth_ports::Email::parse("clean@example.com").unwrap(),
        password_hash: Some(auth_ports::PasswordHash::new("h".into())),
        first_name: None,
        last_name: None,
        email_verified: true,
        role: None,
        verification: None,
        created_at: now,
    };
    let user = store.users().create(new_user, unaudited()).await.unwrap();
    for (byte, expires_at) in [
        (1u8, now - chrono::Duration::minutes(1)),
        (2, now + chrono::Duration::hours(1)),
    ] {
        let session = NewSession {
            user_id: user.id,
            token_hash: TokenHash([byte; 32]),
            expires_at,
            ip_address: None,
            user_agent: None,
            created_at: now - chrono::Duration::hours(2),
            auth_methods: vec![auth_ports::AuthMethod::Password],
        };
        let sessions = store.sessions();
        let hash = auth_ports::PasswordHash::new("h".into());
        let source = auth_ports::LoginSource {
            key: "192.0.2.1".into(),
            failures: 0,
        };
        let opened = sessions.open_at_login(session, &hash, &source, unaudited());
        opened.await.unwrap().unwrap();
    }
    // Failures from two sources: one two hours ago (stale), one now.
    let policy = auth_ports::LockoutPolicy {
        threshold: 5,
        global_threshold: 50,
        duration: std::time::Duration::from_secs(900),
    };
    for (source, at) in [
        ("192.0.2.1", now - chrono::Duration::hours(2)),
        ("192.0.2.2", now),
    ] {
        let users = store.users();
        let failed = users.record_failed_login(user.id, source, policy, at, unaudited());
        failed.await.unwrap();
    }
    for (action, age_days) in [("old", 91), ("recent", 89)] {
        let entry = NewAuditEntry::new(None, action, now - chrono::Duration::days(age_days));
        store.audit().append(entry).await.unwrap();
    }
    // An abandoned MFA login and a pending one.
    for (byte, expires_at) in [
        (1u8, now - chrono::Duration::minutes(1)),
        (2, now + chrono::Duration::minutes(5)),
    ] {
        let challenge = NewChallenge {
            token_hash: TokenHash([byte; 32]),
            kind: ChallengeKind::MfaLogin,
            user_id: Some(user.id),
            session_id: None,
            password_hash: Some(auth_ports::PasswordHash::new("h".into())),
            login_source: Some("192.0.2.1".into()),
            webauthn_state: None,
            expires_at,
            created_at: now - chrono::Duration::minutes(6),
        };
        store.challenges().create(challenge).await.unwrap();
    }

    // Two given-up mails: one 91 days ago (past the retention), one now.
    let outbox = store.mail_outbox();
    for (byte, purpose, failed_days_ago) in [
        (1u8, TokenPurpose::EmailVerification, 91),
        (2, TokenPurpose::PasswordReset, 0),
    ] {
        let link = NewOneTimeToken {
            user_id: user.id,
            purpose,
            token_hash: TokenHash([byte; 32]),
            expires_at: now + chrono::Duration::hours(1),
            created_at: now,
        };
        let mail = MailMessage {
            to: user.email.clone(),
            subject: format!("mail {byte}"),
            text: "text".into(),
            html: "html".into(),
        };
        let tokens = store.one_time_tokens();
        tokens.issue(link, mail, unaudited()).await.unwrap();
        let [claimed] = outbox
            .claim(now, now, 10)
            .await
            .unwrap()
            .try_into()
            .unwrap();
        let failed_at = now - chrono::Duration::days(failed_days_ago);
        outbox.give_up(claimed.id, failed_at, "550").await.unwrap();
    }

    let output = authd(
        &[("DATABASE_URL", url), ("AUDIT_RETENTION_DAYS", "90")],
        &["maintenance", "cleanup"],
    );
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("removed 1 expired session(s)"), "{text}");
    assert!(
        text.contains("removed 0 used or expired one-time token(s)"),
        "{text}"
    );
    assert!(
        text.contains("removed 1 expired authentication challenge(s)"),
        "{text}"
    );
    let pending = store.challenges();
    let pending = pending.find_live(&TokenHash([2; 32]), ChallengeKind::MfaLogin, now);
    assert!(pending.await.unwrap().is_some(), "the pending one is kept");
    assert!(
        text.contains("removed 1 stale login failure record(s)"),
        "{text}"
    );
    assert!(
        text.contains("removed 1 audit entry older than 90 days"),
        "{text}"
    );
    assert!(
        text.contains("removed 1 given-up mail message(s) older than the audit retention"),
        "{text}"
    );
    assert_eq!(
        outbox.backlog().await.unwrap().failed,
        1,
        "the recent one is kept"
    );
    assert_eq!(
        store
            .sessions()
            .list_active_for_user(user.id, now)
            .await
            .unwrap()
            .len(),
        1
    );
    let left = store
        .audit()
        .query(AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        left.iter()
            .map(|e| e.entry.action.as_str())
            .collect::<Vec<_>>(),
        ["recent"]
    );
}

on_both_databases!(cleanup_on_sqlite, cleanup_on_postgres => async cleanup_removes_only_what_is_spent);

/// `authd serve` with `RUST_LOG=trace`, its stderr collected line by line.
struct LoggingServer {
    child: std::process::Child,
    base: String,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl LoggingServer {
    fn start(url: &str) -> Self {
        use std::io::BufRead as _;
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_authd"))
            .arg("serve")
            .env_clear()
            .envs([
                ("DATABASE_URL", url),
                ("AUTHD_BIND", "127.0.0.1:0"),
                ("ARGON2_MEMORY_KIB", "1024"),
                ("ARGON2_ITERATIONS", "1"),
                ("ARGON2_ALLOW_WEAK", "true"),
                ("RUST_LOG", "trace"),
            ])
            .current_dir(dir.path())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (address, listening) = std::sync::mpsc::channel();
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if line.contains("authd listening") {
                    let _ = address.send(line.rsplit('=').next().unwrap_or("").to_owned());
                }
                collected.lock().unwrap().push(line);
            }
        });
        let address = listening
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("authd starts listening");
        Self {
            child,
            base: format!("http://{address}"),
            lines,
        }
    }

    /// Waits until `count` log lines contain `needle`.
    async fn wait_for(&self, needle: &str, count: usize) {
        for _ in 0..500 {
            let seen = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(needle))
                .count();
            if seen >= count {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("fewer than {count} log lines with {needle:?}");
    }
}

impl Drop for LoggingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Registration and a reset request log neither an email address above DEBUG nor a
/// mail's link at any level, with the default `log` mail transport.
async fn logs_hold_no_address_at_info_and_no_link_at_all(url: &str) {
    let server = LoggingServer::start(url);
    let client = reqwest::Client::new();
    let email = "leaky.person@example.com";
    let registered = client
        .post(format!("{}/v1/auth/register", server.base))
        .json(&serde_json::json!({"email": email, "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), reqwest::StatusCode::CREATED);
    let reset = client
        .post(format!("{}/v1/auth/password-reset/request", server.base))
        .json(&serde_json::json!({"email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), reqwest::StatusCode::ACCEPTED);
    // Both mails (verification, reset) have gone through the log transport.
    server.wait_for("mail sent", 2).await;
    let lines = server.lines.lock().unwrap().clone();
    for line in &lines {
        assert!(!line.contains("token="), "a link in the log: {line}");
        let level = line.split_whitespace().nth(1).unwrap_or("");
        if matches!(level, "INFO" | "WARN" | "ERROR") {
            assert!(
                !line.contains("leaky.person"),
                "an address at {level}: {line}"
            );
        }
    }
}

on_both_databases!(logs_hold_no_address_at_info_and_no_link_at_all_on_sqlite, logs_hold_no_address_at_info_and_no_link_at_all_on_postgres => async logs_hold_no_address_at_info_and_no_link_at_all);

/// `authd serve` with `jwt` on top of a fresh SQLite database: it must stop at start-up
/// with exit status 1 and an error naming `variable`. Returns stderr.
fn serve_refuses_jwt_config(jwt: &[(&str, &str)], variable: &str) -> String {
    // A database file that does not exist yet: a refusal must come before it is made.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("untouched.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let mut env = vec![
        ("DATABASE_URL", url.as_str()),
        ("AUTHD_BIND", "127.0.0.1:0"),
    ];
    env.extend_from_slice(jwt);
    let output = authd(&env, &["serve"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{jwt:?}: {stderr}");
    assert!(
        stderr.contains(variable),
        "{variable} not named in: {stderr}"
    );
    assert!(!file.exists(), "{jwt:?}: the database was touched first");
    stderr
}

#[test]
fn jwt_key_file_errors_stop_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let missing = path("missing.pem");
    let malformed = path("malformed.pem");
    // Private-looking text that is no key: it must never be echoed.
    std::fs::write(
        &malformed,
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1ub3QtYS1rZXk=\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let good = path("good.pem");
    let pem = ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_pem(
        &key,
        ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF,
    )
    .unwrap();
    std::fs::write(&good, pem.as_bytes()).unwrap();

    let stderr = serve_refuses_jwt_config(
        &[("JWT_PRIVATE_KEY_FILE", &missing)],
        "JWT_PRIVATE_KEY_FILE",
    );
    assert!(stderr.contains(&missing), "{stderr}");
    let stderr = serve_refuses_jwt_config(
        &[("JWT_PRIVATE_KEY_FILE", &malformed)],
        "JWT_PRIVATE_KEY_FILE",
    );
    assert!(!stderr.contains("c2VjcmV0"), "the file leaked: {stderr}");
    for previous in [&missing, &malformed] {
        serve_refuses_jwt_config(
            &[
                ("JWT_PRIVATE_KEY_FILE", &good),
                ("JWT_PREVIOUS_KEY_FILES", previous),
            ],
            "JWT_PREVIOUS_KEY_FILES",
        );
    }
    let secret = "jwt-test-secret-0123456789abcdef-0123";
    serve_refuses_jwt_config(
        &[("JWT_SECRET", secret), ("JWT_PRIVATE_KEY_FILE", &good)],
        "JWT_SECRET",
    );
    let stderr = serve_refuses_jwt_config(
        &[("JWT_SECRET", secret), ("JWT_PREVIOUS_KEY_FILES", &good)],
        "JWT_PREVIOUS_KEY_FILES",
    );
    assert!(!stderr.contains(secret), "the secret leaked: {stderr}");
}
