//! The report: figures per scenario, the server's memory and start-up, the hashing bound,
//! the machine; as markdown and JSON.

use crate::db::Backend;
use crate::load::{Measured, Phases};
use crate::scenarios::Scenario;
use crate::seed::Counts;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// What ran where.
    pub run: Run,
    /// From exec to `GET /health/ready` = 200 on a migrated database.
    pub startup_ms: f64,
    /// `VmRSS` one second after start-up.
    pub idle_rss_mib: f64,
    /// One argon2id hash with authd's defaults on one core (median).
    pub hash_ms: f64,
    /// cores ÷ hash time: the most logins (or registrations) per second possible.
    pub hash_bound_per_s: f64,
    /// 3 × (16 ÷ cores) × hash time: issue 6's p99 bound for login and register.
    pub hash_p99_bound_ms: f64,
    /// One row per scenario, in the order they ran.
    pub scenarios: Vec<Row>,
    /// `me` at each total number of users of `--sweep-users`, ascending.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users_sweep: Vec<SweepRow>,
}

/// What ran where.
#[derive(Debug, Serialize)]
pub struct Run {
    /// When it started (UTC, RFC 3339).
    pub date: String,
    /// The short commit hash of the workspace (`-dirty` with uncommitted changes).
    pub commit: String,
    /// Where it ran.
    pub machine: Machine,
    /// The database backend.
    pub db: Backend,
    /// Unmeasured load before each scenario, in seconds.
    pub warmup_s: u64,
    /// Measured load per scenario, in seconds.
    pub duration_s: u64,
}

impl Run {
    /// A run starting now on this machine, of the code in `workspace`.
    pub fn here(db: Backend, phases: Phases, workspace: &Path) -> Self {
        // The wall clock of a report, not of the service: no Clock port here.
        #[allow(clippy::disallowed_methods)]
        let now = chrono::Utc::now();
        Self {
            date: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            commit: commit(workspace),
            machine: Machine {
                cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                cpu: cpu_model(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()),
                load_average: std::fs::read_to_string("/proc/loadavg")
                    .unwrap_or_default()
                    .split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" "),
            },
            db,
            warmup_s: phases.warmup.as_secs(),
            duration_s: phases.duration.as_secs(),
        }
    }
}

/// The machine.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// Available cores.
    pub cores: usize,
    /// `model name` of `/proc/cpuinfo`.
    pub cpu: String,
    /// `/proc/loadavg` (1, 5, 15 min) when the run started: other work on the machine.
    pub load_average: String,
}

/// The figures of one scenario.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Its name.
    pub scenario: &'static str,
    /// Workers, each with one connection, each sending as soon as it has its answer.
    pub concurrency: usize,
    /// Expected answers in the measured time.
    pub requests: u64,
    /// Expected answers per second.
    pub per_s: f64,
    /// Latency percentiles of the expected answers.
    pub latency_ms: Latencies,
    /// Other answers and failed requests.
    pub errors: u64,
    /// Largest `VmRSS` of the 50 ms samples taken during the scenario.
    pub rss_sampled_mib: f64,
    /// `VmHWM` at the end, reset before the scenario: the exact peak.
    pub rss_peak_mib: f64,
    /// CPU of authd during the load (warm-up included), in % of one core.
    pub authd_cpu_pct: f64,
    /// CPU of this load generator during the load, in % of one core.
    pub bench_cpu_pct: f64,
    /// CPU of every other process (PostgreSQL, anything else running), in % of one core.
    pub other_cpu_pct: f64,
    /// For register and login: one argon2id hash on one core (median), timed just
    /// before the scenario, so that the bound and the rate see the machine alike.
    pub hash_ms: Option<f64>,
    /// For register and login: hashes per second of this machine with every core
    /// hashing in-process, measured just before the scenario.
    pub hash_throughput_per_s: Option<f64>,
    /// For register and login: `per_s` ÷ `hash_throughput_per_s`.
    pub fraction_of_throughput: Option<f64>,
    /// For register and login: `per_s` ÷ the hashing bound (cores ÷ `hash_ms`).
    pub fraction_of_bound: Option<f64>,
    /// For register and login: 3 × (16 ÷ cores) × `hash_ms`, issue 6's p99 bound.
    pub p99_bound_ms: Option<f64>,
    /// CPU of authd's hashing threads during the load, in % of one core: what of
    /// `authd_cpu_pct` went to argon2.
    pub hashing_cpu_pct: f64,
}

/// What the machine hashes, measured just before a scenario that hashes passwords.
#[derive(Clone, Copy, Debug)]
pub struct Hashing {
    /// One hash on one core (median).
    pub one_core: Duration,
    /// Hashes per second with one thread per core hashing.
    pub all_cores_per_s: f64,
}

/// `me` at one total number of users.
#[derive(Debug, Serialize)]
pub struct SweepRow {
    /// Users in the database during the load, the bench's own included.
    pub users: u64,
    /// Sessions in the database during the load: one per seeded user, plus the bench's.
    pub sessions: u64,
    /// Bulk inserts of the users added since the previous row, and on PostgreSQL `VACUUM (ANALYZE)`.
    pub seed_s: f64,
    /// The figures of `me`.
    pub me: Row,
}

impl SweepRow {
    /// The row of `me` measured on a database with `counts` rows, seeded in `seeding`.
    pub fn new(counts: Counts, seeding: Duration, me: Row) -> Self {
        Self {
            users: counts.users,
            sessions: counts.sessions,
            seed_s: seeding.as_secs_f64(),
            me,
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, PartialEq, Serialize)]
pub struct Latencies {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl Latencies {
    /// The percentiles of a histogram of microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1e3;
        Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }
}

/// KiB to MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// What the processes used while a scenario ran.
pub struct Usage {
    /// Largest sampled `VmRSS` of authd, in KiB.
    pub rss_sampled_kib: u64,
    /// `VmHWM` of authd, in KiB.
    pub rss_peak_kib: u64,
    /// CPU time of authd ÷ wall time.
    pub authd_cpu: f64,
    /// CPU time of this process ÷ wall time.
    pub bench_cpu: f64,
    /// CPU time of the rest of the machine ÷ wall time.
    pub other_cpu: f64,
    /// CPU time of authd's hashing threads ÷ wall time.
    pub hashing_cpu: f64,
}

impl Row {
    /// The row of `scenario` from its answers over `duration`, what it used and, when it
    /// hashes passwords, the hashing measured before it.
    pub fn new(
        scenario: Scenario,
        measured: &Measured,
        duration: Duration,
        usage: &Usage,
        hashing: Option<Hashing>,
    ) -> Self {
        let per_s = measured.ok as f64 / duration.as_secs_f64();
        Self {
            scenario: scenario.name(),
            concurrency: scenario.concurrency(),
            requests: measured.ok,
            per_s,
            latency_ms: Latencies::of(&measured.histogram),
            errors: measured.errors,
            rss_sampled_mib: mib(usage.rss_sampled_kib),
            rss_peak_mib: mib(usage.rss_peak_kib),
            authd_cpu_pct: usage.authd_cpu * 100.0,
            bench_cpu_pct: usage.bench_cpu * 100.0,
            other_cpu_pct: usage.other_cpu * 100.0,
            hash_ms: hashing.map(|h| h.one_core.as_secs_f64() * 1e3),
            hash_throughput_per_s: hashing.map(|h| h.all_cores_per_s),
            fraction_of_throughput: None,
            fraction_of_bound: None,
            p99_bound_ms: None,
            hashing_cpu_pct: usage.hashing_cpu * 100.0,
        }
    }
}

impl Report {
    /// The report of `run`; computes the bounds.
    pub fn new(
        run: Run,
        startup: Duration,
        idle_rss_kib: u64,
        hash: Duration,
        mut scenarios: Vec<Row>,
        users_sweep: Vec<SweepRow>,
    ) -> Self {
        let cores = run.machine.cores as f64;
        let hash_s = hash.as_secs_f64();
        let hash_bound_per_s = cores / hash_s;
        for row in &mut scenarios {
            row.fraction_of_throughput = row.hash_throughput_per_s.map(|all| row.per_s / all);
            row.fraction_of_bound = row.hash_ms.map(|ms| row.per_s / (cores / (ms / 1e3)));
            row.p99_bound_ms = row.hash_ms.map(|ms| 3.0 * (16.0 / cores) * ms);
        }
        Self {
            run,
            startup_ms: startup.as_secs_f64() * 1e3,
            idle_rss_mib: mib(idle_rss_kib),
            hash_ms: hash_s * 1e3,
            hash_bound_per_s,
            hash_p99_bound_ms: 3.0 * (16.0 / cores) * hash_s * 1e3,
            scenarios,
            users_sweep,
        }
    }

    /// The rows of each scenario that ran more than once, in order of first run.
    fn repeated(&self) -> Vec<(&'static str, Vec<&Row>)> {
        let mut groups: Vec<(&'static str, Vec<&Row>)> = Vec::new();
        for row in &self.scenarios {
            match groups.iter_mut().find(|(name, _)| *name == row.scenario) {
                Some((_, runs)) => runs.push(row),
                None => groups.push((row.scenario, vec![row])),
            }
        }
        groups.retain(|(_, runs)| runs.len() > 1);
        groups
    }

    /// The report as markdown: the tables, then the figures of the whole run.
    pub fn markdown(&self) -> String {
        let run = &self.run;
        let mut md = format!(
            "### authd-bench: {} — {} cores ({}), warm-up {} s, {} s per scenario\n\n",
            run.db, run.machine.cores, run.machine.cpu, run.warmup_s, run.duration_s
        );
        if !self.scenarios.is_empty() {
            md.push_str(
                "| scenario | c | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | peak RSS MiB \
                 | authd CPU | bench CPU | other CPU |\n\
                 |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            );
        }
        for row in &self.scenarios {
            let l = &row.latency_ms;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.1} | {:.0} % | {:.0} % | {:.0} % |",
                row.scenario,
                row.concurrency,
                rate(row.per_s),
                l.p50,
                l.p90,
                l.p99,
                l.max,
                row.errors,
                row.rss_peak_mib,
                row.authd_cpu_pct,
                row.bench_cpu_pct,
                row.other_cpu_pct,
            );
        }
        if !self.users_sweep.is_empty() {
            md.push_str(
                "#### me vs. number of users\n\n\
                 Each seeded user is active with the `user` role and one live session; seeding \
                 is the bulk inserts of the users added since the row before (then, on \
                 PostgreSQL, `VACUUM (ANALYZE)`). The users of `me` log in again before each row.\n\n\
                 | users | sessions | seeding s | req/s | p50 ms | p90 ms | p99 ms | max ms \
                 | errors | authd CPU | other CPU |\n\
                 |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            );
        }
        for row in &self.users_sweep {
            let (me, l) = (&row.me, &row.me.latency_ms);
            let _ = writeln!(
                md,
                "| {} | {} | {:.2} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0} % | {:.0} % |",
                row.users,
                row.sessions,
                row.seed_s,
                rate(me.per_s),
                l.p50,
                l.p90,
                l.p99,
                l.max,
                me.errors,
                me.authd_cpu_pct,
                me.other_cpu_pct,
            );
        }
        let _ = write!(
            md,
            "\n- start-up to ready (migrated database): {:.0} ms\n\
             - idle RSS: {:.1} MiB\n\
             - argon2id hash (m=19456 KiB, t=2, p=1, one core) at the start of the run: {:.1} \
             ms; bound {} ÷ {:.1} ms = {:.1} hashes/s; p99 bound 3 × (16 ÷ {}) × {:.1} ms = \
             {:.0} ms\n",
            self.startup_ms,
            self.idle_rss_mib,
            self.hash_ms,
            run.machine.cores,
            self.hash_ms,
            self.hash_bound_per_s,
            run.machine.cores,
            self.hash_ms,
            self.hash_p99_bound_ms,
        );
        for row in &self.scenarios {
            if let (Some(hash_ms), Some(bound), Some(throughput), Some(of_throughput), Some(p99)) = (
                row.hash_ms,
                row.fraction_of_bound,
                row.hash_throughput_per_s,
                row.fraction_of_throughput,
                row.p99_bound_ms,
            ) {
                let _ = writeln!(
                    md,
                    "- {}: {:.1} % of the hashing bound ({} ÷ {:.1} ms, one core, timed just \
                     before); {:.1} % of the {:.1} hashes/s measured in-process on all cores \
                     just before; p99 {:.0} ms (bound {:.0} ms); hashing threads {:.0} % of \
                     authd's {:.0} % CPU: per answer {:.1} ms hashing, {:.2} ms the rest",
                    row.scenario,
                    bound * 100.0,
                    run.machine.cores,
                    hash_ms,
                    of_throughput * 100.0,
                    throughput,
                    row.latency_ms.p99,
                    p99,
                    row.hashing_cpu_pct,
                    row.authd_cpu_pct,
                    row.hashing_cpu_pct * 10.0 / row.per_s,
                    (row.authd_cpu_pct - row.hashing_cpu_pct) * 10.0 / row.per_s,
                );
            }
        }
        for (scenario, runs) in self.repeated() {
            let _ = write!(
                md,
                "- {scenario} over {} runs: median {} req/s ({}–{})",
                runs.len(),
                rate(median(&runs, |row| row.per_s)),
                rate(min(&runs, |row| row.per_s)),
                rate(max(&runs, |row| row.per_s)),
            );
            if runs.iter().all(|row| row.fraction_of_bound.is_some()) {
                let bound = |row: &Row| row.fraction_of_bound.unwrap_or_default() * 100.0;
                let _ = write!(
                    md,
                    "; median {:.1} % of the hashing bound ({:.1}–{:.1} %)",
                    median(&runs, bound),
                    min(&runs, bound),
                    max(&runs, bound),
                );
            }
            md.push('\n');
        }
        let _ = writeln!(
            md,
            "- commit {}, {}, load average before the run {}; peak RSS is VmHWM reset \
             before each scenario; CPU in % of one core over warm-up and measurement (other: PostgreSQL and anything else \
             on the machine)",
            run.commit, run.date, run.machine.load_average
        );
        md
    }
}

/// The median of `figure` over `rows` (the mean of the middle two for an even count).
fn median(rows: &[&Row], figure: impl Fn(&Row) -> f64) -> f64 {
    let mut values: Vec<f64> = rows.iter().map(|row| figure(row)).collect();
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        f64::midpoint(values[middle - 1], values[middle])
    } else {
        values[middle]
    }
}

fn min(rows: &[&Row], figure: impl Fn(&Row) -> f64) -> f64 {
    rows.iter()
        .map(|row| figure(row))
        .fold(f64::INFINITY, f64::min)
}

fn max(rows: &[&Row], figure: impl Fn(&Row) -> f64) -> f64 {
    rows.iter()
        .map(|row| figure(row))
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Requests per second, to a precision that means something.
pub fn rate(per_s: f64) -> String {
    if per_s >= 100.0 {
        format!("{per_s:.0}")
    } else {
        format!("{per_s:.1}")
    }
}

/// The first `model name` of `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// The short commit hash of `workspace`, `-dirty` when it has uncommitted changes.
fn commit(workspace: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(workspace)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match (
        git(&["rev-parse", "--short", "HEAD"]),
        git(&["status", "--porcelain"]),
    ) {
        (Some(hash), Some(changes)) if !changes.is_empty() => format!("{hash}-dirty"),
        (Some(hash), _) => hash,
        (None, _) => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests;
