//! The `authd` child process: its environment, start-up until ready, and the admin made
//! with its CLI.

use crate::load::{self, Conn};
use anyhow::{Context as _, bail};
use hyper::StatusCode;
use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Limits high enough that the load is never refused: production hashing cost and
/// everything else at its default.
const LIMITS: [(&str, &str); 3] = [
    ("RATE_LIMIT_LOGIN_PER_MIN", "100000000"),
    ("RATE_LIMIT_REGISTER_PER_MIN", "100000000"),
    ("LOCKOUT_THRESHOLD", "100000000"),
];

/// How long a start may take before the benchmark gives up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How `authd` is run: binary, database, working directory (no `.env` there) and log.
pub struct Launch {
    binary: PathBuf,
    database_url: String,
    dir: PathBuf,
    log: PathBuf,
}

impl Launch {
    /// `authd` from `binary` on `database_url`, running in `dir`, where its stderr goes to
    /// `authd.log`.
    pub fn new(binary: &Path, database_url: &str, dir: &Path) -> anyhow::Result<Self> {
        let log = dir.join("authd.log");
        File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        Ok(Self {
            binary: binary.to_owned(),
            database_url: database_url.to_owned(),
            dir: dir.to_owned(),
            log,
        })
    }

    /// The command with a clean environment (quiet logs, raised limits) and no output.
    fn command(&self) -> anyhow::Result<Command> {
        let log = File::options().append(true).open(&self.log)?;
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn")
            .envs(LIMITS)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        Ok(command)
    }

    /// Runs `authd serve` on a free port and waits for `GET /health/ready` = 200; returns
    /// the server and the time from exec to that answer.
    pub async fn start(&self) -> anyhow::Result<(Server, Duration)> {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut command = self.command()?;
        command.arg("serve").env("AUTHD_BIND", addr.to_string());
        let started = Instant::now();
        let child = command.spawn().context("cannot start authd")?;
        let mut server = Server { child, addr };
        loop {
            if ready(addr).await {
                return Ok((server, started.elapsed()));
            }
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "authd exited ({status}) before it was ready: {}",
                    self.tail()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "authd was not ready within {START_TIMEOUT:?}: {}",
                    self.tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// `authd user create --email <email> --role admin`, the password on stdin.
    pub fn create_admin(&self, email: &str, password: &str) -> anyhow::Result<()> {
        let mut child = self
            .command()?
            .args(["user", "create", "--email", email, "--role", "admin"])
            .stdin(Stdio::piped())
            .spawn()
            .context("cannot run authd user create")?;
        child
            .stdin
            .take()
            .context("no stdin for authd user create")?
            .write_all(format!("{password}\n").as_bytes())?;
        let status = child.wait()?;
        if !status.success() {
            bail!("authd user create failed ({status}): {}", self.tail());
        }
        Ok(())
    }

    /// The end of authd's log, for an error message.
    fn tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        log.get(start..).unwrap_or(&log).trim().to_owned()
    }
}

/// Whether the server at `addr` answers `GET /health/ready` with 200.
async fn ready(addr: SocketAddr) -> bool {
    let Ok(mut conn) = Conn::open(addr).await else {
        return false;
    };
    let Ok(request) = load::get("/health/ready", None) else {
        return false;
    };
    matches!(conn.send(request).await, Ok((StatusCode::OK, _)))
}

/// A running `authd serve`, killed when dropped.
pub struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
