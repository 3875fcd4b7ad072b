//! The scenarios of issue 6: what each worker sends, and the users and sessions made
//! through the API before the timed part.

use crate::load::{self, Body, Conn, Script};
use anyhow::Context as _;
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

/// The password of every user the benchmark makes.
pub const PASSWORD: &str = "correct horse battery staple";

/// The administrator made with `authd user create --role admin`.
pub const ADMIN_EMAIL: &str = "admin@bench.example";

/// Users registered for `login` (more than its workers, so each account is used in turn).
const LOGIN_USERS: usize = 64;

/// Connections used to seed users and sessions.
const SEEDERS: usize = 8;

/// One kind of load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// `POST /v1/auth/register` with a new email each time (201).
    Register,
    /// `POST /v1/auth/login` of registered users (200).
    Login,
    /// `GET /v1/auth/me` with valid session tokens (200).
    Me,
    /// `GET /v1/auth/me` with random tokens (401).
    MeInvalid,
    /// `GET /v1/admin/users?limit=50`, page after page, as the admin (200).
    AdminUsers,
}

impl Scenario {
    /// Every scenario, in the order they run by default.
    pub const ALL: [Self; 5] = [
        Self::Register,
        Self::Login,
        Self::Me,
        Self::MeInvalid,
        Self::AdminUsers,
    ];

    /// The name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::Me => "me",
            Self::MeInvalid => "me-invalid",
            Self::AdminUsers => "admin-users",
        }
    }

    /// Workers, each with one connection.
    pub fn concurrency(self) -> usize {
        match self {
            Self::Register | Self::Login => 16,
            Self::Me | Self::MeInvalid => 32,
            Self::AdminUsers => 8,
        }
    }

    /// Whether each request hashes a password.
    pub fn hashes(self) -> bool {
        matches!(self, Self::Register | Self::Login)
    }

    /// The status of a successful answer; any other counts as an error.
    pub fn expect(self) -> StatusCode {
        match self {
            Self::Register => StatusCode::CREATED,
            Self::MeInvalid => StatusCode::UNAUTHORIZED,
            Self::Login | Self::Me | Self::AdminUsers => StatusCode::OK,
        }
    }

    /// Makes the users and sessions the scenario needs, then one script per worker.
    /// Their emails carry `run`, so a repeated scenario makes new ones.
    pub async fn scripts(self, addr: SocketAddr, run: u32) -> anyhow::Result<Vec<Box<dyn Script>>> {
        let workers = 0..self.concurrency();
        Ok(match self {
            Self::Register => workers
                .map(|worker| {
                    Box::new(Register {
                        run,
                        worker,
                        seq: 0,
                    }) as Box<dyn Script>
                })
                .collect(),
            Self::Login => {
                let emails = emails(&format!("login-{run}"), LOGIN_USERS);
                fan_out(addr, &emails, register).await?;
                let bodies: Arc<[Bytes]> = emails.iter().map(|e| credentials(e)).collect();
                workers
                    .map(|worker| {
                        Box::new(Login {
                            bodies: Arc::clone(&bodies),
                            next: worker,
                            step: self.concurrency(),
                        }) as Box<dyn Script>
                    })
                    .collect()
            }
            Self::Me => me_scripts(addr, &register_me_users(addr, run).await?).await?,
            Self::MeInvalid => workers
                .map(|_| Box::new(MeInvalid) as Box<dyn Script>)
                .collect(),
            Self::AdminUsers => {
                let token = login(&mut Conn::open(addr).await?, ADMIN_EMAIL).await?;
                workers
                    .map(|_| {
                        Box::new(AdminUsers {
                            token: token.clone(),
                            cursor: None,
                        }) as Box<dyn Script>
                    })
                    .collect()
            }
        })
    }
}

/// Registers the users of `me`, one per worker, and returns their emails (which carry
/// `run`).
pub async fn register_me_users(addr: SocketAddr, run: u32) -> anyhow::Result<Vec<String>> {
    let emails = emails(&format!("me-{run}"), Scenario::Me.concurrency());
    fan_out(addr, &emails, register).await?;
    Ok(emails)
}

/// Logs the users of `me` in (again): one script per new session.
pub async fn me_scripts(
    addr: SocketAddr,
    emails: &[String],
) -> anyhow::Result<Vec<Box<dyn Script>>> {
    Ok(fan_out(addr, emails, login)
        .await?
        .into_iter()
        .map(|token| Box::new(Me { token }) as Box<dyn Script>)
        .collect())
}

/// `count` emails named after `prefix`.
fn emails(prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{prefix}-{i}@bench.example"))
        .collect()
}

/// The login (and registration) body of `email`.
pub fn credentials(email: &str) -> Bytes {
    json!({"email": email, "password": PASSWORD})
        .to_string()
        .into()
}

/// Calls `call` for every email, over [`SEEDERS`] connections at once.
async fn fan_out<T>(
    addr: SocketAddr,
    emails: &[String],
    call: impl AsyncFn(&mut Conn, &str) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let chunk = emails.len().div_ceil(SEEDERS).max(1);
    let chunks = emails.chunks(chunk).map(async |chunk| {
        let mut conn = Conn::open(addr).await?;
        let mut results = Vec::with_capacity(chunk.len());
        for email in chunk {
            results.push(call(&mut conn, email).await?);
        }
        anyhow::Ok(results)
    });
    let results = futures::future::try_join_all(chunks).await?;
    Ok(results.into_iter().flatten().collect())
}

/// Registers `email` with [`PASSWORD`].
async fn register(conn: &mut Conn, email: &str) -> anyhow::Result<()> {
    let request = load::post_json("/v1/auth/register", credentials(email))?;
    conn.expect(request, StatusCode::CREATED)
        .await
        .with_context(|| format!("cannot register {email}"))?;
    Ok(())
}

/// Logs `email` in and returns the session token.
pub async fn login(conn: &mut Conn, email: &str) -> anyhow::Result<String> {
    let request = load::post_json("/v1/auth/login", credentials(email))?;
    let body = conn
        .expect(request, StatusCode::OK)
        .await
        .with_context(|| format!("cannot log {email} in"))?;
    let answer: serde_json::Value = serde_json::from_slice(&body)?;
    answer["session_token"]
        .as_str()
        .map(str::to_owned)
        .context("login answered no session_token")
}

/// New users: `register-<worker>-<n>@bench.example`.
struct Register {
    run: u32,
    worker: usize,
    seq: u64,
}

impl Script for Register {
    fn next(&mut self) -> anyhow::Result<Request<Body>> {
        self.seq += 1;
        let email = format!(
            "register-{}-{}-{}@bench.example",
            self.run, self.worker, self.seq
        );
        load::post_json("/v1/auth/register", credentials(&email))
    }
}

/// Logins of the registered users, each worker stepping through them.
struct Login {
    bodies: Arc<[Bytes]>,
    next: usize,
    step: usize,
}

impl Script for Login {
    fn next(&mut self) -> anyhow::Result<Request<Body>> {
        let body = self.bodies[self.next % self.bodies.len()].clone();
        self.next += self.step;
        load::post_json("/v1/auth/login", body)
    }
}

/// The session check of one valid session.
struct Me {
    token: String,
}

impl Script for Me {
    fn next(&mut self) -> anyhow::Result<Request<Body>> {
        load::get("/v1/auth/me", Some(&self.token))
    }
}

/// Session checks with a new random token each time: 43 base64url characters, the
/// shape of a real one.
struct MeInvalid;

impl Script for MeInvalid {
    fn next(&mut self) -> anyhow::Result<Request<Body>> {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bytes = [0u8; 43];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
        let token: String = bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(b & 63)]))
            .collect();
        load::get("/v1/auth/me", Some(&token))
    }
}

/// The admin's user list, 50 at a time, from the first page to the last and again.
struct AdminUsers {
    token: String,
    cursor: Option<String>,
}

impl Script for AdminUsers {
    fn next(&mut self) -> anyhow::Result<Request<Body>> {
        let path = match &self.cursor {
            Some(cursor) => format!("/v1/admin/users?limit=50&cursor={cursor}"),
            None => "/v1/admin/users?limit=50".to_owned(),
        };
        load::get(&path, Some(&self.token))
    }

    fn saw(&mut self, body: &Bytes) -> anyhow::Result<()> {
        let page: serde_json::Value = serde_json::from_slice(body)?;
        self.cursor = page["next_cursor"].as_str().map(str::to_owned);
        Ok(())
    }
}
