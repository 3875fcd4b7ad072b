//! Slow and idle clients cannot hold the service (issue 14): the header-read timeout,
//! the connection cap, and graceful shutdown of the hand-driven hyper server.

use crate::server::TestApp;
use reqwest::StatusCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

auth_testing::on_both_backends!(
    crate::slow_clients::SlowClientApp;
    slow_headers_are_cut_off_while_others_are_served,
    idle_keep_alive_connections_are_closed,
    connections_beyond_the_cap_wait_and_the_service_stays_up,
    shutdown_lets_in_flight_requests_finish,
);

/// Header timeout used by the slow-client tests.
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// A server with a 1 s header timeout and room for 3 connections.
pub struct SlowClientApp(TestApp);

impl SlowClientApp {
    pub async fn open(database: auth_testing::TestDatabase) -> Self {
        Self(
            TestApp::open_with(
                database,
                &[
                    ("HTTP_HEADER_READ_TIMEOUT_SECS", "1"),
                    ("HTTP_MAX_CONNECTIONS", "3"),
                ],
            )
            .await,
        )
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.0.base.trim_start_matches("http://"))
            .await
            .unwrap()
    }
}

/// Reads until the server closes the connection; panics if it has not within 5 s.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .ok();
    received
}

async fn slow_headers_are_cut_off_while_others_are_served(app: &SlowClientApp) {
    let mut slow = app.connect().await;
    slow.write_all(b"GET /health/live HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let started = Instant::now();
    let live = app.0.get_anonymously("/health/live").await;
    assert_eq!(live.status(), StatusCode::OK);
    let received = read_until_closed(&mut slow).await;
    assert!(started.elapsed() >= HEADER_TIMEOUT - Duration::from_millis(100));
    assert!(!String::from_utf8_lossy(&received).contains("200 OK"));
}

async fn idle_keep_alive_connections_are_closed(app: &SlowClientApp) {
    let mut idle = app.connect().await;
    idle.write_all(b"GET /health/live HTTP/1.1\r\nHost: authd\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let started = Instant::now();
    read_until_closed(&mut idle).await;
    assert!(started.elapsed() >= HEADER_TIMEOUT - Duration::from_millis(100));
}

async fn connections_beyond_the_cap_wait_and_the_service_stays_up(app: &SlowClientApp) {
    // Three silent connections take every slot, and three more wait behind them.
    let mut silent = Vec::new();
    for _ in 0..6 {
        silent.push(app.connect().await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let live = app.0.get_anonymously("/health/live").await;
    assert_eq!(live.status(), StatusCode::OK);
    // It waited for the header timeout to free slots, and was answered after it.
    assert!(
        started.elapsed() >= HEADER_TIMEOUT / 2,
        "served at once: {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < 10 * HEADER_TIMEOUT);
}

async fn shutdown_lets_in_flight_requests_finish(app: &SlowClientApp) {
    // The headers are in, the body is not: the request is in flight.
    let body = br#"{"email": "nobody@example.com", "password": "correct horse battery staple"}"#;
    let mut stream = app.connect().await;
    let head = format!(
        "POST /v1/auth/login HTTP/1.1\r\nHost: authd\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let server = app.0.shut_down();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!server.is_finished(), "stopped with a request in flight");
    stream.write_all(&body[10..]).await.unwrap();
    let answer = String::from_utf8_lossy(&read_until_closed(&mut stream).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops once the request is answered")
        .unwrap();
    assert!(
        TcpStream::connect(app.0.base.trim_start_matches("http://"))
            .await
            .is_err()
    );
}
