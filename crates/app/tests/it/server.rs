//! A real authd server per test, on an ephemeral port, over its own fresh database.

use auth_sea_orm::{PoolConfig, Store};
use auth_testing::TestDatabase;
use std::time::Duration;
use tokio::sync::oneshot;

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client without cookies or redirects.
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    _database: TestDatabase,
}

impl TestApp {
    /// Migrates the database and starts the server on it.
    pub async fn open(database: TestDatabase) -> Self {
        let store = Store::connect(&PoolConfig {
            url: database.url().to_owned(),
            max_connections: 10,
            min_connections: 1,
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        })
        .await
        .unwrap();
        store.migrate_up().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let state = authd::http::AppState::new(store);
        tokio::spawn(authd::http::serve(listener, state, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base,
            client,
            stop: Some(stop),
            _database: database,
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
