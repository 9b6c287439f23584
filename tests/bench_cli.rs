//! `infergate bench` from the command line (issue 2, Acceptance): bad flags exit 2 naming the
//! flag and its valid range with no connection opened; a run against the simulated deployment
//! writes AIPerf's export (key names and units as a real AIPerf export), per-request records with
//! warmup tagged, run.json and report.html; the request stream is deterministic by seed; the
//! sentinel frame parses as AICR parses it; AICR's exact AIPerf argv is accepted; the API key
//! never leaks; every error class the simulated faults provoke is visible, and a run whose every
//! request failed exits 1.

mod common;

use common::{Cli, SilentListener, Sim, MODEL};
use infergate_sim::RouterKind;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A small, fast operating point: 4 in flight, 8 requests + 4 warmup, 32 in / 16 out.
fn small(url: &str) -> Vec<String> {
    small_n(url, 8)
}

/// [`small`] with `requests` profile requests.
fn small_n(url: &str, requests: u32) -> Vec<String> {
    let requests = requests.to_string();
    [
        "bench",
        "--url",
        url,
        "--model",
        MODEL,
        "--concurrency",
        "4",
        "--request-count",
        &requests,
        "--warmup-request-count",
        "4",
        "--input-tokens-mean",
        "32",
        "--output-tokens-mean",
        "16",
        "--no-progress",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn healthy_sim() -> Sim {
    Sim::start(common::sim_config("h100x8", 1, RouterKind::LeastLoaded))
}

#[test]
fn bad_flags_exit_2_naming_the_flag_and_range_before_any_connection() {
    // (extra flags, what the message must contain)
    let cases: &[(&[&str], &[&str])] = &[
        (&["--concurrency", "0"], &["--concurrency", "0", "1..="]),
        (
            &["--input-tokens-mean", "0"],
            &["--input-tokens-mean", "0", "1..="],
        ),
        (&["--request-rate", "-1"], &["--request-rate", "-1", "(0,"]),
        (&["--request-rate", "0"], &["--request-rate", "0", "(0,"]),
        (
            &["--endpoint-type", "foo"],
            &["--endpoint-type", "foo", "chat", "completions"],
        ),
        (
            &["--extra-inputs", "temperature0"],
            &["--extra-inputs", "temperature0", "key:value"],
        ),
        (
            &["--arrival-pattern", "x", "--request-rate", "5"],
            &["--arrival-pattern", "\"x\"", "constant", "poisson"],
        ),
        (
            &["--goodput", "bad:1"],
            &["goodput", "\"bad\"", "time_to_first_token"],
        ),
        (
            &["--tokenizer", "/nonexistent/tokenizer.json"],
            &["tokenizer", "/nonexistent/tokenizer.json", "tokenizer.json"],
        ),
        (&["--duration", "0"], &["--duration", "\"0\"", "> 0"]),
        (&["--request-count", "0"], &["--request-count", "0", ">= 1"]),
        (
            &["--request-timeout", "soon"],
            &["--request-timeout", "\"soon\"", "500ms"],
        ),
        (
            &["--num-dataset-entries", "0"],
            &["--num-dataset-entries", "0", "1..="],
        ),
        (
            &["--confidence-level", "2"],
            &["--confidence-level", "2", "between 0 and 1"],
        ),
        (
            &["--export-level", "everything"],
            &["--export-level", "everything", "summary"],
        ),
        (
            &["--api-key-env", "A=B"],
            &["--api-key-env", "A=B", "NAME of an environment variable"],
        ),
    ];
    let mut failures = Vec::new();
    for (extra, needles) in cases {
        let l = SilentListener::new();
        let out = Cli::new(["bench", "--url", &l.url, "--model", MODEL])
            .args(extra.iter())
            .timeout(Duration::from_secs(30))
            .run();
        let what = extra.join(" ");
        if out.code != Some(2) {
            failures.push(format!("{what}: exit {:?}: {}", out.code, out.stderr));
        } else {
            for n in needles.iter() {
                if !out.stderr.contains(n) {
                    failures.push(format!("{what}: message lacks {n:?}: {}", out.stderr));
                }
            }
        }
        l.assert_untouched(&what);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_urls_and_models_exit_2_without_a_connection() {
    for (url, model, needle) in [
        ("notaurl", MODEL, "notaurl"),
        ("ftp://127.0.0.1:1", MODEL, "ftp"),
    ] {
        let out = Cli::new(["bench", "--url", url, "--model", model]).run();
        out.assert_code(2, url);
        assert!(out.stderr.contains(needle), "{}", out.stderr);
        assert!(out.stderr.contains("http://HOST"), "{}", out.stderr);
    }
    let l = SilentListener::new();
    let out = Cli::new(["bench", "--url", &l.url, "--model", ""]).run();
    out.assert_code(2, "empty model");
    assert!(out.stderr.contains("--model"), "{}", out.stderr);
    l.assert_untouched("empty model");
}

/// Key names, units and statistic names of a real AIPerf export (the sample in tests/data).
fn aiperf_sample() -> Value {
    common::read_json(&common::data("aiperf-profile-export.sample.json"))
}

/// The metrics a consumer of AIPerf's export reads; each must be present with AIPerf's unit.
const CORE_METRICS: &[&str] = &[
    "request_throughput",
    "request_latency",
    "request_count",
    "time_to_first_token",
    "time_to_second_token",
    "inter_token_latency",
    "output_token_throughput",
    "output_token_throughput_per_user",
    "output_sequence_length",
    "input_sequence_length",
    "inter_chunk_latency",
    "total_output_tokens",
    "benchmark_duration",
    "total_isl",
    "total_osl",
    "request_error_rate",
    "completed_request_count",
    "total_token_throughput",
    "input_token_throughput",
];

/// Top-level non-metric keys of AIPerf's export.
const CORE_FIELDS: &[&str] = &[
    "schema_version",
    "aiperf_version",
    "benchmark_id",
    "input_config",
    "was_cancelled",
    "is_complete",
    "error_summary",
    "start_time",
    "end_time",
];

fn assert_export_like_aiperf(export: &Value) {
    let sample = aiperf_sample();
    for key in CORE_FIELDS {
        assert!(export.get(key).is_some(), "export lacks {key}");
        assert_eq!(
            json_kind(&export[key]),
            json_kind(&sample[key]),
            "{key} has another JSON type than in AIPerf's export"
        );
    }
    for key in CORE_METRICS {
        let ours = export
            .get(key)
            .unwrap_or_else(|| panic!("export lacks metric {key}"));
        assert_eq!(ours["unit"], sample[key]["unit"], "unit of {key}");
        assert!(ours["avg"].is_number(), "{key}.avg is a number: {ours}");
    }
    // Every metric block both exports have carries AIPerf's unit.
    let obj = export.as_object().expect("export is an object");
    for (key, ours) in obj {
        if let (Some(u), Some(theirs)) = (ours.get("unit"), sample.get(key)) {
            assert_eq!(u, &theirs["unit"], "unit of {key}");
        }
    }
    // The two fields AICR reads.
    assert!(export["output_token_throughput"]["avg"].as_f64().unwrap() > 0.0);
    assert!(export["time_to_first_token"]["p99"].as_f64().unwrap() > 0.0);
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[test]
fn a_run_against_the_sim_writes_aiperf_export_records_run_and_report() {
    let sim = healthy_sim();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = Cli::new(small(&sim.url))
        .args(["--output-dir", out_dir.to_str().unwrap()])
        .run();
    out.assert_code(0, "bench against a healthy sim");

    let export = common::read_json(&out_dir.join("profile_export_aiperf.json"));
    assert_export_like_aiperf(&export);
    assert_eq!(export["request_count"]["avg"], 8.0, "profile requests only");
    assert_eq!(
        export["input_sequence_length"]["avg"], 32.0,
        "exact prompt lengths"
    );
    for p in ["p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99"] {
        assert!(
            export["time_to_first_token"][p].is_number(),
            "time_to_first_token.{p}"
        );
    }

    // records.jsonl: one line per request, warmup tagged.
    let records = std::fs::read_to_string(out_dir.join("records.jsonl")).unwrap();
    let lines: Vec<Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).expect("each record line is JSON"))
        .collect();
    assert_eq!(lines.len(), 12, "8 profile + 4 warmup requests");
    let warmup = lines.iter().filter(|r| r["phase"] == "warmup").count();
    let profile = lines.iter().filter(|r| r["phase"] == "profile").count();
    assert_eq!((warmup, profile), (4, 8));
    assert!(lines
        .iter()
        .all(|r| r["input_tokens"] == 32 && r["end_ns"].is_number()));
    // bench writes and summarises its records as they finish and keeps none: the file holds
    // every request once, and summarising the file gives the exported numbers.
    let parsed: Vec<infergate_model::RequestRecord> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut indices: Vec<u64> = parsed.iter().map(|r| r.index).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..12).collect::<Vec<_>>());
    let from_file = infergate_stats::Summary::from_records(
        &parsed,
        &infergate_stats::SummaryOptions::default(),
    );
    assert_eq!(
        export["time_to_first_token"]["p99"].as_f64(),
        from_file.time_to_first_token.as_ref().map(|d| d.p99)
    );
    assert_eq!(
        export["request_latency"]["avg"].as_f64(),
        from_file.request_latency.as_ref().map(|d| d.avg)
    );
    let tput = export["output_token_throughput"]["avg"].as_f64().unwrap();
    assert!((tput - from_file.output_token_throughput.unwrap()).abs() < 1e-9 * tput);
    let profile_lines = std::fs::read_to_string(out_dir.join("profile_export.jsonl")).unwrap();
    assert_eq!(profile_lines.lines().count(), 8, "profile requests only");
    let leftovers: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // run.json: the identity, with the digest the console printed.
    let run = common::read_json(&out_dir.join("run.json"));
    assert_eq!(
        run["request_stream_sha256"].as_str().unwrap(),
        common::printed_digest(&out.stdout)
    );
    assert_eq!(run["random_seed"], 100);
    assert_eq!(run["total_requests"], 12);
    assert_eq!(run["warmup_requests"], 4);

    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(
        html.contains("<html") || html.contains("<!DOCTYPE"),
        "report.html is HTML"
    );
    assert!(out_dir.join("profile_export_aiperf.csv").is_file());
}

#[test]
fn every_exported_metric_block_has_the_statistics_aiperf_gives_it() {
    let sim = healthy_sim();
    let dir = tempfile::tempdir().unwrap();
    let out = Cli::new(small(&sim.url))
        .args(["--output-dir", dir.path().to_str().unwrap()])
        .run();
    out.assert_code(0, "bench");
    let export = common::read_json(&dir.path().join("profile_export_aiperf.json"));
    let sample = aiperf_sample();
    let mut missing = Vec::new();
    for (key, ours) in export.as_object().unwrap() {
        let (Some(ours), Some(theirs)) = (
            ours.as_object(),
            sample.get(key).and_then(|v| v.as_object()),
        ) else {
            continue;
        };
        if !theirs.contains_key("unit") {
            continue;
        }
        for stat in theirs.keys() {
            if !ours.contains_key(stat) {
                missing.push(format!("{key}.{stat}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "a consumer of AIPerf's export would not find: {missing:?}"
    );
}

#[test]
fn the_request_stream_digest_is_the_same_for_a_seed_and_differs_for_another() {
    let sim = healthy_sim();
    let digest = |seed: &str| {
        let out = Cli::new(small(&sim.url))
            .args(["--random-seed", seed])
            .run();
        out.assert_code(0, "bench");
        common::printed_digest(&out.stdout)
    };
    let a = digest("100");
    let b = digest("100");
    let c = digest("101");
    assert_eq!(a, b, "same seed and options, same request stream");
    assert_ne!(a, c, "another seed, another request stream");
}

#[test]
fn the_sentinel_frame_parses_as_aicr_parses_it() {
    let sim = healthy_sim();
    let sentinel = "===X===";
    let out = Cli::new(small(&sim.url))
        .args(["--result-sentinel", sentinel])
        .run();
    out.assert_code(0, "bench with a sentinel");
    let json = common::parse_sentinel_frame(&out.stdout, sentinel);
    assert!(json["output_token_throughput"]["avg"].as_f64().unwrap() > 0.0);
    assert!(json["time_to_first_token"]["p99"].as_f64().unwrap() > 0.0);
    assert_eq!(json["output_token_throughput"]["unit"], "tokens/sec");
    assert_eq!(json["time_to_first_token"]["unit"], "ms");
    // Exactly two sentinel lines, each the sentinel alone.
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains(sentinel))
        .collect();
    assert_eq!(lines, [sentinel, sentinel], "{}", out.stdout);
    // The console summary does not pollute the framed stdout.
    assert!(
        out.stderr.contains("output token throughput"),
        "{}",
        out.stderr
    );
}

#[test]
fn aicrs_exact_aiperf_argv_is_accepted() {
    // Reference §2.10: the args of AICR's AIPerf Job, in order, with the URL pointing at the sim
    // and the counts scaled down.
    let sim = healthy_sim();
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("aiperf");
    let artifacts = artifacts.to_str().unwrap();
    let argv = [
        "--model",
        MODEL,
        "--url",
        &sim.url,
        "--endpoint-type",
        "chat",
        "--streaming",
        "--concurrency",
        "4",
        "--request-count",
        "8",
        "--warmup-request-count",
        "4",
        "--prompt-input-tokens-mean",
        "32",
        "--prompt-input-tokens-stddev",
        "0",
        "--prompt-output-tokens-mean",
        "16",
        "--prompt-output-tokens-stddev",
        "0",
        "--num-dataset-entries",
        "100",
        "--random-seed",
        "100",
        "--extra-inputs",
        "temperature:0",
        "--output-artifact-dir",
        artifacts,
        "--export-level",
        "summary",
    ];
    let out = Cli::new(["bench"])
        .args(argv)
        .args(["--result-sentinel", "===AIPERF-RESULT==="])
        .run();
    out.assert_code(0, "AICR's argv");
    let framed = common::parse_sentinel_frame(&out.stdout, "===AIPERF-RESULT===");
    let file = common::read_json(&Path::new(artifacts).join("profile_export_aiperf.json"));
    assert_eq!(framed, file, "the framed JSON is the exported file");
    assert_eq!(file["output_sequence_length"]["avg"], 16.0);
    assert_eq!(file["input_sequence_length"]["avg"], 32.0);
    assert_eq!(file["request_count"]["avg"], 8.0);
}

#[test]
fn the_completions_endpoint_and_plain_json_responses_work() {
    let sim = healthy_sim();
    let out = Cli::new(small(&sim.url))
        .args(["--endpoint-type", "completions"])
        .run();
    out.assert_code(0, "completions, streaming");
    let dir = tempfile::tempdir().unwrap();
    let out = Cli::new(small(&sim.url))
        .args([
            "--no-streaming",
            "--output-dir",
            dir.path().to_str().unwrap(),
        ])
        .run();
    out.assert_code(0, "chat, not streaming");
    let export = common::read_json(&dir.path().join("profile_export_aiperf.json"));
    assert!(export["output_token_throughput"]["avg"].as_f64().unwrap() > 0.0);
    assert!(
        export.get("time_to_first_token").is_none() || export["time_to_first_token"].is_null(),
        "no TTFT without a stream: {}",
        export["time_to_first_token"]
    );
}

#[test]
fn the_api_key_never_appears_in_output_or_files() {
    let sim = healthy_sim();
    let dir = tempfile::tempdir().unwrap();
    let secret = "sk-secret-123";
    let header_secret = "hdr-secret-456";
    let out = Cli::new(small(&sim.url))
        .env("OPENAI_API_KEY", secret)
        .args([
            "--header",
            &format!("X-Extra-Token:{header_secret}"),
            "--output-dir",
            dir.path().to_str().unwrap(),
            "--result-sentinel",
            "===X===",
        ])
        .run();
    out.assert_code(0, "bench with a key");
    for s in [secret, header_secret] {
        assert!(!out.stdout.contains(s), "secret in stdout");
        assert!(!out.stderr.contains(s), "secret in stderr");
    }
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for s in [secret, header_secret] {
            assert!(!text.contains(s), "secret in {}", path.display());
        }
        files += 1;
    }
    assert!(files >= 5, "the output directory holds every export");

    // A key that cannot be sent as a header value is bad input, and is not echoed.
    let l = SilentListener::new();
    let out = Cli::new(["bench", "--url", &l.url, "--model", MODEL])
        .env("OPENAI_API_KEY", "sk-bad\u{7f}key-789")
        .run();
    out.assert_code(2, "a key with a control character");
    assert!(!out.all().contains("sk-bad"), "{}", out.stderr);
    l.assert_untouched("bad key");
}

/// A simulated deployment with one fault on every request.
fn faulty(set: impl FnOnce(&mut infergate_sim::Behaviours)) -> Sim {
    let mut cfg = common::sim_config("h100x8", 1, RouterKind::RoundRobin);
    set(&mut cfg.behaviours);
    Sim::start(cfg)
}

#[test]
fn every_error_class_is_visible_and_an_all_failed_run_exits_1() {
    let s500 = faulty(|b| b.faults.error_500 = 1.0);
    let s429 = faulty(|b| b.faults.error_429 = 1.0);
    let sdrop = faulty(|b| b.faults.drop = 1.0);
    let smal = faulty(|b| b.faults.malformed = 1.0);
    let sslow = faulty(|b| b.header_delay_ns = 3_000_000_000);
    let refused = common::closed_port_url();
    // (what, URL, the class label printed, the HTTP status exported, extra flags)
    type Case<'a> = (&'a str, &'a str, &'a str, Option<u64>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        ("HTTP 500", &s500.url, "http_status 500", Some(500), &[]),
        ("HTTP 429", &s429.url, "http_status 429", Some(429), &[]),
        (
            "dropped mid-stream",
            &sdrop.url,
            "stream_ended_early",
            None,
            &[],
        ),
        ("malformed chunk", &smal.url, "malformed_json", None, &[]),
        (
            "slow headers past the request timeout",
            &sslow.url,
            "timeout",
            None,
            &["--request-timeout", "300ms"],
        ),
        ("nothing listening", &refused, "connect_refused", None, &[]),
    ];
    let mut problems = Vec::new();
    for (what, url, label, code, extra) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = Cli::new(small(url))
            .args(["--output-dir", dir.path().to_str().unwrap()])
            .args(extra.iter())
            .run();
        if !out.all().contains(label) {
            problems.push(format!(
                "{what}: {label:?} not in the output:\n{}",
                out.all()
            ));
        }
        let export = common::read_json(&dir.path().join("profile_export_aiperf.json"));
        let kind = label.split(' ').next().unwrap();
        let errors = export["error_summary"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let found = errors.iter().any(|e| {
            e["error_details"]["type"] == kind
                && code.is_none_or(|c| e["error_details"]["code"] == c)
                && e["count"] == 8
        });
        if !found {
            problems.push(format!(
                "{what}: error_summary lacks {kind} × 8: {}",
                export["error_summary"]
            ));
        }
        if export["request_error_rate"]["avg"] != 100.0 {
            problems.push(format!(
                "{what}: request_error_rate {}",
                export["request_error_rate"]
            ));
        }
        if out.code != Some(1) {
            problems.push(format!(
                "{what}: every request failed, yet exit {:?} (expected 1); summary: {}",
                out.code,
                out.stdout.lines().next().unwrap_or("")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_partly_failing_run_exits_0_and_counts_its_errors() {
    let sim = faulty(|b| b.faults.error_500 = 0.5);
    let dir = tempfile::tempdir().unwrap();
    let out = Cli::new(small_n(&sim.url, 32))
        .args(["--output-dir", dir.path().to_str().unwrap()])
        .run();
    out.assert_code(0, "some requests succeed");
    assert!(out.stdout.contains("http_status 500"), "{}", out.stdout);
    let export = common::read_json(&dir.path().join("profile_export_aiperf.json"));
    let rate = export["request_error_rate"]["avg"].as_f64().unwrap();
    assert!(rate > 0.0 && rate < 100.0, "error rate {rate}");
    let ok = export["request_count"]["avg"].as_f64().unwrap();
    let total = export["completed_request_count"]["avg"].as_f64().unwrap();
    assert_eq!(total, 32.0, "successes + errors");
    assert!(ok > 0.0 && ok < 32.0, "successful requests {ok}");
}
