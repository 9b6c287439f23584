//! `infergate sweep`, `infergate calibrate` and `infergate study`, in-process: the knee the sweep
//! finds on the simulator, the overlay calibrate writes (loaded and judged by the gate), bad input
//! (exit 2 before anything runs), and both commands against a real-time simulated endpoint.

use clap::Parser;
use infergate::{Cli, Outcome};
use infergate_evidence::{find_knee, KneeOptions, SweepPoint};
use infergate_gate::verdict::{evaluate, GateStatus, Measured};
use infergate_gate::{GateFlags, GatePlan, Recipe, RunPlan};
use infergate_model::LoadMode;
use infergate_report::SweepView;
use infergate_sim::virtual_time::{self, VirtualLoad};
use infergate_sim::SimConfig;
use infergate_stats::{Summary, SummaryOptions};
use std::path::Path;

fn run_ok(args: &[&str]) -> Outcome {
    let mut argv = vec!["infergate"];
    argv.extend_from_slice(args);
    infergate::run(Cli::parse_from(argv)).unwrap_or_else(|e| panic!("{args:?}: {e:#}"))
}

/// The exit code `main_entry` would give, and the message it would print.
fn exit_of(args: &[&str]) -> (u8, String) {
    let mut argv = vec!["infergate"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv) {
        Err(e) => (infergate::exit::BAD_INPUT, e.to_string()),
        Ok(cli) => match infergate::run(cli) {
            Ok(o) => (o.code(), String::new()),
            Err(e) => (infergate::exit::code_for_error(&e), format!("{e:#}")),
        },
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn summary_point(cfg: &SimConfig, load: &VirtualLoad) -> (f64, f64) {
    let run = virtual_time::run(cfg, load).expect("virtual run");
    let s = Summary::from_records(
        &run.records,
        &SummaryOptions {
            confidence: None,
            ..SummaryOptions::default()
        },
    );
    (
        s.output_token_throughput.expect("throughput"),
        s.time_to_first_token.expect("ttft").p99,
    )
}

#[test]
fn sweep_on_the_simulator_finds_the_knee_within_one_ladder_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let o = run_ok(&[
        "sweep",
        "--sim",
        "h100x8",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o, Outcome::Ok);

    // sweep.json is the report's SweepView.
    let view: SweepView = read_json(&out.join("sweep.json"));
    assert_eq!(view.axis, "concurrency");
    assert_eq!(view.gpus, Some(8));
    let loads: Vec<f64> = view.points.iter().map(|p| p.concurrency).collect();
    assert_eq!(loads, [256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0]);
    let knee = view.points[view.knee_index.expect("a knee")].concurrency;
    let recommended = view.recommended_per_gpu.expect("a sub-knee point");
    assert_eq!(
        recommended * 8.0,
        knee / 2.0,
        "one ladder step below the knee"
    );

    // A dense virtual sweep (√2 apart) of the same deployment and client shape.
    let cfg = SimConfig::for_profile("h100x8").unwrap();
    let dense: Vec<SweepPoint> = (0..7)
        .map(|k| {
            let c = (1024.0 * 2f64.powf(f64::from(k) / 2.0)).round() as u32;
            let (throughput, ttft_p99_ms) = summary_point(&cfg, &VirtualLoad::aicr(c));
            SweepPoint {
                load: f64::from(c),
                throughput,
                ttft_p99_ms,
            }
        })
        .collect();
    let k = find_knee(
        &dense,
        &KneeOptions {
            gpus: 8,
            ..KneeOptions::default()
        },
    )
    .unwrap();
    let dense_knee = k.rows[k.knee.expect("the dense sweep has a knee")].load;
    let steps_apart = (knee / dense_knee).log2().abs();
    assert!(
        steps_apart <= 1.0,
        "sweep knee {knee} vs dense knee {dense_knee}: more than one ladder step apart\n{}",
        k.to_tsv()
    );

    // The table, and a report over the knee step's records.
    let tsv = std::fs::read_to_string(out.join("sweep.tsv")).unwrap();
    assert!(
        tsv.starts_with("load\tper_gpu\tthroughput_tok_s\tttft_p99_ms"),
        "{tsv}"
    );
    assert_eq!(tsv.lines().count(), 7);
    let input = infergate_report::load_dir(&out).expect("the report's files");
    assert_eq!(
        input.run.load,
        LoadMode::Closed {
            concurrency: knee as u32
        }
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Sweep"), "the page has the sweep section");
}

#[test]
fn a_rate_ladder_sweeps_the_open_loop() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rate");
    run_ok(&[
        "sweep",
        "--sim",
        "h100x8",
        "--gpus-free",
        "2",
        "--rate-ladder",
        "400,100,200",
        "--min-requests",
        "200",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    let view: SweepView = read_json(&out.join("sweep.json"));
    assert_eq!(view.axis, "rate");
    assert_eq!(view.gpus, Some(2));
    let loads: Vec<f64> = view.points.iter().map(|p| p.concurrency).collect();
    assert_eq!(loads, [100.0, 200.0, 400.0], "steps run in increasing load");
    // Below saturation an open loop's throughput follows the offered rate.
    let tput_per_rate = view.points[0].throughput / 100.0;
    assert!(
        (110.0..=140.0).contains(&tput_per_rate),
        "≈ 128 tokens per request: {tput_per_rate}"
    );
}

/// The benchmark `validate` runs for `plan`, in virtual time on `cfg` with `seed`.
fn gate_trial(plan: &RunPlan, cfg: &SimConfig, seed: u64) -> Measured {
    let p = &plan.point;
    let mut cfg = cfg.clone();
    cfg.seed = seed;
    let load = VirtualLoad {
        request_count: p.request_count,
        warmup: p.warmup_count,
        ..VirtualLoad::aicr(p.concurrency)
    };
    let (t, ttft) = summary_point(&cfg, &load);
    Measured {
        throughput_tok_s: Some(t),
        ttft_p99_ms: Some(ttft),
    }
}

fn plan_for(recipe: &Recipe, gpus: u32) -> RunPlan {
    let flags = GateFlags {
        gpus: Some(gpus),
        gpus_per_node: Some(8),
        ..GateFlags::default()
    };
    match GatePlan::build(recipe, &flags, &|_: &str| None).expect("plan") {
        GatePlan::Run(p) => *p,
        GatePlan::Skip { reason } => panic!("skipped: {reason}"),
    }
}

#[test]
fn calibrate_on_the_simulator_writes_an_overlay_the_gate_loads_and_healthy_runs_pass() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("h100-eks-calibrated.yaml");
    let o = run_ok(&[
        "calibrate",
        "--recipe",
        "h100-eks",
        "--sim",
        "h100x8",
        "--gpus-free",
        "2",
        "--trials",
        "5",
        "--seed",
        "10",
        "--output",
        overlay.to_str().unwrap(),
        "--output-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o, Outcome::Ok);

    let recipe = Recipe::load(overlay.to_str().unwrap()).expect("the overlay loads");
    assert_eq!(
        recipe.chain.last().map(String::as_str),
        Some("h100-eks-calibrated")
    );
    assert!(
        recipe.chain.iter().any(|c| c == "h100-eks"),
        "{:?}",
        recipe.chain
    );
    // Inherited from the base: the model and the operating point.
    assert_eq!(recipe.constraint("inference-model"), Some("Qwen/Qwen3-8B"));
    let plan = plan_for(&recipe, 2);
    assert_eq!(plan.point.concurrency, 512);
    let floor = plan.throughput.as_ref().expect("a floor").value;
    let ceiling = plan.ttft_p99.as_ref().expect("a ceiling").value;
    // A full-node floor from a 2-GPU measurement: well above the recipe's shared 50000.
    assert!((80_000.0..=120_000.0).contains(&floor), "floor {floor}");
    assert!((700.0..=2000.0).contains(&ceiling), "ceiling {ceiling}");

    let cfg = SimConfig::for_profile("h100x8")
        .unwrap()
        .with_gpus_free(2)
        .unwrap();
    // The calibration trials (seeds 10-14) and fresh healthy seeds all pass the overlay.
    for seed in [10, 11, 12, 13, 14, 100, 101] {
        let v = evaluate(&plan, gate_trial(&plan, &cfg, seed));
        assert_eq!(v.status, GateStatus::Passed, "seed {seed}: {v:?}");
    }
    // A node 30 % slow passes the stock recipe's floor but not the calibrated one.
    let mut slow = cfg.clone();
    slow.behaviours.node_slowdown = Some(1.43);
    let stock = plan_for(&Recipe::load("h100-eks").unwrap(), 2);
    assert_eq!(
        evaluate(&stock, gate_trial(&stock, &slow, 100)).status,
        GateStatus::Passed
    );
    assert_eq!(
        evaluate(&plan, gate_trial(&plan, &slow, 100)).status,
        GateStatus::Failed
    );

    let file: serde_json::Value = read_json(&dir.path().join("calibration.json"));
    let trials = file["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 5);
    assert!(trials.iter().all(|t| t["passes_proposal"] == true));
    assert_eq!(trials[0]["seed"], 10);
}

#[test]
fn bad_input_exits_2_naming_the_flag_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let o = out.to_str().unwrap();
    let cases: [(&[&str], &str); 12] = [
        (&["sweep", "--output-dir", o], "--url"),
        (
            &["sweep", "--url", "http://127.0.0.1:9", "--output-dir", o],
            "--model",
        ),
        (&["sweep", "--sim", "h100x9", "--output-dir", o], "h100x9"),
        (
            &[
                "sweep",
                "--sim",
                "h100x8",
                "--concurrency-ladder",
                "64,128",
                "--output-dir",
                o,
            ],
            "--concurrency-ladder",
        ),
        (
            &[
                "sweep",
                "--sim",
                "h100x8",
                "--per-gpu-ladder",
                "8,8,16",
                "--output-dir",
                o,
            ],
            "appears twice",
        ),
        (
            &[
                "sweep",
                "--sim",
                "h100x8",
                "--rate-ladder",
                "1,2,-3",
                "--output-dir",
                o,
            ],
            "--rate-ladder",
        ),
        (
            &[
                "sweep",
                "--url",
                "http://127.0.0.1:9",
                "-m",
                "m",
                "--router",
                "kv",
                "--output-dir",
                o,
            ],
            "--router",
        ),
        (
            &[
                "sweep",
                "--url",
                "ftp://127.0.0.1:9",
                "-m",
                "m",
                "--output-dir",
                o,
            ],
            "ftp",
        ),
        (
            &[
                "calibrate",
                "--recipe",
                "h100-eks",
                "--sim",
                "h100x8",
                "--trials",
                "2",
                "--output",
                o,
            ],
            "--trials",
        ),
        (
            &[
                "calibrate",
                "--recipe",
                "no-such-recipe",
                "--sim",
                "h100x8",
                "--output",
                o,
            ],
            "no-such-recipe",
        ),
        (
            &[
                "calibrate",
                "--recipe",
                "h100-eks",
                "--sim",
                "h100x8",
                "--ceiling-factor",
                "0.5",
                "--output",
                o,
            ],
            "ceiling",
        ),
        (
            &[
                "study",
                "fidelity",
                "--trials",
                "1",
                "--per-gpu",
                "0",
                "--output",
                o,
            ],
            "per-gpu",
        ),
    ];
    for (args, names) in cases {
        let (code, msg) = exit_of(args);
        assert_eq!(code, 2, "{args:?}: {msg}");
        assert!(
            msg.contains(names),
            "{args:?}: message should name {names:?}: {msg}"
        );
    }
    assert!(
        !out.exists(),
        "nothing may be written before the input is valid"
    );
}

#[test]
fn a_short_fidelity_study_runs() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("fidelity.md");
    let o = run_ok(&[
        "study",
        "fidelity",
        "--trials",
        "1",
        "--calibration-trials",
        "0",
        "--profile",
        "h100x8",
        "--per-gpu",
        "128",
        "--ceiling-ms",
        "2000",
        "--max-runs",
        "1",
        "--output",
        table.to_str().unwrap(),
    ]);
    assert_eq!(o, Outcome::Ok);
    let text = std::fs::read_to_string(&table).unwrap();
    assert!(text.contains("h100x8"), "{text}");
    assert!(text.contains('|'), "a Markdown table: {text}");
}

/// A simulated deployment served in real time on a loopback port, stopped on drop.
struct Served {
    runtime: tokio::runtime::Runtime,
    server: Option<infergate_sim::server::SimServer>,
    url: String,
}

impl Served {
    fn start() -> Served {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cfg = SimConfig::for_profile("h100x8")
            .unwrap()
            .with_gpus_free(1)
            .unwrap();
        let server = runtime
            .block_on(infergate_sim::server::start(
                cfg,
                "127.0.0.1:0".parse().unwrap(),
            ))
            .unwrap();
        let url = format!("http://{}", server.local_addr());
        Served {
            runtime,
            server: Some(server),
            url,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

#[test]
fn sweep_and_calibrate_run_against_an_endpoint() {
    let sim = Served::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    run_ok(&[
        "sweep",
        "--url",
        &sim.url,
        "--model",
        "Qwen/Qwen3-8B",
        "--concurrency-ladder",
        "2,4,8",
        "--request-count",
        "16",
        "--output-tokens-mean",
        "16",
        "--no-progress",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    let view: SweepView = read_json(&out.join("sweep.json"));
    assert_eq!(view.points.len(), 3);
    assert!(view
        .points
        .iter()
        .all(|p| p.errors == 0 && p.throughput > 0.0));
    for c in [2, 4, 8] {
        let step = out.join("steps").join(format!("concurrency-{c}"));
        let run: serde_json::Value = read_json(&step.join("run.json"));
        assert_eq!(run["command"], "sweep");
        assert_eq!(run["load"]["concurrency"], c, "{run}");
    }
    assert!(out.join("report.html").is_file());

    let overlay = dir.path().join("overlay.yaml");
    run_ok(&[
        "calibrate",
        "--recipe",
        "h100-eks",
        "--url",
        &sim.url,
        "--gpus",
        "1",
        "--concurrency-per-gpu",
        "4",
        "--min-requests",
        "12",
        "--requests-per-concurrency",
        "1",
        "--output-tokens-mean",
        "16",
        "--trials",
        "3",
        "--no-progress",
        "--output",
        overlay.to_str().unwrap(),
    ]);
    let recipe = Recipe::load(overlay.to_str().unwrap()).expect("the overlay loads");
    assert!(recipe.constraint("inference-throughput").is_some());
    assert!(recipe.constraint("inference-ttft-p99").is_some());
}
