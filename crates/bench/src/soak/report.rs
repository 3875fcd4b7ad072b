//! The soak's report: the time series, the totals of each kind of request and the verdict,
//! as markdown and JSON.

use crate::mix::Kind;
use crate::report::{Latencies, Run, rate};
use hyper::StatusCode;
use serde::Serialize;
use std::fmt::Write as _;

/// RSS may grow from the first quarter's median to the last quarter's by this share of
/// the first…
pub const RSS_GROWTH_SHARE: f64 = 0.10;

/// …or by this many MiB, whichever is more: the RSS of one sample moves by megabytes with
/// the argon2 blocks (19 MiB each) and buffers in use at that instant.
pub const RSS_GROWTH_FLOOR_MIB: f64 = 8.0;

/// Answers by status class, and requests that got none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Classes {
    /// 2xx.
    pub success: u64,
    /// 3xx.
    pub redirection: u64,
    /// 4xx.
    pub client_error: u64,
    /// 5xx.
    pub server_error: u64,
    /// Any other status.
    pub other: u64,
    /// No answer: the connection failed (and was opened again).
    pub transport_error: u64,
    /// Answers whose status is not the one the step expects (5xx included).
    pub unexpected: u64,
}

impl Classes {
    /// Counts an answer with `status`.
    pub fn answer(&mut self, status: StatusCode, expected: bool) {
        let class = match status.as_u16() / 100 {
            2 => &mut self.success,
            3 => &mut self.redirection,
            4 => &mut self.client_error,
            5 => &mut self.server_error,
            _ => &mut self.other,
        };
        *class += 1;
        if !expected {
            self.unexpected += 1;
        }
    }

    /// Requests answered, whatever the status.
    pub fn answered(&self) -> u64 {
        self.success + self.redirection + self.client_error + self.server_error + self.other
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Self) {
        self.success += other.success;
        self.redirection += other.redirection;
        self.client_error += other.client_error;
        self.server_error += other.server_error;
        self.other += other.other;
        self.transport_error += other.transport_error;
        self.unexpected += other.unexpected;
    }
}

/// One kind of request over the whole measured run.
#[derive(Debug, Serialize)]
pub struct KindTotal {
    /// The kind.
    pub kind: Kind,
    /// Answers per second over the run.
    pub per_s: f64,
    /// Latency of every answer, whatever its status.
    pub latency_ms: Latencies,
    /// The answers by class.
    pub classes: Classes,
}

/// One kind of request in one interval.
#[derive(Debug, Serialize)]
pub struct KindSample {
    /// The kind.
    pub kind: Kind,
    /// Answers per second.
    pub per_s: f64,
    /// Median latency; none without answers.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency; none without answers.
    pub p99_ms: Option<f64>,
}

/// One interval of the run.
#[derive(Debug, Serialize)]
pub struct Sample {
    /// Seconds from the start of the measurement to the end of the interval.
    pub t_s: f64,
    /// authd's `VmRSS` at the end of the interval.
    pub rss_mib: f64,
    /// authd's CPU in the interval, in % of one core.
    pub authd_cpu_pct: f64,
    /// CPU of every other process but this one (PostgreSQL, anything else running) in
    /// the interval, in % of one core.
    pub other_cpu_pct: f64,
    /// Answers per second, every kind.
    pub per_s: f64,
    /// 5xx answers since the start of the measurement.
    pub server_errors_total: u64,
    /// Requests without an answer since the start of the measurement.
    pub transport_errors_total: u64,
    /// Each kind, in the order of [`Kind::ALL`].
    pub kinds: Vec<KindSample>,
}

/// p99 of one kind in the first and the last interval.
#[derive(Debug, Serialize)]
pub struct P99Drift {
    /// The kind.
    pub kind: Kind,
    /// In the first interval.
    pub first_ms: Option<f64>,
    /// In the last interval.
    pub last_ms: Option<f64>,
}

/// Whether the server held up: flat memory, no 5xx, no lost request, no unexpected answer.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// Median `VmRSS` of the first quarter of the samples.
    pub rss_first_quarter_mib: f64,
    /// Median `VmRSS` of the last quarter of the samples.
    pub rss_last_quarter_mib: f64,
    /// The most the last may exceed the first: [`RSS_GROWTH_SHARE`] of the first or
    /// [`RSS_GROWTH_FLOOR_MIB`], whichever is more.
    pub rss_allowed_growth_mib: f64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Requests without an answer.
    pub transport_errors: u64,
    /// Answers with another status than expected, 5xx excluded.
    pub other_unexpected: u64,
    /// p99 of each kind, first and last interval (not judged: the run's own record).
    pub p99: Vec<P99Drift>,
    /// Every rule held.
    pub pass: bool,
}

impl Verdict {
    /// The verdict on `samples` (in order) and the run's `totals`.
    pub fn of(samples: &[Sample], totals: &[KindTotal]) -> Self {
        let quarter = (samples.len() / 4).max(1).min(samples.len());
        let rss = |part: &[Sample]| median(part.iter().map(|s| s.rss_mib).collect());
        let first = rss(&samples[..quarter]);
        let last = rss(&samples[samples.len() - quarter..]);
        let allowed = (first * RSS_GROWTH_SHARE).max(RSS_GROWTH_FLOOR_MIB);
        let mut classes = Classes::default();
        for total in totals {
            classes.add(&total.classes);
        }
        let p99 = |sample: Option<&Sample>, kind: Kind| {
            sample.and_then(|s| s.kinds.iter().find(|k| k.kind == kind)?.p99_ms)
        };
        let other_unexpected = classes.unexpected.saturating_sub(classes.server_error);
        Self {
            rss_first_quarter_mib: first,
            rss_last_quarter_mib: last,
            rss_allowed_growth_mib: allowed,
            server_errors: classes.server_error,
            transport_errors: classes.transport_error,
            other_unexpected,
            p99: Kind::ALL
                .iter()
                .map(|&kind| P99Drift {
                    kind,
                    first_ms: p99(samples.first(), kind),
                    last_ms: p99(samples.last(), kind),
                })
                .collect(),
            pass: !samples.is_empty()
                && last - first <= allowed
                && classes.server_error == 0
                && classes.transport_error == 0
                && other_unexpected == 0,
        }
    }

    /// The verdict in one line.
    pub fn line(&self) -> String {
        let growth = self.rss_last_quarter_mib - self.rss_first_quarter_mib;
        let mut line = format!(
            "{}: RSS {:.1} → {:.1} MiB ({:+.1} MiB, {:+.1} %; allowed +{:.1} MiB); {} 5xx, {} \
             transport errors, {} other unexpected answers; p99 first → last interval:",
            if self.pass { "PASS" } else { "FAIL" },
            self.rss_first_quarter_mib,
            self.rss_last_quarter_mib,
            growth,
            growth / self.rss_first_quarter_mib * 100.0,
            self.rss_allowed_growth_mib,
            self.server_errors,
            self.transport_errors,
            self.other_unexpected,
        );
        for (i, drift) in self.p99.iter().enumerate() {
            let _ = write!(
                line,
                "{} {} {} → {} ms",
                if i == 0 { "" } else { "," },
                drift.kind.name(),
                ms(drift.first_ms),
                ms(drift.last_ms)
            );
        }
        line
    }
}

/// A soak run.
#[derive(Debug, Serialize)]
pub struct SoakReport {
    /// What ran where; `duration_s` is the measured soak, `warmup_s` the load before it.
    pub run: Run,
    /// Workers, each a user on one keep-alive connection, sending as soon as answered.
    pub workers: usize,
    /// Requests of each kind in one cycle of a worker.
    pub cycle: Vec<(Kind, usize)>,
    /// Seconds between samples.
    pub interval_s: f64,
    /// `VmRSS` one second after start-up, before any load.
    pub idle_rss_mib: f64,
    /// `VmHWM` at the end, reset when the measurement started.
    pub peak_rss_mib: f64,
    /// authd's CPU over the measurement, in % of one core.
    pub authd_cpu_pct: f64,
    /// CPU of every other process but this one over the measurement, in % of one core.
    pub other_cpu_pct: f64,
    /// Each kind over the whole measurement, in the order of [`Kind::ALL`].
    pub totals: Vec<KindTotal>,
    /// One per interval.
    pub samples: Vec<Sample>,
    /// The judgement.
    pub verdict: Verdict,
}

impl SoakReport {
    /// The report as markdown: the verdict, the totals, the time series.
    pub fn markdown(&self) -> String {
        let run = &self.run;
        let cycle: usize = self.cycle.iter().map(|(_, n)| n).sum();
        let mix: Vec<String> = self
            .cycle
            .iter()
            .map(|(kind, n)| format!("{n} {}", kind.name()))
            .collect();
        let mut md = format!(
            "### authd-bench --soak: {} — {} cores ({}), {} s after {} s of warm-up, {} \
             workers, sampled every {} s\n\n\
             Each worker's cycle of {cycle} requests: {}.\n\n**{}**\n\n\
             | kind | answers | req/s | p50 ms | p90 ms | p99 ms | max ms | 2xx | 4xx | 5xx \
             | transport errors | unexpected |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            run.db,
            run.machine.cores,
            run.machine.cpu,
            run.duration_s,
            run.warmup_s,
            self.workers,
            seconds(self.interval_s),
            mix.join(", "),
            self.verdict.line(),
        );
        for total in &self.totals {
            let (l, c) = (&total.latency_ms, &total.classes);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
                total.kind.name(),
                c.answered(),
                rate(total.per_s),
                l.p50,
                l.p90,
                l.p99,
                l.max,
                c.success,
                c.client_error,
                c.server_error,
                c.transport_error,
                c.unexpected,
            );
        }
        md.push_str("\nEach kind's cell: req/s · p50 / p99 ms in the interval.\n\n| t | RSS MiB | authd CPU | other CPU | req/s | 5xx so far |");
        for kind in Kind::ALL {
            let _ = write!(md, " {} |", kind.name());
        }
        md.push_str("\n|---:|---:|---:|---:|---:|---:|");
        md.push_str(&"---:|".repeat(Kind::ALL.len()));
        md.push('\n');
        for sample in &self.samples {
            let _ = write!(
                md,
                "| {} | {:.1} | {:.0} % | {:.0} % | {} | {} |",
                clock(sample.t_s),
                sample.rss_mib,
                sample.authd_cpu_pct,
                sample.other_cpu_pct,
                rate(sample.per_s),
                sample.server_errors_total,
            );
            for kind in &sample.kinds {
                let _ = write!(
                    md,
                    " {} · {} / {} |",
                    rate(kind.per_s),
                    ms(kind.p50_ms),
                    ms(kind.p99_ms)
                );
            }
            md.push('\n');
        }
        let _ = writeln!(
            md,
            "\n- idle RSS {:.1} MiB; peak RSS (VmHWM) during the measurement {:.1} MiB; CPU in \
             % of one core: authd {:.0} %, other processes {:.0} % (PostgreSQL and anything \
             else on the machine; the load generator left out)\n\
             - commit {}, {}, load average before the run {}",
            self.idle_rss_mib,
            self.peak_rss_mib,
            self.authd_cpu_pct,
            self.other_cpu_pct,
            run.commit,
            run.date,
            run.machine.load_average,
        );
        md
    }
}

/// The median of `values` (the mean of the middle two for an even count; 0 for none).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => 0.0,
        n if n.is_multiple_of(2) => f64::midpoint(values[middle - 1], values[middle]),
        _ => values[middle],
    }
}

/// Milliseconds to a precision that means something; `–` for none.
fn ms(value: Option<f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(ms) if ms >= 100.0 => format!("{ms:.0}"),
        Some(ms) if ms >= 10.0 => format!("{ms:.1}"),
        Some(ms) => format!("{ms:.2}"),
    }
}

/// Seconds, whole when they are.
fn seconds(value: f64) -> String {
    if (value - value.round()).abs() < 1e-6 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// Seconds as `m:ss`.
fn clock(seconds: f64) -> String {
    // Whole seconds of a run that lasts hours at most.
    let whole = seconds.round() as u64;
    format!("{}:{:02}", whole / 60, whole % 60)
}

#[cfg(test)]
mod tests;
