//! `infergate demo` from the command line (issue 3, Acceptance): the whole gate against the
//! embedded simulated deployment passes (exit 0) and writes its reports; `--scenario stall`
//! fails (exit 1) on TTFT p99 and says it was a stalled worker. Each takes ~25 s in a debug
//! build on the 2-core development machine.

mod common;

use common::Cli;
use std::time::Duration;

#[test]
fn the_demo_passes_and_writes_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = Cli::new(["demo", "--no-progress", "--output-dir"])
        .args([dir.path()])
        .timeout(Duration::from_secs(300))
        .run();
    out.assert_code(0, "demo");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.contains(&"Throughput constraint: >= 50000 \u{2192} PASS"),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"TTFT p99 constraint: <= 2000 \u{2192} PASS"),
        "{lines:?}"
    );
    assert!(out.stderr.contains("VERDICT: PASSED"), "{}", out.stderr);
    // The probe waited through the scaled-down cold start (4 s by default).
    let probe = common::read_json(&dir.path().join("probe.json"));
    assert!(
        probe["first_success_latency_s"].as_f64().unwrap() >= 3.5,
        "{probe:#}"
    );
    common::assert_ctrf(&dir.path().join("ctrf.json"), "passed");
    for f in [
        "junit.xml",
        "report.html",
        "verdict.json",
        "profile_export_aiperf.json",
        "records.jsonl",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} written");
    }
    // A partly used node: 2 of 8 GPUs, so the floor scales to 12500 (11250 with tolerance).
    let verdict = common::read_json(&dir.path().join("verdict.json"));
    assert_eq!(verdict["constraints"][0]["effective_threshold"], 11250.0);
}

#[test]
fn the_stall_scenario_fails_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = Cli::new([
        "demo",
        "--scenario",
        "stall",
        "--no-progress",
        "--output-dir",
    ])
    .args([dir.path()])
    .timeout(Duration::from_secs(300))
    .run();
    out.assert_code(1, "demo --scenario stall");
    let all = out.all().to_lowercase();
    assert!(
        all.contains("stall"),
        "the message names the stall: {}",
        out.all()
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("inference TTFT p99 ")
                && l.contains("does not satisfy constraint \"<= 2000\" (with 10% tolerance)")),
        "upstream's TTFT failure line: {}",
        out.stdout
    );
    common::assert_ctrf(&dir.path().join("ctrf.json"), "failed");
}

#[test]
fn an_unknown_scenario_exits_2() {
    let out = Cli::new(["demo", "--scenario", "meltdown"]).run();
    out.assert_code(2, "unknown scenario");
    assert!(
        out.stderr.contains("--scenario") && out.stderr.contains("healthy, stall"),
        "{}",
        out.stderr
    );
}
