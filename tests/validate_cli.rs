//! `infergate validate` from the command line against a simulated deployment served in-process
//! (issue 4, Acceptance): a healthy deployment passes with upstream's stdout lines byte for byte;
//! a stalled worker under round-robin fails on TTFT p99 with the measured value in the message;
//! a throughput shortfall fails, and on a partly free node the floor is scaled; a scaled-down cold
//! start is waited through with the default probe settings but fails when each attempt is cut
//! off; every malformed constraint or knob exits 2 within a second with no request sent; the skip
//! rules use upstream's texts; the CTRF output validates against the CTRF schema; an AICR overlay
//! file loads and gates.
//!
//! The operating point is scaled down with `--concurrency-per-gpu`, `--min-requests 1` and
//! `--requests-per-concurrency 2` so each run takes a few seconds.

mod common;

use common::{Cli, Output, SilentListener, Sim, MODEL};
use infergate_sim::{ColdStart, ColdStartScope, RouterKind, Stall};
use std::path::Path;
use std::time::Duration;

/// `validate --recipe R --url U` with a scaled-down request count and every report written to
/// `dir`.
fn validate(recipe: &str, url: &str, dir: &Path) -> Cli {
    Cli::new([
        "validate",
        "--recipe",
        recipe,
        "--url",
        url,
        "--min-requests",
        "1",
        "--requests-per-concurrency",
        "2",
        "--no-progress",
        "--ctrf",
        dir.join("ctrf.json").to_str().unwrap(),
        "--junit",
        dir.join("junit.xml").to_str().unwrap(),
        "--output-dir",
        dir.to_str().unwrap(),
    ])
}

/// The number of `RESULT: Inference TTFT p99: <n> ms`, checking the line's exact format.
fn ttft_line(stdout: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| common::fixed_2_between(l, "RESULT: Inference TTFT p99: ", " ms"))
        .unwrap_or_else(|| panic!("no well-formed TTFT RESULT line in {stdout:?}"))
}

/// The number of `RESULT: Inference throughput: <n> tokens/sec`, checking the format.
fn throughput_line(stdout: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| common::fixed_2_between(l, "RESULT: Inference throughput: ", " tokens/sec"))
        .unwrap_or_else(|| panic!("no well-formed throughput RESULT line in {stdout:?}"))
}

/// The stdout lines of a passing gate are exactly upstream's four lines.
fn assert_upstream_pass_lines(out: &Output, throughput_raw: &str, ttft_raw: &str) {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "stdout is upstream's four lines: {lines:?}");
    assert!(
        common::fixed_2_between(lines[0], "RESULT: Inference throughput: ", " tokens/sec")
            .is_some(),
        "{:?}",
        lines[0]
    );
    assert!(
        common::fixed_2_between(lines[1], "RESULT: Inference TTFT p99: ", " ms").is_some(),
        "{:?}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        format!("Throughput constraint: {throughput_raw} \u{2192} PASS")
    );
    assert_eq!(
        lines[3],
        format!("TTFT p99 constraint: {ttft_raw} \u{2192} PASS")
    );
}

fn two_workers(router: RouterKind) -> infergate_sim::SimConfig {
    common::sim_config("h100x8", 2, router)
}

#[test]
fn a_healthy_partial_node_passes_with_upstreams_lines_byte_for_byte() {
    // 2 of 8 H100s free, least-loaded routing, 128 in flight per GPU: the floor scales to
    // 50000 × 2/8 = 12500 tok/s (11250 with the tolerance).
    // Four rounds of requests keep the throughput interval narrow enough to decide.
    let sim = Sim::start(two_workers(RouterKind::LeastLoaded));
    let dir = tempfile::tempdir().unwrap();
    let out = Cli::new([
        "validate",
        "--recipe",
        "h100-eks",
        "--url",
        &sim.url,
        "--gpus",
        "2",
        "--gpus-per-node",
        "8",
        "--concurrency-per-gpu",
        "128",
        "--min-requests",
        "1",
        "--requests-per-concurrency",
        "4",
        "--no-progress",
        "--ctrf",
        dir.path().join("ctrf.json").to_str().unwrap(),
        "--junit",
        dir.path().join("junit.xml").to_str().unwrap(),
        "--output-dir",
        dir.path().to_str().unwrap(),
    ])
    .run();
    out.assert_code(0, "healthy deployment");
    assert_upstream_pass_lines(&out, ">= 50000", "<= 2000");
    let throughput = throughput_line(&out.stdout);
    let ttft = ttft_line(&out.stdout);

    // CTRF: schema-valid, passed, stdout carries the same lines.
    let ctrf = common::assert_ctrf(&dir.path().join("ctrf.json"), "passed");
    let ctrf_stdout: Vec<String> = ctrf["results"]["tests"][0]["stdout"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for line in out.stdout.lines() {
        assert!(
            ctrf_stdout.iter().any(|l| l == line),
            "{line:?} not in CTRF stdout"
        );
    }

    // verdict.json: the partial node's floor and what was measured.
    let verdict = common::read_json(&dir.path().join("verdict.json"));
    assert_eq!(verdict["status"], "passed");
    assert_eq!(
        (verdict["gpus"].as_u64(), verdict["gpus_per_node"].as_u64()),
        (Some(2), Some(8))
    );
    let tp = &verdict["constraints"][0];
    assert_eq!(tp["name"], "inference-throughput");
    assert_eq!(tp["threshold"], 50000.0);
    assert_eq!(
        tp["effective_threshold"], 11250.0,
        "12500 scaled floor × 0.9"
    );
    assert!((tp["measured"].as_f64().unwrap() - throughput).abs() < 0.01);
    let tt = &verdict["constraints"][1];
    assert_eq!(tt["effective_threshold"], 2200.0);
    assert!((tt["measured"].as_f64().unwrap() - ttft).abs() < 0.01);

    // The bench exports are kept, at the recipe's operating point.
    let export = common::read_json(&dir.path().join("profile_export_aiperf.json"));
    assert_eq!(export["request_count"]["avg"], 1024.0, "max(1, 256 × 4)");
    assert_eq!(export["input_sequence_length"]["avg"], 128.0);
    let run = common::read_json(&dir.path().join("run.json"));
    assert_eq!(run["warmup_requests"], 256);
    assert_eq!(run["random_seed"], 100);
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("inference-perf") && junit.contains("<testsuite"),
        "{junit}"
    );
    assert!(!junit.contains("<failure"), "{junit}");
}

#[test]
fn a_stalled_worker_under_round_robin_fails_on_ttft_p99_with_the_measured_value() {
    // A recipe scaled to the small run: TTFT p99 <= 100 ms (110 with tolerance), a floor any
    // live deployment meets. Healthy: TTFT p99 ≈ 15 ms. Worker 1 steps 20x slower for the whole
    // run: round-robin keeps feeding it, its requests wait whole slow steps for a first token.
    let dir = tempfile::tempdir().unwrap();
    let recipe = common::write_file(
        dir.path(),
        "small.yaml",
        &common::recipe_yaml(
            &[
                ("inference-throughput", ">= 10"),
                ("inference-ttft-p99", "<= 100"),
            ],
            2,
        ),
    );
    let recipe = recipe.to_str().unwrap();
    let args = [
        "--concurrency-per-gpu",
        "4",
        "--output-tokens-mean",
        "8",
        "--input-tokens-mean",
        "32",
    ];

    // Control: the same gate passes on a healthy deployment. Bounding a p99 from above at 95 %
    // takes at least 367 requests, hence 8 x 50.
    let healthy = Sim::start(two_workers(RouterKind::RoundRobin));
    let out = Cli::new([
        "validate",
        "--recipe",
        recipe,
        "--url",
        &healthy.url,
        "--min-requests",
        "1",
        "--requests-per-concurrency",
        "50",
        "--no-progress",
    ])
    .args(args)
    .run();
    out.assert_code(0, "healthy control");
    assert_upstream_pass_lines(&out, ">= 10", "<= 100");
    drop(healthy);

    let mut cfg = two_workers(RouterKind::RoundRobin);
    cfg.behaviours.stall = Some(Stall {
        worker: 1,
        factor: 20.0,
        start_ns: 0,
        duration_ns: u64::MAX,
    });
    let stalled = Sim::start(cfg);
    let out_dir = dir.path().join("out");
    let out = validate(recipe, &stalled.url, &out_dir).args(args).run();
    out.assert_code(1, "stalled worker");
    let measured = ttft_line(&out.stdout);
    assert!(measured > 110.0, "TTFT p99 {measured} ms");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.contains(&"Throughput constraint: >= 10 \u{2192} PASS"),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("TTFT p99 constraint:")),
        "no PASS line for the failed constraint: {lines:?}"
    );
    let message = format!(
        "inference TTFT p99 {measured:.2} ms does not satisfy constraint \"<= 100\" (with 10% tolerance)"
    );
    assert!(
        lines.contains(&message.as_str()),
        "upstream's failure message {message:?} in {lines:?}"
    );
    let ctrf = common::assert_ctrf(&out_dir.join("ctrf.json"), "failed");
    let ctrf_message = ctrf["results"]["tests"][0]["message"].as_str().unwrap();
    assert!(ctrf_message.contains(&message), "{ctrf_message}");
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
}

#[test]
fn a_throughput_shortfall_on_a_partly_free_node_fails_against_the_scaled_floor() {
    // Every worker steps 4x slower (a degraded node): ≈ 3.5k tok/s on 2 of 8 GPUs, below the
    // 12500 tok/s floor scaled from 50000 (11250 with the tolerance).
    let mut cfg = two_workers(RouterKind::LeastLoaded);
    cfg.behaviours.node_slowdown = Some(4.0);
    let sim = Sim::start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let out = validate("h100-eks", &sim.url, dir.path())
        .args([
            "--gpus",
            "2",
            "--gpus-per-node",
            "8",
            "--concurrency-per-gpu",
            "32",
        ])
        .run();
    out.assert_code(1, "slow node");
    let measured = throughput_line(&out.stdout);
    assert!(measured < 11250.0, "{measured}");
    let message = format!(
        "inference throughput {measured:.2} tokens/sec does not satisfy constraint \">= 50000\" \
         scaled to 12500.00 tokens/sec for 2 of 8 GPUs on the node (with 10% tolerance)"
    );
    assert!(
        out.stdout.lines().any(|l| l == message),
        "{message:?} in {}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("\u{2192} PASS"),
        "upstream stops at the first failure: {}",
        out.stdout
    );
    common::assert_ctrf(&dir.path().join("ctrf.json"), "failed");
    let verdict = common::read_json(&dir.path().join("verdict.json"));
    assert_eq!(verdict["status"], "failed");
    assert_eq!(verdict["constraints"][0]["effective_threshold"], 11250.0);
}

#[test]
fn a_full_node_shortfall_fails_against_the_unscaled_floor() {
    // A recipe whose floor the deployment cannot reach, on a full (2-GPU) node: no scaling.
    let sim = Sim::start(two_workers(RouterKind::LeastLoaded));
    let dir = tempfile::tempdir().unwrap();
    let recipe = common::write_file(
        dir.path(),
        "high.yaml",
        &common::recipe_yaml(
            &[
                ("inference-throughput", ">= 1000000"),
                ("inference-ttft-p99", "<= 2000"),
            ],
            2,
        ),
    );
    let out = validate(recipe.to_str().unwrap(), &sim.url, dir.path())
        .args(["--concurrency-per-gpu", "4", "--output-tokens-mean", "16"])
        .run();
    out.assert_code(1, "high floor");
    let measured = throughput_line(&out.stdout);
    let message = format!(
        "inference throughput {measured:.2} tokens/sec does not satisfy constraint \">= 1000000\" (with 10% tolerance)"
    );
    assert!(out.stdout.lines().any(|l| l == message), "{}", out.stdout);
}

fn cold(duration: Duration) -> Sim {
    let mut cfg = two_workers(RouterKind::LeastLoaded);
    cfg.behaviours.cold_start = Some(ColdStart {
        duration_ns: duration.as_nanos() as u64,
        scope: ColdStartScope::Deployment,
    });
    Sim::start(cfg)
}

#[test]
fn a_cold_start_is_waited_through_unless_each_attempt_is_cut_off() {
    // Reference §6.4 4.8 scaled down 28x: a 42 s cold first inference becomes 1.5 s, the 120 s
    // per-attempt timeout stays far above it, and a 30 s one (which fails at 42 s) becomes 500 ms.
    // In the simulator the cold period starts with the first completion request and ends at a
    // fixed time whether or not that request is cancelled; with the 10 s pause between attempts
    // and a 3 s window, a cut-off first attempt leaves no second one inside the window.
    let dir = tempfile::tempdir().unwrap();
    let recipe = common::write_file(
        dir.path(),
        "small.yaml",
        // Throughput only: a TTFT p99 could not be decided from so few requests.
        &common::recipe_yaml(&[("inference-throughput", ">= 10")], 2),
    );
    let recipe = recipe.to_str().unwrap();
    let small = ["--concurrency-per-gpu", "4", "--output-tokens-mean", "16"];
    let cold_start = Duration::from_millis(1500);

    // Default probe settings: the first attempt waits through the cold start; then it passes.
    let sim = cold(cold_start);
    let d1 = dir.path().join("default");
    let out = validate(recipe, &sim.url, &d1).args(small).run();
    out.assert_code(0, "cold start with the default probe");
    let probe = common::read_json(&d1.join("probe.json"));
    assert_eq!(probe["ready"], true);
    let first = probe["first_success_latency_s"].as_f64().unwrap();
    assert!(
        first >= 1.4,
        "the cold first completion is reported apart: {first} s"
    );
    let steady = probe["steady_latency_s"].as_f64().unwrap();
    assert!(steady < 1.0, "a warm completion is fast: {steady} s");
    assert!(out.stderr.contains("cold start"), "{}", out.stderr);
    drop(sim);

    // The same 3 s window with the default per-attempt timeout still passes...
    let sim = cold(cold_start);
    let d2 = dir.path().join("window");
    let out = validate(recipe, &sim.url, &d2)
        .args(small)
        .args(["--health-timeout", "3s"])
        .run();
    out.assert_code(0, "cold start, 3 s window, default attempt timeout");
    drop(sim);

    // ...but a per-attempt timeout below the cold start fails: could not measure (exit 3).
    let sim = cold(cold_start);
    let d3 = dir.path().join("cut");
    std::fs::create_dir_all(&d3).unwrap();
    let out = validate(recipe, &sim.url, &d3)
        .args(small)
        .args(["--probe-attempt-timeout", "500ms", "--health-timeout", "3s"])
        .timeout(Duration::from_secs(60))
        .run();
    out.assert_code(3, "attempt cut off by its timeout");
    assert!(
        out.all()
            .contains("the completion was cut off by the per-attempt timeout"),
        "the stage it was stuck in: {}",
        out.all()
    );
    assert!(
        out.elapsed < Duration::from_secs(20),
        "bounded by the window: {:?}",
        out.elapsed
    );
    assert!(
        !out.stdout.contains("RESULT:"),
        "nothing was measured: {}",
        out.stdout
    );
    let ctrf = common::assert_ctrf(&d3.join("ctrf.json"), "other");
    assert!(
        ctrf["results"]["tests"][0]["message"]
            .as_str()
            .unwrap()
            .contains("timed out waiting for inference endpoint"),
        "{ctrf:#}"
    );
    let probe = common::read_json(&d3.join("probe.json"));
    assert_eq!(probe["ready"], false);
    assert!(
        !d3.join("profile_export_aiperf.json").exists(),
        "no benchmark ran"
    );
}

/// Run validate against a silent listener and assert exit 2 within a second, naming `needles`,
/// with no connection.
fn rejected_up_front(what: &str, cli: impl FnOnce(&str) -> Cli, needles: &[&str]) -> Vec<String> {
    let l = SilentListener::new();
    let out = cli(&l.url).timeout(Duration::from_secs(10)).run();
    let mut problems = Vec::new();
    if out.code != Some(2) {
        problems.push(format!(
            "{what}: exit {:?}, expected 2: {}",
            out.code, out.stderr
        ));
    }
    if out.elapsed >= Duration::from_secs(1) {
        problems.push(format!(
            "{what}: exit 2 within a second, took {:?}",
            out.elapsed
        ));
    }
    for n in needles {
        if !out.stderr.contains(n) {
            problems.push(format!("{what}: message lacks {n:?}: {}", out.stderr));
        }
    }
    l.assert_untouched(what);
    problems
}

#[test]
fn each_malformed_constraint_exits_2_within_a_second_with_no_request_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    // (constraint, value, needle): reference §2.12's rejected forms and malformed recipe inputs.
    let cases: &[(&str, &str, &str)] = &[
        ("inference-throughput", "> 5000", "must start with \">=\""),
        ("inference-throughput", "== 5000", "must start with"),
        ("inference-throughput", "!= 5000", "must start with"),
        ("inference-throughput", "5000", "must start with"),
        ("inference-throughput", "<= 5000", "must start with"),
        (
            "inference-throughput",
            ">== 5000",
            "extra operator characters",
        ),
        (
            "inference-throughput",
            ">=! 5000",
            "extra operator characters",
        ),
        (
            "inference-throughput",
            ">=< 5000",
            "extra operator characters",
        ),
        (
            "inference-throughput",
            ">= =5000",
            "extra operator characters",
        ),
        (
            "inference-throughput",
            ">=  >5000",
            "extra operator characters",
        ),
        (
            "inference-throughput",
            ">= lots",
            "invalid throughput threshold",
        ),
        ("inference-throughput", ">=", "invalid throughput threshold"),
        ("inference-ttft-p99", ">= 200", "must start with"),
        ("inference-ttft-p99", "< 200", "must start with"),
        ("inference-ttft-p99", "<== 200", "extra operator characters"),
        ("inference-ttft-p99", "<=> 200", "extra operator characters"),
        (
            "inference-ttft-p99",
            "<=   !200",
            "extra operator characters",
        ),
        ("inference-ttft-p99", "<= <200", "extra operator characters"),
        ("inference-ttft-p99", "<= soon", "invalid TTFT threshold"),
        ("inference-model", "$(touch x)", "model"),
        ("inference-concurrency-per-gpu", "lots", "positive integer"),
        ("inference-concurrency-per-gpu", "0", "positive integer"),
        ("inference-routing-mode", "load-only", "dynamo-router"),
    ];
    for (i, &(name, value, needle)) in cases.iter().enumerate() {
        let mut constraints = vec![(name, value)];
        if name != "inference-throughput" {
            constraints.push(("inference-throughput", ">= 10"));
        }
        let path = common::write_file(
            dir.path(),
            &format!("bad{i}.yaml"),
            &common::recipe_yaml(&constraints, 2),
        );
        let what = format!("{name}: {value:?}");
        problems.extend(rejected_up_front(
            &what,
            |url| {
                Cli::new([
                    "validate",
                    "--recipe",
                    path.to_str().unwrap(),
                    "--url",
                    url,
                    "--no-progress",
                ])
            },
            &[&format!("{value:?}"), needle],
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn each_malformed_knob_or_flag_exits_2_within_a_second_with_no_request_sent() {
    let base = |url: &str| {
        Cli::new([
            "validate",
            "--recipe",
            "h100-eks",
            "--url",
            url,
            "--gpus",
            "1",
            "--no-progress",
        ])
    };
    let mut problems = Vec::new();
    // Environment knobs, with upstream's names.
    let knobs: &[(&str, &str, &str)] = &[
        (
            "AICR_INFERENCE_PERF_CONCURRENCY_PER_GPU",
            "abc",
            "positive integer",
        ),
        (
            "AICR_INFERENCE_PERF_CONCURRENCY_PER_GPU",
            "0",
            "positive integer",
        ),
        (
            "AICR_INFERENCE_PERF_WARMUP_PER_CONCURRENCY",
            "1.5",
            "positive integer",
        ),
        ("AICR_INFERENCE_PERF_MIN_REQUESTS", "-1", "positive integer"),
        (
            "AICR_INFERENCE_PERF_REQUESTS_PER_CONCURRENCY",
            "x",
            "positive integer",
        ),
        (
            "AICR_INFERENCE_PERF_INPUT_TOKENS_MEAN",
            "0",
            "positive integer",
        ),
        (
            "AICR_INFERENCE_PERF_OUTPUT_TOKENS_MEAN",
            "1e3",
            "positive integer",
        ),
        ("AICR_INFERENCE_PERF_HEALTH_TIMEOUT", "5", "Go duration"),
        (
            "AICR_INFERENCE_PERF_WORKLOAD_READY_TIMEOUT",
            "soon",
            "Go duration",
        ),
        ("AICR_INFERENCE_PERF_ROUTER_MODE", "bogus", "round-robin"),
        ("AICR_INFERENCE_PERF_NO_CLEANUP", "yes", "true"),
    ];
    for &(name, value, needle) in knobs {
        let what = format!("{name}={value}");
        problems.extend(rejected_up_front(
            &what,
            |url| base(url).env(name, value),
            &[name, &format!("{value:?}"), needle],
        ));
    }
    // The model knob applies (and is checked) when the recipe names no model.
    let dir = tempfile::tempdir().unwrap();
    let bare = common::write_file(
        dir.path(),
        "bare.yaml",
        &common::recipe_yaml(&[("inference-throughput", ">= 10")], 2),
    );
    problems.extend(rejected_up_front(
        "AICR_INFERENCE_PERF_MODEL=$(x)",
        |url| {
            Cli::new(["validate", "--recipe", bare.to_str().unwrap(), "--url", url])
                .env("AICR_INFERENCE_PERF_MODEL", "$(x)")
        },
        &["AICR_INFERENCE_PERF_MODEL", "$(x)"],
    ));
    // The same knobs as flags, and the GPU counts.
    let flags: &[(&[&str], &str)] = &[
        (&["--concurrency-per-gpu", "abc"], "--concurrency-per-gpu"),
        (&["--min-requests", "0"], "--min-requests"),
        (&["--health-timeout", "5"], "--health-timeout"),
        (
            &["--probe-attempt-timeout", "0s"],
            "--probe-attempt-timeout",
        ),
        (&["--probe-interval", "-1s"], "--probe-interval"),
        (&["--router-mode", "bogus"], "--router-mode"),
        (&["--routing-mode", "load-only"], "--routing-mode"),
        (&["--gpus-per-node", "0"], "--gpus-per-node"),
        (&["--request-timeout", "0"], "--request-timeout"),
    ];
    for &(args, needle) in flags {
        let what = args.join(" ");
        problems.extend(rejected_up_front(
            &what,
            |url| base(url).args(args),
            &[needle],
        ));
    }
    // No --url: nothing to gate.
    let out = Cli::new(["validate", "--recipe", "h100-eks", "--no-progress"]).run();
    out.assert_code(2, "no --url");
    assert!(out.stderr.contains("--url"), "{}", out.stderr);
    // An unknown recipe names the built-in ones.
    problems.extend(rejected_up_front(
        "unknown recipe",
        |url| Cli::new(["validate", "--recipe", "h200-eks", "--url", url]),
        &["h200-eks", "h100-eks"],
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn skip_rules_exit_2_with_upstreams_reason_and_a_skipped_ctrf() {
    let dir = tempfile::tempdir().unwrap();
    let no_dynamo = "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nmetadata:\n  name: nd\n\
                     spec:\n  componentRefs:\n    - name: gpu-operator\n      type: Helm\n  \
                     validation:\n    performance:\n      checks: [inference-perf]\n      \
                     constraints:\n        - name: inference-throughput\n          \
                     value: \">= 50000\"\n";
    let no_threshold = common::recipe_yaml(&[("inference-model", MODEL)], 8);
    let cases = [
        (
            "no-dynamo.yaml",
            no_dynamo.to_string(),
            "skipped - dynamo-platform not in recipe components",
        ),
        (
            "no-threshold.yaml",
            no_threshold,
            "no inference-throughput or inference-ttft-p99 constraint in recipe",
        ),
    ];
    for (file, yaml, reason) in cases {
        let recipe = common::write_file(dir.path(), file, &yaml);
        let ctrf = dir.path().join(format!("{file}.ctrf.json"));
        let junit = dir.path().join(format!("{file}.junit.xml"));
        let l = SilentListener::new();
        let out = Cli::new([
            "validate",
            "--recipe",
            recipe.to_str().unwrap(),
            "--url",
            &l.url,
            "--gpus",
            "8",
            "--ctrf",
            ctrf.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ])
        .run();
        out.assert_code(2, file);
        assert!(
            out.stdout.lines().any(|line| line == reason),
            "{file}: {reason:?} in {}",
            out.stdout
        );
        let json = common::assert_ctrf(&ctrf, "skipped");
        assert_eq!(json["results"]["tests"][0]["message"], reason);
        let junit = std::fs::read_to_string(&junit).unwrap();
        assert!(junit.contains("<skipped"), "{junit}");
        l.assert_untouched(file);
    }
    // Built-in overlays without a performance gate skip too.
    for recipe in ["b200-gke", "gb300-eks"] {
        let l = SilentListener::new();
        let out = Cli::new(["validate", "--recipe", recipe, "--url", &l.url]).run();
        out.assert_code(2, recipe);
        assert!(
            out.stdout.contains("no inference-throughput"),
            "{}",
            out.stdout
        );
        l.assert_untouched(recipe);
    }
}

#[test]
fn an_aicr_overlay_file_loads_and_gates() {
    // The GB200 GKE overlay of reference §4.1, as AICR ships it (its base is not ours: a warning,
    // then the overlay on its own). One of the node's 4 GB200s is free, and it is degraded (steps
    // 3x slower): the full-node floor of 50000 tok/s scales to 12500 and the run falls short.
    let overlay = common::data("aicr-overlay.yaml");
    let mut cfg = common::sim_config("gb200x4", 1, RouterKind::LeastLoaded);
    cfg.behaviours.node_slowdown = Some(3.0);
    let sim = Sim::start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let out = validate(overlay.to_str().unwrap(), &sim.url, dir.path())
        .args([
            "--gpus",
            "1",
            "--gpus-per-node",
            "4",
            "--concurrency-per-gpu",
            "64",
            "--output-tokens-mean",
            "32",
        ])
        .run();
    assert!(
        out.stderr.contains("warning") && out.stderr.contains("gb200-gke-cos-inference"),
        "the unknown base is reported: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("recipe gb200-gke-cos-inference-dynamo, model Qwen/Qwen3-8B"),
        "the overlay's name and model are used: {}",
        out.stderr
    );
    out.assert_code(1, "AICR overlay on a degraded node");
    let measured = throughput_line(&out.stdout);
    let message = format!(
        "inference throughput {measured:.2} tokens/sec does not satisfy constraint \">= 50000\" \
         scaled to 12500.00 tokens/sec for 1 of 4 GPUs on the node (with 10% tolerance)"
    );
    assert!(out.stdout.lines().any(|l| l == message), "{}", out.stdout);
    common::assert_ctrf(&dir.path().join("ctrf.json"), "failed");
    let verdict = common::read_json(&dir.path().join("verdict.json"));
    assert_eq!(verdict["constraints"][0]["effective_threshold"], 11250.0);
    let run = common::read_json(&dir.path().join("run.json"));
    assert_eq!(run["model"], MODEL);
    let export = common::read_json(&dir.path().join("profile_export_aiperf.json"));
    assert_eq!(export["request_count"]["avg"], 128.0, "64 in flight x 2");
}

#[test]
fn an_endpoint_that_never_serves_is_could_not_measure_with_every_report_written() {
    // Nothing listening: the probe gives up when its window closes, says at which stage, and the
    // reports still land, in an output folder the run creates (as `--output-dir out/ --ctrf
    // out/ctrf.json` asks).
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = validate("h100-eks", &common::closed_port_url(), &out_dir)
        .args([
            "--gpus",
            "1",
            "--health-timeout",
            "1s",
            "--probe-interval",
            "200ms",
        ])
        .timeout(Duration::from_secs(60))
        .run();
    assert!(
        out.all().contains("nothing listening"),
        "the stage it was stuck in: {}",
        out.all()
    );
    out.assert_code(3, "endpoint never ready");
    let ctrf = common::assert_ctrf(&out_dir.join("ctrf.json"), "other");
    assert!(ctrf["results"]["tests"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nothing listening"));
    assert!(out_dir.join("junit.xml").is_file());
    assert_eq!(
        common::read_json(&out_dir.join("probe.json"))["ready"],
        false
    );
}

#[test]
fn a_skip_writes_its_reports_into_the_output_folder_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let l = SilentListener::new();
    let out = validate("b200-gke", &l.url, &out_dir).run();
    out.assert_code(2, "b200-gke has no performance gate");
    common::assert_ctrf(&out_dir.join("ctrf.json"), "skipped");
    assert!(out_dir.join("junit.xml").is_file());
    l.assert_untouched("skip");
}
