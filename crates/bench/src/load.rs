//! The closed-loop load generator: each worker owns one keep-alive HTTP/1 connection and
//! sends its next request as soon as the previous answer is read; every latency goes
//! into an HDR histogram.

use anyhow::Context as _;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A request body.
pub type Body = Full<Bytes>;

/// One HTTP/1 connection to the server.
pub struct Conn {
    sender: SendRequest<Body>,
}

impl Conn {
    /// Connects (no Nagle delay) and runs the connection on the runtime.
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        // A connection that fails shows up as an error of its next request.
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    /// Sends `request` and reads the whole answer.
    pub async fn send(&mut self, request: Request<Body>) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends `request` and fails unless the answer has status `expect`.
    pub async fn expect(
        &mut self,
        request: Request<Body>,
        expect: StatusCode,
    ) -> anyhow::Result<Bytes> {
        let (status, body) = self.send(request).await?;
        anyhow::ensure!(
            status == expect,
            "expected {expect}, got {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(body)
    }
}

/// `GET path`, with a bearer token when given.
pub fn get(path: &str, token: Option<&str>) -> anyhow::Result<Request<Body>> {
    bare(Method::GET, path, token)
}

/// `method path` without a body, with a bearer token when given (logout, role changes).
pub fn bare(method: Method, path: &str, token: Option<&str>) -> anyhow::Result<Request<Body>> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, "localhost");
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    Ok(request.body(Body::default())?)
}

/// `POST path` with a JSON body.
pub fn post_json(path: &str, json: impl Into<Bytes>) -> anyhow::Result<Request<Body>> {
    Ok(Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(HOST, "localhost")
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(json.into()))?)
}

/// What one worker sends, request after request.
pub trait Script: Send {
    /// The next request.
    fn next(&mut self) -> anyhow::Result<Request<Body>>;

    /// Sees the body of an expected answer (e.g. to follow a cursor).
    fn saw(&mut self, _body: &Bytes) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Warm-up, then the measured time.
#[derive(Clone, Copy, Debug)]
pub struct Phases {
    /// Load whose answers are not counted.
    pub warmup: Duration,
    /// Load whose answers are counted.
    pub duration: Duration,
}

/// The answers of the measured phase.
pub struct Measured {
    /// Answers with the expected status.
    pub ok: u64,
    /// Other answers and failed requests.
    pub errors: u64,
    /// Latency of each expected answer, in microseconds.
    pub histogram: Histogram<u64>,
}

/// Live counts for the progress line.
#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    errors: AtomicU64,
}

/// An empty latency histogram: 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// Runs one worker per script against `addr`: `phases.warmup` of load, then
/// `phases.duration` of load in which every request started is counted.
pub async fn run(
    label: &str,
    addr: SocketAddr,
    expect: StatusCode,
    scripts: Vec<Box<dyn Script>>,
    phases: Phases,
) -> anyhow::Result<Measured> {
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let window = Window {
        from: start + phases.warmup,
        to: start + phases.warmup + phases.duration,
    };
    let mut workers = tokio::task::JoinSet::new();
    for script in scripts {
        workers.spawn(worker(addr, expect, script, window, Arc::clone(&counters)));
    }
    let progress = tokio::spawn(progress(
        label.to_owned(),
        Arc::clone(&counters),
        start,
        phases,
    ));
    let mut total = Measured {
        ok: 0,
        errors: 0,
        histogram: histogram()?,
    };
    while let Some(joined) = workers.join_next().await {
        let measured = joined.context("a load worker failed")??;
        total.ok += measured.ok;
        total.errors += measured.errors;
        total.histogram.add(&measured.histogram)?;
    }
    progress.abort();
    Ok(total)
}

/// The measured phase: requests started in `from..to` count.
#[derive(Clone, Copy)]
struct Window {
    from: Instant,
    to: Instant,
}

/// One closed loop on one connection (reopened after a transport error).
async fn worker(
    addr: SocketAddr,
    expect: StatusCode,
    mut script: Box<dyn Script>,
    window: Window,
    counters: Arc<Counters>,
) -> anyhow::Result<Measured> {
    let mut conn = Conn::open(addr).await?;
    let mut measured = Measured {
        ok: 0,
        errors: 0,
        histogram: histogram()?,
    };
    loop {
        let request = script.next()?;
        let sent = Instant::now();
        if sent >= window.to {
            return Ok(measured);
        }
        let counted = sent >= window.from;
        let answer = conn.send(request).await;
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        let ok = match answer {
            Ok((status, body)) if status == expect => {
                script.saw(&body)?;
                true
            }
            Ok(_) => false,
            Err(_) => {
                conn = Conn::open(addr).await?;
                false
            }
        };
        if !counted {
            continue;
        }
        if ok {
            measured.ok += 1;
            measured.histogram.saturating_record(micros);
            counters.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            measured.errors += 1;
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A line on stderr about once a second while the load runs.
async fn progress(label: String, counters: Arc<Counters>, start: Instant, phases: Phases) {
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::from_std(start) + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    loop {
        tick.tick().await;
        let elapsed = start.elapsed();
        // Ticks fall on whole seconds: the one at the end of the warm-up belongs to it.
        if elapsed < phases.warmup + Duration::from_millis(500) {
            eprintln!(
                "{label}: warm-up {:.0}/{} s",
                elapsed.as_secs_f64(),
                phases.warmup.as_secs()
            );
            continue;
        }
        let measuring = (elapsed - phases.warmup).as_secs_f64();
        let ok = counters.ok.load(Ordering::Relaxed);
        eprintln!(
            "{label}: {measuring:.0}/{} s, {:.0} req/s, {} errors",
            phases.duration.as_secs(),
            ok as f64 / measuring.max(1e-3),
            counters.errors.load(Ordering::Relaxed)
        );
    }
}
