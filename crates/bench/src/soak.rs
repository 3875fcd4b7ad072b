//! `--soak`: one server under the mixed workload of `mix` for a long time, with authd's
//! memory and CPU, and the rate and latency of each kind of request, sampled at a fixed
//! interval; the verdict decides the exit status (docs/benchmarks.md, "Soak").

mod report;

pub use self::report::SoakReport;

use self::report::{Classes, KindSample, KindTotal, Sample, Verdict};
use crate::load::Conn;
use crate::mix::{self, Admin, Kind, Step, Worker};
use crate::procfs;
use crate::report::{Latencies, Run, mib};
use crate::scenarios::{ADMIN_EMAIL, PASSWORD};
use crate::server::{Launch, Server};
use anyhow::Context as _;
use hdrhistogram::Histogram;
use hyper::StatusCode;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Workers, each one user on its own connection: as many as the login and register
/// scenarios use, so that no hash waits anywhere near authd's 5 s for a hashing slot.
pub const WORKERS: usize = 16;

/// The timing of a soak.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Load before the measurement, not counted.
    pub warmup: Duration,
    /// The measured soak.
    pub duration: Duration,
    /// Time between samples.
    pub interval: Duration,
}

impl Settings {
    /// `duration` of measurement after `warmup`, sampled every thirtieth of it, but at
    /// least every 10 s and at most every second.
    pub fn new(duration: Duration, warmup: Duration) -> Self {
        Self {
            warmup,
            duration,
            interval: (duration / 30).clamp(Duration::from_secs(1), Duration::from_secs(10)),
        }
    }
}

/// Starts `authd` on `database_url` (migrated by a first start, then with the admin made
/// by its CLI, as the scenarios do), soaks it and returns the report.
pub async fn run(
    authd: &Path,
    database_url: &str,
    run: Run,
    settings: Settings,
) -> anyhow::Result<SoakReport> {
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let launch = Launch::new(authd, database_url, work.path())?;
    drop(launch.start().await?);
    launch.create_admin(ADMIN_EMAIL, PASSWORD)?;
    let (server, _) = launch.start().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = procfs::memory_kib(server.pid(), "VmRSS")?;
    let admin = Admin::log_in(&mut Conn::open(server.addr()).await?).await?;
    eprintln!(
        "soak: {} workers, {:?} of warm-up, then {:?} sampled every {:?}",
        WORKERS, settings.warmup, settings.duration, settings.interval
    );
    let measured = drive(&server, admin, settings).await?;
    let verdict = Verdict::of(&measured.samples, &measured.totals);
    Ok(SoakReport {
        run,
        workers: WORKERS,
        cycle: mix::shares(),
        interval_s: settings.interval.as_secs_f64(),
        idle_rss_mib: mib(idle_rss),
        peak_rss_mib: mib(measured.peak_rss_kib),
        authd_cpu_pct: measured.cpu.authd * 100.0,
        other_cpu_pct: measured.cpu.other * 100.0,
        totals: measured.totals,
        samples: measured.samples,
        verdict,
    })
}

/// What the measurement saw.
struct Measured {
    samples: Vec<Sample>,
    totals: Vec<KindTotal>,
    peak_rss_kib: u64,
    cpu: Shares,
}

/// The workers against `server` for the warm-up and the measurement, sampled.
async fn drive(server: &Server, admin: Admin, settings: Settings) -> anyhow::Result<Measured> {
    let pid = server.pid();
    let tally = Arc::new(Mutex::new(Tally::new()?));
    let admin = Arc::new(admin);
    let cycle: Arc<[Step]> = mix::cycle().into();
    let too_long = || anyhow::anyhow!("the soak is too long");
    let start = Instant::now()
        .checked_add(settings.warmup)
        .ok_or_else(too_long)?;
    let end = start.checked_add(settings.duration).ok_or_else(too_long)?;
    let mut workers = JoinSet::new();
    for id in 0..WORKERS {
        let worker = Worker::new(id, Arc::clone(&admin), Arc::clone(&cycle));
        workers.spawn(work(server.addr(), worker, end, Arc::clone(&tally)));
    }
    wait(&mut workers, start).await?;
    *lock(&tally) = Tally::new()?;
    procfs::reset_peak(pid)?;
    let mut mark = Mark::now(pid)?;
    let first = mark;
    let ticks = u32::try_from(settings.duration.as_nanos() / settings.interval.as_nanos())
        .map_err(|_| too_long())?;
    let mut samples = Vec::new();
    for tick in 1..ticks {
        wait(&mut workers, start + settings.interval * tick).await?;
        samples.push(sample(&tally, &mut mark, start, pid, settings.duration)?);
    }
    // The last interval runs until the last answer.
    while let Some(joined) = workers.join_next().await {
        joined.context("a soak worker panicked")??;
    }
    samples.push(sample(&tally, &mut mark, start, pid, settings.duration)?);
    let span = mark.at.duration_since(start).as_secs_f64();
    let totals = std::mem::replace(&mut lock(&tally).total, fresh()?);
    Ok(Measured {
        samples,
        totals: Kind::ALL
            .iter()
            .zip(totals)
            .map(|(&kind, counts)| KindTotal {
                kind,
                per_s: counts.classes.answered() as f64 / span,
                latency_ms: Latencies::of(&counts.histogram),
                classes: counts.classes,
            })
            .collect(),
        peak_rss_kib: procfs::memory_kib(pid, "VmHWM")?,
        cpu: mark.since(&first),
    })
}

/// One worker's closed loop on one connection (opened again after a transport error)
/// until `end`.
async fn work(
    addr: SocketAddr,
    mut worker: Worker,
    end: Instant,
    tally: Arc<Mutex<Tally>>,
) -> anyhow::Result<()> {
    let mut conn = Conn::open(addr).await?;
    while Instant::now() < end {
        let (step, request) = worker.next()?;
        let sent = Instant::now();
        let answer = conn.send(request).await;
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        let answer = match answer {
            Ok((status, body)) => {
                let expected = status == step.expect();
                if expected {
                    worker.saw(step, &body)?;
                }
                Some((status, expected))
            }
            Err(_) => {
                conn = Conn::open(addr).await?;
                None
            }
        };
        lock(&tally).record(step.kind(), answer, micros);
    }
    Ok(())
}

/// Sleeps until `deadline`, failing at once when a worker fails.
async fn wait(workers: &mut JoinSet<anyhow::Result<()>>, deadline: Instant) -> anyhow::Result<()> {
    let mut sleep = std::pin::pin!(tokio::time::sleep_until(deadline.into()));
    loop {
        tokio::select! {
            () = &mut sleep => return Ok(()),
            Some(joined) = workers.join_next() => joined.context("a soak worker panicked")??,
        }
    }
}

/// A point in time and the CPU time used so far by authd, this process and the machine.
#[derive(Clone, Copy)]
struct Mark {
    at: Instant,
    authd: Duration,
    bench: Duration,
    machine: Duration,
}

impl Mark {
    fn now(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            at: Instant::now(),
            authd: procfs::cpu_time(pid)?,
            bench: procfs::cpu_time(std::process::id())?,
            machine: procfs::machine_busy()?,
        })
    }

    /// The CPU used from `earlier` to this mark.
    fn since(&self, earlier: &Self) -> Shares {
        let span = self.at.duration_since(earlier.at).as_secs_f64().max(1e-3);
        let share = |now: Duration, then: Duration| now.saturating_sub(then).as_secs_f64() / span;
        let authd = share(self.authd, earlier.authd);
        let bench = share(self.bench, earlier.bench);
        Shares {
            authd,
            other: (share(self.machine, earlier.machine) - authd - bench).max(0.0),
        }
    }
}

/// CPU time ÷ wall time.
struct Shares {
    /// Of authd.
    authd: f64,
    /// Of every process but authd and this one: PostgreSQL and anything else running.
    other: f64,
}

/// The interval since `mark` (which moves to now): its answers, authd's RSS and CPU.
fn sample(
    tally: &Mutex<Tally>,
    mark: &mut Mark,
    start: Instant,
    pid: u32,
    duration: Duration,
) -> anyhow::Result<Sample> {
    let fresh = fresh()?;
    let (window, so_far) = {
        let mut tally = lock(tally);
        let mut so_far = Classes::default();
        for counts in &tally.total {
            so_far.add(&counts.classes);
        }
        (std::mem::replace(&mut tally.window, fresh), so_far)
    };
    let now = Mark::now(pid)?;
    let rss = procfs::memory_kib(pid, "VmRSS")?;
    let span = now.at.duration_since(mark.at).as_secs_f64().max(1e-3);
    let cpu = now.since(mark);
    let kinds: Vec<KindSample> = Kind::ALL
        .iter()
        .zip(&window)
        .map(|(&kind, counts)| KindSample {
            kind,
            per_s: counts.classes.answered() as f64 / span,
            p50_ms: counts.quantile_ms(0.50),
            p99_ms: counts.quantile_ms(0.99),
        })
        .collect();
    let t_s = now.at.duration_since(start).as_secs_f64();
    *mark = now;
    let sample = Sample {
        t_s,
        rss_mib: mib(rss),
        authd_cpu_pct: cpu.authd * 100.0,
        other_cpu_pct: cpu.other * 100.0,
        per_s: kinds.iter().map(|k| k.per_s).sum(),
        server_errors_total: so_far.server_error,
        transport_errors_total: so_far.transport_error,
        kinds,
    };
    eprintln!(
        "soak: {:.0}/{} s, RSS {:.1} MiB, {:.0} req/s, {} 5xx, {} transport errors, {} unexpected",
        t_s,
        duration.as_secs(),
        sample.rss_mib,
        sample.per_s,
        so_far.server_error,
        so_far.transport_error,
        so_far.unexpected,
    );
    Ok(sample)
}

/// The answers of one kind: every latency and the status classes.
struct Counts {
    histogram: Histogram<u64>,
    classes: Classes,
}

impl Counts {
    /// The latency at `quantile`, in milliseconds; none without answers.
    fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        (!self.histogram.is_empty())
            .then(|| self.histogram.value_at_quantile(quantile) as f64 / 1e3)
    }
}

/// Empty counts for every kind, in the order of [`Kind::ALL`].
fn fresh() -> anyhow::Result<Vec<Counts>> {
    Kind::ALL
        .iter()
        .map(|_| {
            Ok(Counts {
                histogram: crate::load::histogram()?,
                classes: Classes::default(),
            })
        })
        .collect()
}

/// The answers of the current interval and of the whole measurement.
struct Tally {
    window: Vec<Counts>,
    total: Vec<Counts>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            window: fresh()?,
            total: fresh()?,
        })
    }

    /// Counts a request of `kind` that took `micros`: its status and whether the step
    /// expected it, or none when the connection failed.
    fn record(&mut self, kind: Kind, answer: Option<(StatusCode, bool)>, micros: u64) {
        for counts in [&mut self.window, &mut self.total] {
            let counts = &mut counts[kind.index()];
            match answer {
                Some((status, expected)) => {
                    counts.histogram.saturating_record(micros);
                    counts.classes.answer(status, expected);
                }
                None => counts.classes.transport_error += 1,
            }
        }
    }
}

/// The tally, even if a worker panicked while holding it (the panic is reported anyway).
fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::Settings;
    use std::time::Duration;

    #[test]
    fn samples_are_a_thirtieth_of_the_run_between_one_and_ten_seconds() {
        let interval = |s| Settings::new(Duration::from_secs(s), Duration::ZERO).interval;
        assert_eq!(interval(30 * 60), Duration::from_secs(10));
        assert_eq!(interval(10 * 60), Duration::from_secs(10));
        assert_eq!(interval(2 * 60), Duration::from_secs(4));
        assert_eq!(interval(90), Duration::from_secs(3));
        assert_eq!(interval(10), Duration::from_secs(1));
    }
}
