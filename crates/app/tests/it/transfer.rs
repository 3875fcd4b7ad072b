//! `authd users import|export` through the real binary, and logins of imported accounts
//! with the hashes other systems made (then stored again as argon2id).

use crate::server::{TestApp, expect_error};
use auth_ports::{UserRepository as _, UserTransfer as _};
use auth_testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output};

auth_testing::on_both_backends!(
    crate::server::TestApp;
    imported_hashes_of_every_kind_log_in_and_become_argon2id,
    a_second_run_changes_nothing_and_an_export_imports_as_itself,
    a_malformed_file_changes_nothing_under_strict_and_only_its_bad_lines_otherwise,
);

/// Each kind of foreign hash and its password, as `foreign_hashes`' tests have them.
const HASHES: [(&str, &str, &str); 9] = [
    (
        "bcrypt-2b",
        "correct horse battery staple",
        "$2b$05$E9ywxHKl126SadNo8V3PpehLhNuGCINyFFSJUFPN2etYc9EUg.bS6",
    ),
    (
        "bcrypt-2a",
        "correct horse battery staple",
        "$2a$05$xcKC292FHgjdAb9YTK9Q3.XEw4s/XEIcTapuIh6rEILkAtf6dvPF2",
    ),
    (
        "bcrypt-2y",
        "correct horse battery staple",
        "$2y$05$E9ywxHKl126SadNo8V3PpehLhNuGCINyFFSJUFPN2etYc9EUg.bS6",
    ),
    (
        "django",
        "correct horse battery staple",
        "pbkdf2_sha256$1200$q1w2e3r4t5y6u7i8$6O5tbobOQNn0IzaYMuIKNfNnXu/3E/r5RYH7r8QQonM=",
    ),
    (
        "keycloak",
        "correct horse battery staple",
        "$pbkdf2-sha256$i=1500$MDEyMzQ1Njc4OWFiY2RlZg==$fc4JdGSjv5kWnd/ppxXpvvEXNUc7XkzdjhlZ19RbMhyeZYcqpmZ2jYXc1n+Y4dRuR14lWwoOopSczAZBiq7vEQ==",
    ),
    (
        "keycloak-512",
        "correct horse battery staple",
        "$pbkdf2-sha512$i=1500$MDEyMzQ1Njc4OWFiY2RlZg$XDpZprJeKygfSGjM+TxNky1Y8Z+qs8/vhDRWupdOj1kKd3Oe622piwaQpRhzIex4/hTUMsxtoEUC+2pBuAV9zg",
    ),
    (
        "better-auth",
        "correct horse battery staple",
        "93f9cfd87ce16be78bc12abcefa5caab:62bf1beffc735dabe2b0f207933dae408e2f24c3a65b786d774518c8de7a535e62b5ecd76feab3fc805ed0fc5836d63e3a6c5572e43d14c5957d231e8f690bd5",
    ),
    (
        "firebase",
        "user1password",
        "$firebase-scrypt$m=14,r=8$jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$Bw==$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==",
    ),
    (
        "argon2i",
        "correct horse battery staple",
        "$argon2i$v=19$m=1024,t=1,p=1$cTaws80UyAECCcrgrBbCnQ$lVt/Ex/3+7p3z0h2goECl4x6HGOA4vJYRNIKGhvP2Zw",
    ),
];

/// Runs `authd users <args>` on `database_url` in an empty directory.
fn users(database_url: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_authd"))
        .arg("users")
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .current_dir(dir.path())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A file of `lines`, one per line.
fn file(lines: &[String]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file
}

fn import(app: &TestApp, path: &Path, strict: bool) -> Output {
    let mut args = vec!["import", path.to_str().unwrap()];
    if strict {
        args.push("--strict");
    }
    users(&app.database_url, &args)
}

async fn count(app: &TestApp) -> usize {
    app.store
        .transfer()
        .export(None, 100_000)
        .await
        .unwrap()
        .len()
}

async fn imported_hashes_of_every_kind_log_in_and_become_argon2id(app: &TestApp) {
    let lines: Vec<String> = HASHES
        .iter()
        .map(|(kind, _, hash)| {
            json!({"email": format!("{kind}@example.com"), "password_hash": hash}).to_string()
        })
        .collect();
    let input = file(&lines);
    let output = import(app, input.path(), false);
    assert!(output.status.success(), "{output:?}");
    assert!(
        text(&output.stdout).starts_with("created 9, already present 0"),
        "{output:?}"
    );

    for (kind, password, _) in HASHES {
        let email = format!("{kind}@example.com");
        let wrong = app.try_login(&email, "not the password at all").await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        let login = app.try_login(&email, password).await;
        assert_eq!(login.status(), StatusCode::OK, "{kind}");
        let users = app.store.users();
        let address = auth_ports::Email::parse(&email).unwrap();
        let stored = users.find_by_email(&address).await.unwrap().unwrap();
        let hash = stored.password_hash.unwrap();
        assert!(
            hash.expose().starts_with("$argon2id$"),
            "{kind} was not rehashed"
        );
        let again = app.try_login(&email, password).await;
        assert_eq!(again.status(), StatusCode::OK, "{kind} after the rehash");
    }
}

/// `n` accounts of every shape: statuses, names, roles, links, hashes, none.
fn accounts(n: usize) -> Vec<String> {
    let statuses = ["active", "inactive", "suspended", "deleted"];
    (0..n)
        .map(|i| {
            let mut line = json!({
                "email": format!("User.{i}@Example.com"),
                "status": statuses[i % 4],
                "email_verified": i % 3 == 0,
                "first_name": format!("First {i}"),
                "created_at": format!("2023-0{}-1{}T08:00:0{}.123456Z", 1 + i % 9, i % 10, i % 10),
                "password_hash": HASHES[i % HASHES.len()].2,
            });
            if i % 5 == 0 {
                line["roles"] = json!(["moderator", "user"]);
                line["last_name"] = json!("Lovelace");
            }
            if i % 7 == 0 {
                line["oauth_accounts"] = json!([
                    {"provider": "github", "provider_user_id": format!("gh-{i}"), "provider_email": format!("u{i}@github.example")},
                    {"provider": "google", "provider_user_id": format!("g-{i}")},
                ]);
                line.as_object_mut().unwrap().remove("password_hash");
            }
            if i % 11 == 0 {
                line["id"] = json!(uuid::Uuid::new_v4());
                line["roles"] = json!([]);
            }
            line.to_string()
        })
        .collect()
}

fn export(database_url: &str) -> String {
    let output = users(database_url, &["export"]);
    assert!(output.status.success(), "{output:?}");
    assert!(text(&output.stderr).contains("exported"), "{output:?}");
    text(&output.stdout)
}

async fn a_second_run_changes_nothing_and_an_export_imports_as_itself(app: &TestApp) {
    // Over two batches of 500, so a batch boundary is crossed.
    let input = file(&accounts(1_100));
    let first = import(app, input.path(), false);
    assert!(first.status.success(), "{first:?}");
    assert!(text(&first.stdout).starts_with("created 1100, already present 0, skipped 0"));
    let exported = export(&app.database_url);
    assert_eq!(exported.lines().count(), 1_100);

    let again = import(app, input.path(), true);
    assert!(again.status.success(), "{again:?}");
    assert!(text(&again.stdout).starts_with("created 0, already present 1100, skipped 0"));
    assert_eq!(
        export(&app.database_url),
        exported,
        "a second run changed something"
    );

    // Every field the file gave came through.
    let first_line: Value = serde_json::from_str(exported.lines().next().unwrap()).unwrap();
    for field in [
        "id",
        "email",
        "status",
        "email_verified",
        "first_name",
        "last_name",
        "roles",
        "created_at",
        "password_hash",
        "oauth_accounts",
    ] {
        assert!(
            first_line.get(field).is_some(),
            "{field} missing from {first_line}"
        );
    }
    let seventh: Vec<Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|u: &Value| u["email"] == "user.7@example.com")
        .collect();
    assert_eq!(
        seventh[0]["oauth_accounts"][0]["provider_email"],
        "u7@github.example"
    );
    assert_eq!(seventh[0]["created_at"], "2023-08-17T08:00:07.123456Z");
    assert_eq!(seventh[0]["status"], "deleted");

    // Into an empty database of the same kind, and out again: the same bytes.
    let second = if app.database_url.starts_with("sqlite") {
        TestDatabase::sqlite()
    } else {
        TestDatabase::postgres().await.unwrap()
    };
    let migrated = Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["migrate", "up"])
        .env_clear()
        .env("DATABASE_URL", second.url())
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let dump = file(&exported.lines().map(str::to_owned).collect::<Vec<_>>());
    let round = users(second.url(), &["import", dump.path().to_str().unwrap()]);
    assert!(round.status.success(), "{round:?}");
    assert_eq!(export(second.url()), exported);
}

async fn a_malformed_file_changes_nothing_under_strict_and_only_its_bad_lines_otherwise(
    app: &TestApp,
) {
    let before = count(app).await;
    let lines = [
        json!({"email": "one@example.com"}).to_string(),
        "{\"email\": \"two@example.com\",".to_owned(),
        json!({"email": "three@example.com", "password_hash": "md5$secret-digest"}).to_string(),
        String::new(),
        json!({"email": "five@example.com", "roles": ["wizard"]}).to_string(),
        json!({"email": "ONE@example.com"}).to_string(),
        json!({"email": "seven@example.com", "status": "active"}).to_string(),
    ];
    let input = file(&lines);

    let strict = import(app, input.path(), true);
    assert!(!strict.status.success(), "{strict:?}");
    let complaints = text(&strict.stderr);
    for number in ["line 2:", "line 3:", "line 5:", "line 6:"] {
        assert!(
            complaints.contains(number),
            "{number} not reported: {complaints}"
        );
    }
    assert!(!complaints.contains("line 1:") && !complaints.contains("line 7:"));
    assert!(!complaints.contains("secret-digest"), "{complaints}");
    assert!(complaints.contains("nothing was imported"), "{complaints}");
    assert_eq!(
        count(app).await,
        before,
        "a strict run with bad lines wrote"
    );

    let lenient = import(app, input.path(), false);
    assert_eq!(lenient.status.code(), Some(1), "{lenient:?}");
    assert!(
        text(&lenient.stdout).starts_with("created 2, already present 0, skipped 4 (bad lines 4")
    );
    assert_eq!(count(app).await, before + 2);
}
