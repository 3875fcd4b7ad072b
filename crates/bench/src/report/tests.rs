use super::*;

fn histogram(values: impl IntoIterator<Item = u64>) -> anyhow::Result<Histogram<u64>> {
    let mut histogram = crate::load::histogram()?;
    for value in values {
        histogram.record(value)?;
    }
    Ok(histogram)
}

#[test]
fn percentiles_come_from_every_recorded_latency() -> anyhow::Result<()> {
    // 1..=1000 µs: the p-th percentile is p × 10 µs.
    let latencies = Latencies::of(&histogram(1..=1000)?);
    assert_eq!(
        latencies,
        Latencies {
            p50: 0.5,
            p90: 0.9,
            p99: 0.99,
            max: 1.0,
        }
    );
    Ok(())
}

/// 950 answers in 10 s of `scenario`, 2 errors.
fn row(scenario: Scenario, hashing: Option<Hashing>) -> anyhow::Result<Row> {
    let measured = Measured {
        ok: 950,
        errors: 2,
        histogram: histogram([1_000, 1_500, 2_000])?,
    };
    let usage = Usage {
        rss_sampled_kib: 100 * 1024,
        rss_peak_kib: 120 * 1024,
        authd_cpu: 1.834,
        bench_cpu: 0.02,
        other_cpu: 0.001,
        hashing_cpu: 1.52,
    };
    Ok(Row::new(
        scenario,
        &measured,
        Duration::from_secs(10),
        &usage,
        hashing,
    ))
}

/// A 20 ms hash on one core, 100 hashes/s on both: the hashing before a scenario.
const HASHING: Option<Hashing> = Some(Hashing {
    one_core: Duration::from_millis(20),
    all_cores_per_s: 100.0,
});

/// A report of `scenarios` and `users_sweep` on PostgreSQL, with a 25 ms hash at the
/// start of the run.
fn report(scenarios: Vec<Row>, users_sweep: Vec<SweepRow>) -> Report {
    let run = Run {
        date: "2026-01-01T00:00:00Z".to_owned(),
        commit: "abc1234".to_owned(),
        machine: Machine {
            cores: 2,
            cpu: "Test CPU".to_owned(),
            load_average: "0.10 0.20 0.30".to_owned(),
        },
        db: Backend::Postgres,
        warmup_s: 2,
        duration_s: 10,
    };
    Report::new(
        run,
        Duration::from_millis(123),
        20 * 1024,
        Duration::from_millis(25),
        scenarios,
        users_sweep,
    )
}

#[test]
fn the_markdown_has_a_row_per_scenario_and_the_bound() -> anyhow::Result<()> {
    let report = report(vec![row(Scenario::Login, HASHING)?], Vec::new());
    let md = report.markdown();
    assert!(md.contains("### authd-bench: postgres — 2 cores (Test CPU)"));
    assert!(md.contains(
        "| login | 16 | 95.0 | 1.50 | 2.00 | 2.00 | 2.00 | 2 | 120.0 | 183 % | 2 % | 0 % |"
    ));
    assert!(md.contains("- start-up to ready (migrated database): 123 ms"));
    assert!(md.contains("- idle RSS: 20.0 MiB"));
    // At the start: 2 cores ÷ 25 ms = 80 logins/s at most.
    assert!(md.contains("start of the run: 25.0 ms; bound 2 ÷ 25.0 ms = 80.0 hashes/s"));
    // Just before the scenario: 2 ÷ 20 ms = 100/s; 3 × (16 ÷ 2) × 20 ms = 480 ms.
    assert!(md.contains(
        "- login: 95.0 % of the hashing bound (2 ÷ 20.0 ms, one core, timed just before); \
         95.0 % of the 100.0 hashes/s measured in-process on all cores just before; \
         p99 2 ms (bound 480 ms); hashing threads 152 % of authd's 183 % CPU: per answer \
         16.0 ms hashing, 3.31 ms the rest"
    ));
    assert!(md.contains(
        "- commit abc1234, 2026-01-01T00:00:00Z, load average before the run 0.10 0.20 0.30;"
    ));
    Ok(())
}

#[test]
fn a_sweep_has_a_row_per_number_of_users_and_no_scenario_table() -> anyhow::Result<()> {
    let counts = Counts {
        users: 1000,
        sessions: 1031,
    };
    let sweep = SweepRow::new(
        counts,
        Duration::from_millis(1250),
        row(Scenario::Me, None)?,
    );
    let report = report(Vec::new(), vec![sweep]);
    let md = report.markdown();
    assert!(!md.contains("| scenario |"));
    assert!(md.contains("#### me vs. number of users"));
    assert!(
        md.contains("| 1000 | 1031 | 1.25 | 95.0 | 1.50 | 2.00 | 2.00 | 2.00 | 2 | 183 % | 0 % |")
    );
    let json = serde_json::to_value(&report)?;
    assert_eq!(json["users_sweep"][0]["sessions"], 1031);
    assert_eq!(json["users_sweep"][0]["me"]["scenario"], "me");
    Ok(())
}

#[test]
fn repeated_scenarios_get_their_median_and_range() -> anyhow::Result<()> {
    let mut logins = Vec::new();
    for ok in [900, 950, 1000, 1100] {
        let mut login = row(Scenario::Login, HASHING)?;
        login.per_s = f64::from(ok) / 10.0;
        logins.push(login);
    }
    logins.push(row(Scenario::Me, None)?);
    let md = report(logins, Vec::new()).markdown();
    // 90, 95, 100, 110 logins/s against a bound of 100/s.
    assert!(md.contains(
        "- login over 4 runs: median 97.5 req/s (90.0–110); median 97.5 % of the hashing \
         bound (90.0–110.0 %)\n"
    ));
    assert!(!md.contains("me over"), "a single run has no summary");
    Ok(())
}

#[test]
fn a_run_without_sweep_has_no_sweep_in_json() -> anyhow::Result<()> {
    let json = serde_json::to_value(report(vec![row(Scenario::Me, None)?], Vec::new()))?;
    assert!(json.get("users_sweep").is_none());
    Ok(())
}

#[test]
fn the_cpu_model_is_the_first_model_name() {
    let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n\n\
                   processor\t: 1\nmodel name\t: AMD EPYC\n";
    assert_eq!(cpu_model(cpuinfo), "AMD EPYC");
    assert_eq!(cpu_model(""), "unknown CPU");
}
