//! The workload of `--soak`: each worker is one user going round a fixed cycle of
//! registration, logins, session checks, logouts and calls of a shared admin session, so
//! the mix is the same at every moment of the run.

use crate::load::{self, Body, Conn};
use crate::scenarios::{self, ADMIN_EMAIL};
use anyhow::Context as _;
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use serde::Serialize;
use std::sync::Arc;

/// Session checks between a login and its logout.
const ME_PER_SESSION: usize = 20;

/// The seeded role the admin assigns and removes again (SPEC 2: `admin`, `moderator`, `user`).
const ROLE: &str = "moderator";

/// What an answer is counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `GET /v1/auth/me`.
    Me,
    /// `POST /v1/auth/login`.
    Login,
    /// `POST /v1/auth/logout`.
    Logout,
    /// `POST /v1/auth/register`.
    Register,
    /// Every [`AdminCall`].
    Admin,
}

impl Kind {
    /// Every kind, in the order of the report's columns.
    pub const ALL: [Self; 5] = [
        Self::Me,
        Self::Login,
        Self::Logout,
        Self::Register,
        Self::Admin,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Me => "me",
            Self::Login => "login",
            Self::Logout => "logout",
            Self::Register => "register",
            Self::Admin => "admin",
        }
    }

    /// Its place in [`Kind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A call of the admin session, one per user session of the cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminCall {
    /// `GET /v1/admin/users?limit=50`: the newest users.
    ListUsers,
    /// `GET /v1/admin/audit-logs?limit=50`: the newest audit entries.
    AuditLog,
    /// `PUT /v1/admin/users/{id}/roles/{role_id}`: [`ROLE`] to the worker's user.
    AssignRole,
    /// `DELETE` of the same: the role taken away again.
    RemoveRole,
}

/// The admin calls, in the order of the cycle's sessions.
const ADMIN_CALLS: [AdminCall; 4] = [
    AdminCall::ListUsers,
    AdminCall::AuditLog,
    AdminCall::AssignRole,
    AdminCall::RemoveRole,
];

/// One request of the cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A new user, who is then the worker's user.
    Register,
    /// The worker's user logs in.
    Login,
    /// The session check of that login.
    Me,
    /// A call of the admin session.
    Admin(AdminCall),
    /// That login's session ends.
    Logout,
}

impl Step {
    /// What its answer is counted under.
    pub fn kind(self) -> Kind {
        match self {
            Self::Register => Kind::Register,
            Self::Login => Kind::Login,
            Self::Me => Kind::Me,
            Self::Admin(_) => Kind::Admin,
            Self::Logout => Kind::Logout,
        }
    }

    /// The status of its answer when all is well.
    pub fn expect(self) -> StatusCode {
        match self {
            Self::Register => StatusCode::CREATED,
            Self::Login | Self::Me => StatusCode::OK,
            Self::Admin(AdminCall::ListUsers | AdminCall::AuditLog) => StatusCode::OK,
            Self::Admin(AdminCall::AssignRole | AdminCall::RemoveRole) | Self::Logout => {
                StatusCode::NO_CONTENT
            }
        }
    }
}

/// The cycle of every worker: one registration, then for each admin call one session of
/// the new user (login, [`ME_PER_SESSION`] session checks with the admin call halfway,
/// logout). 93 requests: 80 `me`, 4 logins, 4 logouts, 4 admin calls, 1 registration.
pub fn cycle() -> Vec<Step> {
    let mut steps = vec![Step::Register];
    for call in ADMIN_CALLS {
        steps.push(Step::Login);
        steps.extend([Step::Me; ME_PER_SESSION / 2]);
        steps.push(Step::Admin(call));
        steps.extend([Step::Me; ME_PER_SESSION - ME_PER_SESSION / 2]);
        steps.push(Step::Logout);
    }
    steps
}

/// Requests of each kind per cycle, in the order of [`Kind::ALL`].
pub fn shares() -> Vec<(Kind, usize)> {
    let cycle = cycle();
    Kind::ALL
        .iter()
        .map(|&kind| (kind, cycle.iter().filter(|s| s.kind() == kind).count()))
        .collect()
}

/// The admin session every worker's admin calls use, and the role they assign.
pub struct Admin {
    token: String,
    role_id: String,
}

impl Admin {
    /// Logs in the admin made at seeding and looks up [`ROLE`].
    pub async fn log_in(conn: &mut Conn) -> anyhow::Result<Self> {
        let token = scenarios::login(conn, ADMIN_EMAIL).await?;
        let body = conn
            .expect(load::get("/v1/admin/roles", Some(&token))?, StatusCode::OK)
            .await
            .context("cannot list the roles")?;
        let roles: serde_json::Value = serde_json::from_slice(&body)?;
        let role_id = roles["roles"]
            .as_array()
            .and_then(|roles| roles.iter().find(|role| role["name"] == ROLE))
            .and_then(|role| role["id"].as_str())
            .with_context(|| format!("authd has no `{ROLE}` role"))?
            .to_owned();
        Ok(Self { token, role_id })
    }
}

/// One worker: its place in the cycle and the user it is.
pub struct Worker {
    id: usize,
    admin: Arc<Admin>,
    cycle: Arc<[Step]>,
    at: usize,
    registered: u64,
    email: String,
    /// Empty until the first registration is answered.
    user_id: String,
    /// The session of the current login, if it succeeded and has not ended.
    token: Option<String>,
}

impl Worker {
    /// Worker `id` (its users are `soak-<id>-<n>@bench.example`), at the start of `cycle`.
    pub fn new(id: usize, admin: Arc<Admin>, cycle: Arc<[Step]>) -> Self {
        Self {
            id,
            admin,
            cycle,
            at: 0,
            registered: 0,
            email: String::new(),
            user_id: String::new(),
            token: None,
        }
    }

    /// The next step of the cycle and its request. A step whose precondition failed (no
    /// session after a refused login) is still sent: its answer shows the failure.
    pub fn next(&mut self) -> anyhow::Result<(Step, Request<Body>)> {
        let step = self.cycle[self.at % self.cycle.len()];
        self.at += 1;
        let admin = Some(self.admin.token.as_str());
        let request = match step {
            Step::Register => {
                self.registered += 1;
                self.email = format!("soak-{}-{}@bench.example", self.id, self.registered);
                load::post_json("/v1/auth/register", scenarios::credentials(&self.email))?
            }
            Step::Login => load::post_json("/v1/auth/login", scenarios::credentials(&self.email))?,
            Step::Me => load::get("/v1/auth/me", self.token.as_deref())?,
            Step::Logout => load::bare(
                Method::POST,
                "/v1/auth/logout",
                self.token.take().as_deref(),
            )?,
            Step::Admin(AdminCall::ListUsers) => load::get("/v1/admin/users?limit=50", admin)?,
            Step::Admin(AdminCall::AuditLog) => load::get("/v1/admin/audit-logs?limit=50", admin)?,
            Step::Admin(AdminCall::AssignRole) => {
                load::bare(Method::PUT, &self.role_path(), admin)?
            }
            Step::Admin(AdminCall::RemoveRole) => {
                load::bare(Method::DELETE, &self.role_path(), admin)?
            }
        };
        Ok((step, request))
    }

    /// Sees the body of an expected answer to `step`: the new user's id, the session.
    pub fn saw(&mut self, step: Step, body: &Bytes) -> anyhow::Result<()> {
        match step {
            Step::Register => {
                let answer: serde_json::Value = serde_json::from_slice(body)?;
                answer["user"]["id"]
                    .as_str()
                    .context("register answered no user id")?
                    .clone_into(&mut self.user_id);
            }
            Step::Login => {
                let answer: serde_json::Value = serde_json::from_slice(body)?;
                let token = answer["session_token"]
                    .as_str()
                    .context("login answered no session_token")?;
                self.token = Some(token.to_owned());
            }
            Step::Me | Step::Admin(_) | Step::Logout => {}
        }
        Ok(())
    }

    /// The role of the worker's current user.
    fn role_path(&self) -> String {
        format!(
            "/v1/admin/users/{}/roles/{}",
            self.user_id, self.admin.role_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{AdminCall, Kind, Step, cycle, shares};

    #[test]
    fn the_cycle_is_mostly_session_checks() {
        assert_eq!(cycle().len(), 93);
        let counts: Vec<(&str, usize)> = shares()
            .into_iter()
            .map(|(kind, n)| (kind.name(), n))
            .collect();
        assert_eq!(
            counts,
            [
                ("me", 80),
                ("login", 4),
                ("logout", 4),
                ("register", 1),
                ("admin", 4)
            ]
        );
    }

    #[test]
    fn each_session_is_login_checks_and_logout_of_the_new_user() {
        let cycle = cycle();
        assert_eq!(cycle[0], Step::Register);
        let sessions: Vec<&[Step]> = cycle[1..].chunks(23).collect();
        assert_eq!(sessions.len(), 4);
        for (session, call) in sessions.iter().zip([
            AdminCall::ListUsers,
            AdminCall::AuditLog,
            AdminCall::AssignRole,
            AdminCall::RemoveRole,
        ]) {
            assert_eq!(session.first(), Some(&Step::Login));
            assert_eq!(session.last(), Some(&Step::Logout));
            assert_eq!(session[11], Step::Admin(call));
            assert!(
                session[1..11]
                    .iter()
                    .chain(&session[12..22])
                    .all(|s| *s == Step::Me)
            );
        }
    }

    #[test]
    fn kinds_index_their_place_in_all() {
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }
}
