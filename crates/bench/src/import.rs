//! `--import N`: how long `authd users import` takes for N accounts through the real
//! binary on a fresh database, and `authd users export` of them after (issue 21).

use anyhow::{Context as _, bail};
use std::fmt::Write as _;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Hashes real systems made (the same as `foreign_hashes`' tests), cycled through the
/// accounts; an import only parses them, so their cost at login does not matter here.
const HASHES: [&str; 5] = [
    "$2b$05$E9ywxHKl126SadNo8V3PpehLhNuGCINyFFSJUFPN2etYc9EUg.bS6",
    "pbkdf2_sha256$1200$q1w2e3r4t5y6u7i8$6O5tbobOQNn0IzaYMuIKNfNnXu/3E/r5RYH7r8QQonM=",
    "$pbkdf2-sha256$i=1500$MDEyMzQ1Njc4OWFiY2RlZg==$fc4JdGSjv5kWnd/ppxXpvvEXNUc7XkzdjhlZ19RbMhyeZYcqpmZ2jYXc1n+Y4dRuR14lWwoOopSczAZBiq7vEQ==",
    "93f9cfd87ce16be78bc12abcefa5caab:62bf1beffc735dabe2b0f207933dae408e2f24c3a65b786d774518c8de7a535e62b5ecd76feab3fc805ed0fc5836d63e3a6c5572e43d14c5957d231e8f690bd5",
    "$argon2id$v=19$m=19456,t=2,p=1$Affm0CND/YfisC/VkwaFBA$DUdoetuhUxfjLC8oNfWdpz8bWBvvwQ0szK7Lu9mrWbA",
];

/// What one import run measured.
pub struct Timings {
    pub accounts: u64,
    pub import: Duration,
    pub export: Duration,
}

impl Timings {
    /// One line for the terminal and docs/benchmarks.md.
    pub fn line(&self, db: &str) -> String {
        let per_second = |d: Duration| self.accounts as f64 / d.as_secs_f64();
        let mut line = String::new();
        let _ = write!(
            line,
            "{db}: imported {} accounts in {:.1} s ({:.0}/s); exported them in {:.1} s ({:.0}/s)",
            self.accounts,
            self.import.as_secs_f64(),
            per_second(self.import),
            self.export.as_secs_f64(),
            per_second(self.export),
        );
        line
    }
}

/// Writes `accounts` lines to a file in `dir`, migrates `database_url` with `authd
/// migrate up`, then times `authd users import` and `authd users export`.
pub fn run(authd: &Path, database_url: &str, dir: &Path, accounts: u64) -> anyhow::Result<Timings> {
    let file = dir.join("accounts.jsonl");
    write_accounts(&file, accounts)?;
    authd_ok(authd, database_url, &["migrate", "up"], Stdio::null())?;
    let started = Instant::now();
    let path = file
        .to_str()
        .context("a temporary path that is not UTF-8")?;
    authd_ok(
        authd,
        database_url,
        &["users", "import", "--strict", path],
        Stdio::null(),
    )?;
    let import = started.elapsed();
    let started = Instant::now();
    authd_ok(authd, database_url, &["users", "export"], Stdio::null())?;
    Ok(Timings {
        accounts,
        import,
        export: started.elapsed(),
    })
}

/// Accounts of several shapes: every fifth with two roles, every tenth with a provider
/// link, every twentieth without a password.
fn write_accounts(path: &Path, accounts: u64) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).context("cannot create the accounts file")?;
    let mut out = BufWriter::new(file);
    for i in 0..accounts {
        let mut line = serde_json::json!({
            "email": format!("user{i}@import.example"),
            "email_verified": i % 2 == 0,
            "first_name": format!("User {i}"),
            "created_at": "2024-05-01T12:00:00Z",
        });
        if i % 20 != 0 {
            line["password_hash"] = HASHES[(i % 5) as usize].into();
        }
        if i % 5 == 0 {
            line["roles"] = serde_json::json!(["moderator", "user"]);
        }
        if i % 10 == 0 {
            line["oauth_accounts"] =
                serde_json::json!([{"provider": "github", "provider_user_id": i.to_string()}]);
        }
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush().context("cannot write the accounts file")
}

fn authd_ok(authd: &Path, database_url: &str, args: &[&str], stdout: Stdio) -> anyhow::Result<()> {
    let output = Command::new(authd)
        .args(args)
        .env("DATABASE_URL", database_url)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run authd {args:?}"))?;
    if !output.status.success() {
        bail!(
            "authd {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
