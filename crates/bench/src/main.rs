//! `authd-bench`: starts the release `authd` on a fresh database, drives it over real HTTP
//! with a closed-loop load generator and writes `target/bench/report.md` and
//! `report.json` (docs/benchmarks.md, issue 6); with `--soak`, one mixed workload for a
//! long time, sampled over time, into `target/bench/soak-<db>.{md,json}` (issue 19).

mod db;
mod hash;
mod import;
mod load;
mod mix;
mod procfs;
mod report;
mod scenarios;
mod seed;
mod server;
mod soak;
mod span;

use anyhow::{Context as _, bail};
use clap::Parser;
use db::{Backend, Database};
use procfs::Sampler;
use report::{Hashing, Report, Row, Run, SweepRow, Usage};
use scenarios::Scenario;
use seed::Population;
use server::{Launch, Server};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Load benchmark of the release `authd` binary.
#[derive(Debug, Parser)]
#[command(name = "authd-bench", about)]
struct Args {
    /// The database backend of the run.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    db: Backend,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
    /// Unmeasured seconds of load before each scenario's measurement.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// A scenario to run (repeatable); all of them when omitted.
    #[arg(long = "scenario", value_enum)]
    scenarios: Vec<Scenario>,
    /// Runs of each scenario, one after another on the same server; with more than one,
    /// the report adds each scenario's median and range.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Instead of the scenarios: `me` with the database grown by bulk inserts to each of
    /// these total numbers of users, smallest first (e.g. 1000,10000,100000,1000000).
    #[arg(
        long,
        value_delimiter = ',',
        conflicts_with = "scenarios",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    sweep_users: Vec<u64>,
    /// Instead of the scenarios: how argon2id hashing scales from one core to all of them
    /// at several memory costs, printed as a table (no server, no database).
    #[arg(long, conflicts_with_all = ["scenarios", "sweep_users"])]
    hash_scaling: bool,
    /// Instead of the scenarios: one server under a mixed workload (mostly `me`, some
    /// logins and logouts, few registrations and admin calls) for this long (`90s`, `30m`,
    /// `1h`), sampled over time; exits non-zero when the verdict fails.
    #[arg(
        long,
        value_parser = span::parse,
        conflicts_with_all = ["scenarios", "sweep_users", "hash_scaling", "repeat", "duration"]
    )]
    soak: Option<Duration>,
    /// Instead of the scenarios: `authd users import` of this many generated accounts on
    /// a fresh database, then `authd users export` of them, timed (through the binary).
    #[arg(
        long,
        conflicts_with_all = ["scenarios", "sweep_users", "hash_scaling", "repeat", "soak"]
    )]
    import: Option<u64>,
    /// Where the report files go (default: `target/bench` of this executable).
    #[arg(long)]
    out: Option<PathBuf>,
    /// PostgreSQL server on which `authd_bench_<uuid>` is created (and dropped after).
    #[arg(
        long,
        env = "TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    database_url: String,
}

/// How long the hash throughput of the machine is measured before register and login.
const HASH_SPAN: Duration = Duration::from_secs(2);

/// The name authd's hashing threads give themselves (`adapters/argon2_hasher.rs`).
const HASH_THREAD: &str = "authd-hash";

/// How long each figure of `--hash-scaling` is measured.
const HASH_SCALING_SPAN: Duration = Duration::from_secs(4);

/// The workspace root, for building `authd` and naming the commit.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.hash_scaling {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        eprintln!("argon2id (t=2, p=1) at each memory cost, {HASH_SCALING_SPAN:?} per figure…");
        println!("{}", hash::scaling(cores, HASH_SCALING_SPAN)?);
        return Ok(());
    }
    let mut scenarios: Vec<Scenario> = Vec::new();
    for scenario in args.scenarios.iter().copied() {
        if !scenarios.contains(&scenario) {
            scenarios.push(scenario);
        }
    }
    let mut sweep = args.sweep_users;
    sweep.sort_unstable();
    sweep.dedup();
    if scenarios.is_empty() && sweep.is_empty() {
        scenarios = Scenario::ALL.to_vec();
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let bin_dir = exe.parent().context("this executable has no directory")?;
    let authd = locate_authd(bin_dir)?;
    let out = args
        .out
        .unwrap_or_else(|| bin_dir.parent().unwrap_or(bin_dir).join("bench"));
    if let Some(accounts) = args.import {
        let database = Database::create(args.db, &args.database_url).await?;
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let timed = import::run(&authd, database.url(), dir.path(), accounts);
        if let Err(err) = database.remove().await {
            eprintln!("warning: {err:#}");
        }
        println!("{}", timed?.line(&args.db.to_string()));
        return Ok(());
    }
    if let Some(duration) = args.soak {
        return soak(
            args.db,
            &args.database_url,
            &authd,
            &out,
            duration,
            args.warmup,
        )
        .await;
    }
    let phases = load::Phases {
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.duration),
    };
    let run = Run::here(args.db, phases, &workspace_root());
    eprintln!("load average before the run: {}", run.machine.load_average);

    eprintln!("timing argon2id (m=19456 KiB, t=2, p=1) on one core…");
    let hash = hash::time_one()?;
    let database = Database::create(args.db, &args.database_url).await?;
    eprintln!("database: {}", database.describe());
    let measured = measure(
        run,
        phases,
        &scenarios,
        args.repeat,
        &sweep,
        &authd,
        database.url(),
        hash,
    )
    .await;
    if let Err(err) = database.remove().await {
        eprintln!("warning: {err:#}");
    }
    let report = measured?;
    write_report(&out, "report", &report.markdown(), &report)
}

/// The soak of `--soak`: a fresh database, the run, the report; an error when the verdict
/// fails.
async fn soak(
    db: Backend,
    database_url: &str,
    authd: &Path,
    out: &Path,
    duration: Duration,
    warmup: u64,
) -> anyhow::Result<()> {
    let settings = soak::Settings::new(duration, Duration::from_secs(warmup));
    let phases = load::Phases {
        warmup: settings.warmup,
        duration,
    };
    let run = Run::here(db, phases, &workspace_root());
    eprintln!("load average before the run: {}", run.machine.load_average);
    let database = Database::create(db, database_url).await?;
    eprintln!("database: {}", database.describe());
    let soaked = soak::run(authd, database.url(), run, settings).await;
    if let Err(err) = database.remove().await {
        eprintln!("warning: {err:#}");
    }
    let report = soaked?;
    write_report(out, &format!("soak-{db}"), &report.markdown(), &report)?;
    println!("{}", report.verdict.line());
    if !report.verdict.pass {
        bail!("the soak failed (verdict above)");
    }
    Ok(())
}

/// Prints `markdown` and writes it and `report` as JSON to `<out>/<stem>.{md,json}`.
fn write_report(
    out: &Path,
    stem: &str,
    markdown: &str,
    report: &impl serde::Serialize,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join(format!("{stem}.md")), markdown)?;
    std::fs::write(
        out.join(format!("{stem}.json")),
        serde_json::to_string_pretty(report)?,
    )?;
    println!("{markdown}");
    eprintln!("written: {}/{stem}.{{md,json}}", out.display());
    Ok(())
}

/// The `authd` next to this executable, built once with cargo when it is missing: a
/// release build next to `target/release/authd-bench`, a debug one next to the debug
/// build (the soak test of `cargo test`).
fn locate_authd(bin_dir: &Path) -> anyhow::Result<PathBuf> {
    let authd = bin_dir.join("authd");
    if !authd.exists() {
        let mut build = vec!["build", "-p", "authd"];
        if bin_dir.ends_with("release") {
            build.push("--release");
        }
        let build_line = format!("cargo {}", build.join(" "));
        eprintln!("{} is missing: running `{build_line}`", authd.display());
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(&build)
            .current_dir(workspace_root())
            .status()
            .context("cannot run cargo")?;
        if !status.success() || !authd.exists() {
            bail!("`{build_line}` did not produce {}", authd.display());
        }
    }
    eprintln!("authd binary: {}", authd.display());
    Ok(authd)
}

/// Start-up, idle memory, every scenario `repeat` times and the sweep over `sweep` (total
/// numbers of users, ascending) against one server on `database_url`.
#[allow(clippy::too_many_arguments)] // one call, in `main`
async fn measure(
    run: Run,
    phases: load::Phases,
    scenarios: &[Scenario],
    repeat: u32,
    sweep: &[u64],
    authd: &Path,
    database_url: &str,
    hash: Duration,
) -> anyhow::Result<Report> {
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let launch = Launch::new(authd, database_url, work.path())?;
    // The first start migrates the database; only a start on a migrated one is timed.
    drop(launch.start().await?);
    launch.create_admin(scenarios::ADMIN_EMAIL, scenarios::PASSWORD)?;
    let (server, startup) = launch.start().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = procfs::memory_kib(server.pid(), "VmRSS")?;
    eprintln!(
        "start-up to ready: {:.0} ms; idle RSS {:.1} MiB",
        startup.as_secs_f64() * 1e3,
        report::mib(idle_rss)
    );

    let mut rows = Vec::new();
    for &scenario in scenarios {
        for run in 0..repeat {
            rows.push(run_scenario(&server, scenario, run, phases).await?);
        }
    }
    let users_sweep = if sweep.is_empty() {
        Vec::new()
    } else {
        run_sweep(&server, database_url, sweep, phases).await?
    };
    drop(server);
    Ok(Report::new(run, startup, idle_rss, hash, rows, users_sweep))
}

/// `me` at each total number of users: the database grown to it, then the users of `me`
/// logged in again, so their token lookups search all the sessions.
async fn run_sweep(
    server: &Server,
    database_url: &str,
    totals: &[u64],
    phases: load::Phases,
) -> anyhow::Result<Vec<SweepRow>> {
    let mut population = Population::connect(database_url).await?;
    let emails = scenarios::register_me_users(server.addr(), 0).await?;
    let mut rows = Vec::new();
    for &total in totals {
        eprintln!("me at {total} users: seeding");
        let started = Instant::now();
        population.grow_to(total).await?;
        let seeding = started.elapsed();
        let scripts = scenarios::me_scripts(server.addr(), &emails).await?;
        let counts = population.counts().await?;
        eprintln!(
            "me at {total} users: seeded in {:.1} s; {} users, {} sessions",
            seeding.as_secs_f64(),
            counts.users,
            counts.sessions
        );
        let me = run_load(server, Scenario::Me, scripts, None, phases).await?;
        rows.push(SweepRow::new(counts, seeding, me));
    }
    population.close().await?;
    Ok(rows)
}

/// Run `run` of a scenario against `server`: its users and sessions made first, then
/// the load.
async fn run_scenario(
    server: &Server,
    scenario: Scenario,
    run: u32,
    phases: load::Phases,
) -> anyhow::Result<Row> {
    eprintln!("{}: preparing", scenario.name());
    let scripts = scenario.scripts(server.addr(), run).await?;
    let hashing = if scenario.hashes() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Some(Hashing {
            one_core: hash::time_one()?,
            all_cores_per_s: hash::throughput(cores, HASH_SPAN)?,
        })
    } else {
        None
    };
    run_load(server, scenario, scripts, hashing, phases).await
}

/// The load of `scripts` against `server`, with authd's memory sampled and the CPU of
/// both processes counted.
async fn run_load(
    server: &Server,
    scenario: Scenario,
    scripts: Vec<Box<dyn load::Script>>,
    hashing: Option<Hashing>,
    phases: load::Phases,
) -> anyhow::Result<Row> {
    let (pid, own) = (server.pid(), std::process::id());
    procfs::reset_peak(pid)?;
    let sampler = Sampler::start(pid);
    let before = (
        procfs::cpu_time(pid)?,
        procfs::cpu_time(own)?,
        procfs::machine_busy()?,
        procfs::threads_cpu_time(pid, HASH_THREAD)?,
    );
    let started = Instant::now();
    let result = load::run(
        scenario.name(),
        server.addr(),
        scenario.expect(),
        scripts,
        phases,
    )
    .await?;
    let wall = started.elapsed().as_secs_f64();
    let after = (
        procfs::cpu_time(pid)?,
        procfs::cpu_time(own)?,
        procfs::machine_busy()?,
        procfs::threads_cpu_time(pid, HASH_THREAD)?,
    );
    let share = |now: Duration, before: Duration| now.saturating_sub(before).as_secs_f64() / wall;
    let (authd, bench) = (share(after.0, before.0), share(after.1, before.1));
    let usage = Usage {
        authd_cpu: authd,
        bench_cpu: bench,
        other_cpu: (share(after.2, before.2) - authd - bench).max(0.0),
        hashing_cpu: share(after.3, before.3),
        rss_sampled_kib: sampler.finish()?,
        rss_peak_kib: procfs::memory_kib(pid, "VmHWM")?,
    };
    Ok(Row::new(
        scenario,
        &result,
        phases.duration,
        &usage,
        hashing,
    ))
}
