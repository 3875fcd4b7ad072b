//! Times the admin API's audit queries over a large trail on PostgreSQL and shows their
//! plans (docs/benchmarks.md). Recreates the database `authd_audit_bench` on the given
//! server, migrates it, seeds it, then runs each query through the repository.
//!
//! `cargo run --release -p auth-sea-orm --example audit_queries -- [--rows N] [--runs N] [URL]`
//!
//! Exits non-zero when a plan scans `audit_logs` without an index.

use auth_ports::AuditRepository;
use auth_sea_orm::bench_support::{AuditSeed, explain, matching};
use auth_sea_orm::{PoolConfig, Store};
use clap::Parser;
use sea_orm::{ConnectionTrait, Database};
use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const DATABASE: &str = "authd_audit_bench";

/// Audit query benchmark on PostgreSQL.
#[derive(Parser)]
struct Args {
    /// Audit entries to seed.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u32,
    /// Timed runs of each query, after as many untimed ones.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// A PostgreSQL server URL; default TEST_DATABASE_URL (never DATABASE_URL: this seeds
    /// a million rows, which must not happen on a production server by accident). Its
    /// database is only used to create `authd_audit_bench`.
    url: Option<String>,
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn Error>> {
    let args = Args::parse();
    let server = args
        .url
        .or_else(|| std::env::var("TEST_DATABASE_URL").ok())
        .ok_or("give a PostgreSQL URL, or set TEST_DATABASE_URL")?;
    let mut url = url::Url::parse(&server)?;
    let admin = Database::connect(server.as_str()).await?;
    // Two calls: neither statement may run inside the implicit transaction of a batch.
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {DATABASE}"))
        .await?;
    admin.close().await?;
    url.set_path(DATABASE);

    let store = Store::connect(&PoolConfig {
        url: url.into(),
        max_connections: 2,
        min_connections: 1,
        idle_timeout: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(10),
    })
    .await?;
    store.migrate_up().await?;
    let seed = AuditSeed::new(args.rows);
    let started = Instant::now();
    seed.insert(&store).await?;
    eprintln!(
        "seeded {} entries by {} users into {DATABASE} in {:.1} s",
        seed.rows,
        seed.users,
        started.elapsed().as_secs_f64()
    );

    let audit = store.audit();
    let mut report = String::new();
    let mut all_indexed = true;
    println!("| Query | Matching entries | Returned | Median ms | p95 ms | Max ms | Index |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (label, query) in seed.queries() {
        let mut times = Vec::new();
        let mut returned = 0;
        for run in 0..2 * args.runs {
            let started = Instant::now();
            returned = audit.query(query.clone()).await?.len();
            if run >= args.runs {
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        // Nearest rank: the smallest time that at least p% of the runs do not exceed.
        let percentile = |p: usize| times[(times.len() * p).div_ceil(100).max(1) - 1];
        let matched = matching(&store, query.clone()).await?;
        let plan = explain(&store, query).await?;
        all_indexed &= plan.uses_audit_index();
        let indexes = plan.audit_indexes().join(", ");
        println!(
            "| {label} | {matched} | {returned} | {:.2} | {:.2} | {:.2} | {} |",
            percentile(50),
            percentile(95),
            percentile(100),
            if indexes.is_empty() { "none" } else { &indexes }
        );
        report.push_str(&format!("\n{label}:\n```text\n{plan}\n```\n"));
    }
    println!("{report}");
    store.close().await?;
    if all_indexed {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("a plan reads audit_logs without an index (see above)");
        Ok(ExitCode::FAILURE)
    }
}
