use super::*;
use crate::db::Backend;
use crate::report::Machine;

/// One interval ending at `t_s` with authd at `rss_mib`; `me` with a p99 of `t_s` ms,
/// `register` without answers.
fn sample(t_s: f64, rss_mib: f64) -> Sample {
    Sample {
        t_s,
        rss_mib,
        authd_cpu_pct: 150.0,
        other_cpu_pct: 5.0,
        per_s: 1000.0,
        server_errors_total: 0,
        transport_errors_total: 0,
        kinds: Kind::ALL
            .iter()
            .map(|&kind| KindSample {
                kind,
                per_s: if kind == Kind::Register { 0.0 } else { 250.0 },
                p50_ms: (kind != Kind::Register).then_some(1.0),
                p99_ms: (kind != Kind::Register).then_some(t_s),
            })
            .collect(),
    }
}

/// Samples every 10 s with these RSS figures.
fn samples(rss_mib: &[f64]) -> Vec<Sample> {
    rss_mib
        .iter()
        .enumerate()
        .map(|(i, &rss)| sample(10.0 * (i + 1) as f64, rss))
        .collect()
}

/// Totals where every kind had `classes`.
fn totals(classes: Classes) -> Vec<KindTotal> {
    Kind::ALL
        .iter()
        .map(|&kind| KindTotal {
            kind,
            per_s: 250.0,
            latency_ms: Latencies {
                p50: 1.0,
                p90: 2.0,
                p99: 3.0,
                max: 4.0,
            },
            classes,
        })
        .collect()
}

fn clean() -> Classes {
    Classes {
        success: 1000,
        ..Classes::default()
    }
}

#[test]
fn statuses_are_counted_by_class_and_against_the_expected_one() {
    let mut classes = Classes::default();
    classes.answer(StatusCode::OK, true);
    classes.answer(StatusCode::NO_CONTENT, true);
    classes.answer(StatusCode::FOUND, false);
    classes.answer(StatusCode::UNAUTHORIZED, false);
    classes.answer(StatusCode::SERVICE_UNAVAILABLE, false);
    classes.transport_error += 1;
    assert_eq!(
        classes,
        Classes {
            success: 2,
            redirection: 1,
            client_error: 1,
            server_error: 1,
            other: 0,
            transport_error: 1,
            unexpected: 3,
        }
    );
    assert_eq!(classes.answered(), 5);
    let mut twice = classes;
    twice.add(&classes);
    assert_eq!(twice.answered(), 10);
    assert_eq!(twice.unexpected, 6);
}

#[test]
fn flat_memory_and_clean_answers_pass() {
    let samples = samples(&[60.0, 61.0, 60.5, 62.0, 61.5, 61.0, 62.5, 61.5]);
    let verdict = Verdict::of(&samples, &totals(clean()));
    assert!(verdict.pass, "{}", verdict.line());
    // Quarters of two samples: medians of (60, 61) and (62.5, 61.5).
    assert_eq!(verdict.rss_first_quarter_mib, 60.5);
    assert_eq!(verdict.rss_last_quarter_mib, 62.0);
    assert_eq!(verdict.rss_allowed_growth_mib, RSS_GROWTH_FLOOR_MIB);
    assert_eq!(verdict.p99[0].kind, Kind::Me);
    assert_eq!(verdict.p99[0].first_ms, Some(10.0));
    assert_eq!(verdict.p99[0].last_ms, Some(80.0));
    assert_eq!(verdict.p99[3].first_ms, None);
}

#[test]
fn growth_is_allowed_up_to_the_floor_or_the_share_whichever_is_more() {
    let judge = |first: f64, last: f64| {
        Verdict::of(
            &samples(&[first, first, first, last, last, last]),
            &totals(clean()),
        )
        .pass
    };
    assert!(judge(50.0, 50.0 + RSS_GROWTH_FLOOR_MIB - 0.1));
    assert!(!judge(50.0, 50.0 + RSS_GROWTH_FLOOR_MIB + 0.1));
    assert!(judge(200.0, 200.0 * (1.0 + RSS_GROWTH_SHARE) - 0.1));
    assert!(!judge(200.0, 200.0 * (1.0 + RSS_GROWTH_SHARE) + 0.1));
    // Shrinking is never a leak.
    assert!(judge(80.0, 40.0));
}

#[test]
fn a_spike_in_one_sample_is_not_growth() {
    // Quarters of three samples, the last with a spike: its median is still 61.
    let rss = [
        60.0, 61.0, 60.0, 61.0, 60.0, 61.0, 60.0, 61.0, 60.0, 61.0, 140.0, 60.0,
    ];
    let verdict = Verdict::of(&samples(&rss), &totals(clean()));
    assert!(verdict.pass, "{}", verdict.line());
    assert_eq!(verdict.rss_first_quarter_mib, 60.0);
    assert_eq!(verdict.rss_last_quarter_mib, 61.0);
}

#[test]
fn one_server_error_transport_error_or_unexpected_answer_fails() {
    let flat = samples(&[60.0; 8]);
    for (classes, what) in [
        (
            Classes {
                server_error: 1,
                unexpected: 1,
                ..clean()
            },
            (1, 0, 0),
        ),
        (
            Classes {
                transport_error: 1,
                ..clean()
            },
            (0, 1, 0),
        ),
        (
            Classes {
                client_error: 1,
                unexpected: 1,
                ..clean()
            },
            (0, 0, 1),
        ),
    ] {
        // Only the `me` total has the failure; the verdict sums every kind.
        let mut totals = totals(clean());
        totals[0].classes = classes;
        let verdict = Verdict::of(&flat, &totals);
        assert!(!verdict.pass, "{}", verdict.line());
        assert_eq!(
            (
                verdict.server_errors,
                verdict.transport_errors,
                verdict.other_unexpected
            ),
            what
        );
        assert!(verdict.line().starts_with("FAIL: "));
    }
}

#[test]
fn no_samples_is_no_pass() {
    assert!(!Verdict::of(&[], &totals(clean())).pass);
}

#[test]
fn the_verdict_fits_one_line() {
    let verdict = Verdict::of(&samples(&[64.0, 64.0, 66.0, 66.0]), &totals(clean()));
    assert_eq!(
        verdict.line(),
        "PASS: RSS 64.0 → 66.0 MiB (+2.0 MiB, +3.1 %; allowed +8.0 MiB); 0 5xx, 0 transport \
         errors, 0 other unexpected answers; p99 first → last interval: me 10.0 → 40.0 ms, \
         login 10.0 → 40.0 ms, logout 10.0 → 40.0 ms, register – → – ms, admin 10.0 → 40.0 ms"
    );
}

#[test]
fn the_markdown_has_the_verdict_the_totals_and_a_row_per_sample() {
    let samples = samples(&[60.0, 61.0, 60.5, 62.0]);
    let totals = totals(clean());
    let report = SoakReport {
        run: Run {
            date: "2026-01-01T00:00:00Z".to_owned(),
            commit: "abc1234".to_owned(),
            machine: Machine {
                cores: 2,
                cpu: "Test CPU".to_owned(),
                load_average: "0.10 0.20 0.30".to_owned(),
            },
            db: Backend::Sqlite,
            warmup_s: 2,
            duration_s: 40,
        },
        workers: 16,
        cycle: crate::mix::shares(),
        interval_s: 10.0,
        idle_rss_mib: 15.0,
        peak_rss_mib: 70.0,
        authd_cpu_pct: 180.0,
        other_cpu_pct: 12.0,
        verdict: Verdict::of(&samples, &totals),
        totals,
        samples,
    };
    let md = report.markdown();
    assert!(md.starts_with(
        "### authd-bench --soak: sqlite — 2 cores (Test CPU), 40 s after 2 s of warm-up, 16 \
         workers, sampled every 10 s\n\nEach worker's cycle of 93 requests: 80 me, 4 login, \
         4 logout, 1 register, 4 admin.\n\n**PASS: RSS 60.0 → 62.0 MiB"
    ));
    assert!(md.contains("| me | 1000 | 250 | 1.00 | 2.00 | 3.00 | 4.00 | 1000 | 0 | 0 | 0 | 0 |"));
    assert!(md.contains(
        "| 0:30 | 60.5 | 150 % | 5 % | 1000 | 0 | 250 · 1.00 / 30.0 | 250 · 1.00 / 30.0 \
         | 250 · 1.00 / 30.0 | 0.0 · – / – | 250 · 1.00 / 30.0 |"
    ));
    assert_eq!(md.lines().filter(|l| l.starts_with("| 0:")).count(), 4);
    assert!(md.contains(
        "- idle RSS 15.0 MiB; peak RSS (VmHWM) during the measurement 70.0 MiB; CPU in % of \
         one core: authd 180 %, other processes 12 %"
    ));
}

#[test]
fn times_and_latencies_are_rounded_to_what_means_something() {
    assert_eq!(seconds(10.0), "10");
    assert_eq!(seconds(4.000_000_000_1), "4");
    assert_eq!(seconds(1.333_333_333), "1.33");
    assert_eq!(clock(0.4), "0:00");
    assert_eq!(clock(59.6), "1:00");
    assert_eq!(clock(1805.0), "30:05");
    assert_eq!(ms(None), "–");
    assert_eq!(ms(Some(1.234)), "1.23");
    assert_eq!(ms(Some(12.34)), "12.3");
    assert_eq!(ms(Some(123.4)), "123");
}
