//! The real `authd serve` binary as a child process on a free port, with one registered
//! user, killed when dropped.

use crate::server::PASSWORD;
use auth_testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `authd serve` over its own SQLite database.
pub struct Binary {
    /// The child process.
    pub process: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Login body of the registered user.
    pub credentials: Value,
    _database: TestDatabase,
    _dir: tempfile::TempDir,
}

impl Binary {
    /// Starts the binary with `env` on top of a fresh database, waits until it is ready
    /// and registers `email` with [`PASSWORD`].
    pub async fn start(env: &[(&str, &str)], email: &str) -> Self {
        let database = TestDatabase::sqlite();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let dir = tempfile::tempdir().unwrap();
        let bind = format!("127.0.0.1:{port}");
        let process = Command::new(env!("CARGO_BIN_EXE_authd"))
            .arg("serve")
            .env_clear()
            .envs([
                ("DATABASE_URL", database.url()),
                ("AUTHD_BIND", &bind),
                ("RUST_LOG", "warn"),
            ])
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .map(|r| r.status())
            .ok()
            != Some(StatusCode::OK)
        {
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let credentials = json!({"email": email, "password": PASSWORD});
        let created = client
            .post(format!("{base}/v1/auth/register"))
            .json(&credentials)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        Self {
            process,
            base,
            credentials,
            _database: database,
            _dir: dir,
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
