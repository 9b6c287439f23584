//! `report`: the page rebuilt from the exported files is the page rendered from memory; the page
//! is self-contained; a 16,384-request run stays under 5 MB; bad files are named.

mod common;

use common::{full, records, write_dir, Synth};
use infergate_report::{load_dir, render_html, ReportError};

#[test]
fn page_from_exports_equals_page_from_memory() {
    let synth = Synth {
        fail_every: Some(97),
        ..Synth::default()
    };
    let input = full(&synth);
    let mut recs = records(&synth);
    let dir = tempfile::tempdir().unwrap();
    write_dir(&input, &recs, dir.path());
    let loaded = load_dir(dir.path()).expect("load the written directory");
    assert_eq!(loaded.run, input.run);
    assert_eq!(loaded.aiperf, input.aiperf);
    assert_eq!(loaded.verdict, input.verdict);
    assert_eq!(loaded.probe, input.probe);
    assert_eq!(loaded.sweep, input.sweep);
    assert_eq!(loaded.scrape, input.scrape);
    assert_eq!(loaded.records.rows(), input.records.rows());
    assert_eq!(loaded.records.workers(), input.records.workers());
    let from_memory = render_html(&input);
    assert_eq!(render_html(&loaded), from_memory);
    // Rendering is deterministic.
    assert_eq!(render_html(&input), from_memory);

    // `bench` writes records.jsonl in completion order, not request order: same page.
    recs.sort_by_key(|r| (r.end_ns, std::cmp::Reverse(r.index)));
    assert_ne!(recs[0].index, 0, "the shuffle must move records");
    write_dir(&input, &recs, dir.path());
    let shuffled = load_dir(dir.path()).unwrap();
    assert_eq!(shuffled.records.rows(), input.records.rows());
    let html = render_html(&shuffled);
    // The only order-dependent numbers are floating-point sums (same values, other order);
    // the page's rounding hides them.
    assert_eq!(html, from_memory);
}

#[test]
fn page_shows_every_section_and_fetches_nothing() {
    let input = full(&Synth {
        fail_every: Some(97),
        ..Synth::default()
    });
    let html = render_html(&input);
    for needle in [
        "PASSED",
        "inference-throughput",
        "Readiness",
        "time to ready <b>42.5 s</b>",
        "cold first completion <b>12.25 s</b>",
        "Latency distributions",
        "Throughput and in-flight requests over time",
        "Per-request timeline",
        "Errors by class",
        "http_status",
        "Worker metrics",
        "Sweep",
        "knee",
        "Run identity",
        "abc1234",
        "h100-eks",
        "output-tokens-mean",
        "worker-2 held 96 running requests",
    ] {
        assert!(html.contains(needle), "page lacks {needle:?}");
    }
    assert!(!html.contains("<script"), "the page must not carry scripts");
    for attr in ["src=", "href=", "url("] {
        assert!(
            !html.contains(attr),
            "the page must not reference anything outside itself ({attr})"
        );
    }
}

#[test]
fn a_16384_request_run_stays_under_5_mb_and_says_it_was_downsampled() {
    let input = full(&Synth {
        requests: 16_384,
        concurrency: 256,
        workers: 8,
        output_tokens: 128,
        fail_every: Some(500),
        stall: Some((3, 5.0, 9.0, 4000.0)),
        ..Synth::default()
    });
    let html = render_html(&input);
    assert!(html.len() < 5 * 1024 * 1024, "page is {} bytes", html.len());
    assert!(
        html.contains("<b>Downsampled:</b> showing 2,000 of 16,384 profile requests"),
        "no downsampling note"
    );
    // Every failed or stalled request is on the timeline.
    let failed = input
        .records
        .rows()
        .iter()
        .filter(|r| r.failure.is_some())
        .count();
    let flagged = html.matches("<path class=\"tl-bad\"").count();
    assert!(
        failed > 0 && flagged >= failed,
        "{flagged} flagged lines for {failed} failures"
    );
    assert!(html.contains("failed or stalled requests"));
    eprintln!("16,384-request page: {} bytes", html.len());
}

#[test]
fn unreadable_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_dir(dir.path()).unwrap_err();
    assert!(matches!(err, ReportError::Read { .. }));
    assert!(err.to_string().contains("run.json"), "{err}");

    let synth = Synth {
        requests: 10,
        warmup: 0,
        ..Synth::default()
    };
    let input = common::bench(&synth);
    write_dir(&input, &records(&synth), dir.path());
    let path = dir.path().join(infergate_report::RECORDS_FILE);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{not json\n");
    std::fs::write(&path, text).unwrap();
    let err = load_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("records.jsonl line 11"), "{err}");
}

#[test]
fn a_bench_run_without_optional_files_still_renders() {
    let synth = Synth {
        requests: 50,
        ..Synth::default()
    };
    let input = common::bench(&synth);
    let dir = tempfile::tempdir().unwrap();
    write_dir(&input, &records(&synth), dir.path());
    std::fs::remove_file(dir.path().join(infergate_report::AIPERF_FILE)).unwrap();
    let loaded = load_dir(dir.path()).unwrap();
    assert!(loaded.aiperf.is_null() && loaded.verdict.is_none());
    let html = render_html(&loaded);
    assert!(html.contains("NOT GATED"));
    assert!(html.contains("no profile_export_aiperf.json was found"));
    assert!(html.contains("Showing all 50 profile requests."));
}

#[test]
fn degenerate_runs_render_without_panicking() {
    use infergate_model::{Failure, FailureKind};
    let s = Synth {
        requests: 20,
        warmup: 0,
        ..Synth::default()
    };
    // No records at all.
    let empty = infergate_report::ReportInput::new(common::run_info(&s), Vec::new());
    let html = render_html(&empty);
    assert!(html.contains("No samples") && html.contains("No profile requests"));
    // Every request failed.
    let mut failing = records(&s);
    for r in &mut failing {
        r.content_ns.clear();
        r.failure = Some(Failure::new(FailureKind::ConnectRefused, None, "refused"));
    }
    let mut failed = common::bench_from(&s, &failing);
    failed.aiperf = serde_json::Value::Null;
    let html = render_html(&failed);
    assert!(
        html.contains("20 of 20 profile requests failed"),
        "all-failed page"
    );
    // Not streamed: one content event per request, no TTFT.
    let mut one_chunk = records(&s);
    for r in &mut one_chunk {
        let last = *r.content_ns.last().unwrap();
        r.content_ns = vec![last];
    }
    let mut run = common::run_info(&s);
    run.options
        .insert("streaming".into(), serde_json::json!(false));
    let whole = infergate_report::ReportInput::new(run, one_chunk);
    assert!(!whole.streaming());
    let html = render_html(&whole);
    assert!(html.contains("Request latency"));
    // A comparison against a run with nothing measurable: throughput counts as regressed.
    let rule = infergate_report::FailOn::parse("output_token_throughput:-10%").unwrap();
    let c = infergate_report::compare(&common::bench(&s), &failed, &[rule]);
    assert!(c.regressed(), "{}", c.to_console_table());
}
