//! `compare`: two runs of the same healthy deployment are not flagged; a 15 % throughput drop is,
//! and `--fail-on output_token_throughput:-10%` turns it into a regression.

mod common;

use common::{bench, Synth};
use infergate_report::{
    compare, render_compare_html, Comparison, FailOn, Metric, MetricDelta, Movement,
};

fn fail_on() -> Vec<FailOn> {
    vec![
        FailOn::parse("output_token_throughput:-10%").unwrap(),
        FailOn::parse("time_to_first_token_p99:+25%").unwrap(),
    ]
}

/// A healthy run (noise seed 11) compared with one of noise seed 12 whose steps are `slowdown`
/// times longer, under `fail_on()`.
fn slowed_down(slowdown: f64) -> Comparison {
    let a = bench(&Synth {
        noise_seed: 11,
        ..Synth::default()
    });
    let b = bench(&Synth {
        noise_seed: 12,
        slowdown,
        ..Synth::default()
    });
    compare(&a, &b, &fail_on())
}

/// The output-token-throughput row of `c`.
fn throughput(c: &Comparison) -> &MetricDelta {
    c.metrics
        .iter()
        .find(|m| m.metric == Metric::OutputTokenThroughput)
        .unwrap()
}

#[test]
fn two_healthy_runs_of_one_seed_are_not_flagged() {
    let a = bench(&Synth {
        noise_seed: 11,
        ..Synth::default()
    });
    let b = bench(&Synth {
        noise_seed: 12,
        ..Synth::default()
    });
    assert_ne!(
        a.records.rows(),
        b.records.rows(),
        "the noise draws must differ"
    );
    let c = compare(&a, &b, &fail_on());
    let moved: Vec<_> = c.moved().map(|m| m.metric.name()).collect();
    assert!(
        moved.is_empty(),
        "healthy runs flagged: {moved:?}\n{}",
        c.to_console_table()
    );
    assert!(!c.regressed());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn a_15_percent_throughput_drop_is_flagged_and_fails() {
    let c = slowed_down(1.0 / 0.85);
    let tput = throughput(&c);
    assert_eq!(tput.movement, Movement::Worse, "{}", c.to_console_table());
    let change = tput.change_pct.unwrap();
    assert!((-17.0..-13.0).contains(&change), "change {change}");
    assert!(tput.regressed);
    assert!(c.regressed());

    let table = c.to_console_table();
    assert!(
        table.contains("output_token_throughput") && table.contains("REGRESSED"),
        "{table}"
    );
    let json = c.to_json();
    assert_eq!(json["regressed"], true);
    assert_eq!(json["metrics"][0]["name"], "output_token_throughput");
    assert_eq!(json["metrics"][0]["movement"], "worse");
    assert_eq!(json["metrics"][0]["fail_on"], "-10.0%");
    let html = render_compare_html(&c);
    assert!(html.contains("REGRESSED") && !html.contains("<script"));
}

#[test]
fn a_drop_within_the_threshold_moves_but_does_not_fail() {
    let c = slowed_down(1.0 / 0.95);
    let tput = throughput(&c);
    assert_eq!(tput.movement, Movement::Worse, "{}", c.to_console_table());
    assert!(!c.regressed(), "{}", c.to_console_table());
}

#[test]
fn different_workloads_are_warned_about() {
    let a = bench(&Synth::default());
    let mut b = bench(&Synth::default());
    b.run.request_stream_sha256 = "00".repeat(32);
    let c = compare(&a, &b, &[]);
    assert!(c.warnings.iter().any(|w| w.contains("request streams")));
}
