//! `infergate sweep`: offer a ladder of loads (concurrencies or request rates) to an endpoint, or
//! to the simulator in virtual time, find the saturation knee (`infergate_evidence::find_knee`:
//! throughput plateau, TTFT p99 elbow) and recommend a sub-knee operating point per GPU.
//!
//! Every step is validated before the first one runs (exit 2 on a bad flag). Against an endpoint
//! each step is exactly one `infergate bench` run (its flags are built here and parsed by bench's
//! own parser, so defaults and checks are bench's); against `--sim` each step is one virtual-time
//! run of the same client shape. Outputs (docs/verdicts.md, "infergate sweep"): the plot-ready
//! table on stdout, `sweep.json` (the report's `SweepView`, plus the full knee analysis),
//! `sweep.tsv`, and `report.html` over the knee step's records (the last step's when no knee
//! was found).

use super::bench;
use crate::bench_run::{self, BenchResult};
use crate::{output, BadInput, Outcome};
use anyhow::Context;
use clap::Parser;
use infergate_evidence::{find_knee, Knee, KneeOptions, SweepPoint};
use infergate_model::{Arrivals, LoadMode, RequestRecord, RunInfo, SCHEMA_VERSION};
use infergate_report::{SweepPointView, SweepView};
use infergate_sim::virtual_time::{self, VirtualLoad};
use infergate_sim::{RouterKind, SimConfig};
use infergate_stats::{Summary, SummaryOptions};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The ladder used when none is given, in requests in flight per GPU. It brackets every
/// simulated profile's knee (docs/sim.md) and upstream's 256/GPU operating point.
pub const DEFAULT_PER_GPU_LADDER: [u32; 6] = [32, 64, 128, 256, 512, 1024];

/// Arguments of `infergate sweep`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Base URL of the endpoint (each step is one `infergate bench` run against it).
    #[arg(long, short = 'u', requires = "model", required_unless_present = "sim")]
    pub url: Option<String>,
    /// Model name sent in every request (needed with --url; with --sim only a label).
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Sweep the simulator in virtual time instead of an endpoint: a platform profile
    /// (h100x8, rtx-pro-6000x8, gb200x4).
    #[arg(long, value_name = "PROFILE", conflicts_with = "url")]
    pub sim: Option<String>,
    /// --sim: run only N workers (GPUs) of the node.
    #[arg(long, value_name = "N")]
    pub gpus_free: Option<u32>,
    /// --sim: routing: round-robin (default), random, least-loaded or kv.
    #[arg(long)]
    pub router: Option<String>,
    /// --sim: seed of the simulated deployment (jitter, worker speeds, routing). Default 0.
    #[arg(long, value_name = "SEED")]
    pub sim_seed: Option<u64>,
    /// GPUs serving the endpoint, to state loads and the recommendation per GPU (default 1).
    /// With --sim it is the simulated workers.
    #[arg(long, conflicts_with = "sim")]
    pub gpus: Option<u32>,
    /// Ladder of total concurrencies (requests in flight), comma-separated, e.g. 64,128,256,512.
    #[arg(long, value_delimiter = ',', value_name = "C,...")]
    pub concurrency_ladder: Vec<u32>,
    /// Ladder of concurrencies per GPU (each × the GPUs). Default: 32,64,128,256,512,1024.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "C,...",
        conflicts_with = "concurrency_ladder"
    )]
    pub per_gpu_ladder: Vec<u32>,
    /// Ladder of request rates, requests/sec (open loop), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "R,...", conflicts_with_all = ["concurrency_ladder", "per_gpu_ladder"])]
    pub rate_ladder: Vec<f64>,
    /// Open loop (--rate-ladder): constant or poisson arrivals.
    #[arg(long, default_value = "poisson")]
    pub arrival_pattern: String,
    /// Open loop (--rate-ladder): cap on requests in flight.
    #[arg(long, value_name = "N")]
    pub max_concurrency: Option<u32>,
    /// Profile requests of every step (overrides the two flags below).
    #[arg(long, value_name = "N")]
    pub request_count: Option<u64>,
    /// Profile requests per step: at least this many (AICR's default, 1000) ...
    #[arg(long, value_name = "N", default_value_t = u64::from(infergate_gate::knobs::defaults::MIN_REQUESTS))]
    pub min_requests: u64,
    /// ... and this many per unit of concurrency (AICR's default, 8); open loop: per request/sec
    /// of rate (default 10: ten seconds of arrivals).
    #[arg(long, value_name = "N")]
    pub requests_per_concurrency: Option<u64>,
    /// Warmup requests per step, excluded from its numbers. Default: the step's concurrency
    /// (drained before profiling, as AIPerf does); open loop: 0.
    #[arg(long, value_name = "N")]
    pub warmup_request_count: Option<u64>,
    /// Prompt length, tokens.
    #[arg(long, default_value_t = 128, visible_alias = "isl")]
    pub input_tokens_mean: u32,
    /// Output length, tokens (sent as max_tokens).
    #[arg(long, default_value_t = 128, visible_alias = "osl")]
    pub output_tokens_mean: u32,
    /// Distinct prompts; request i uses prompt i mod N.
    #[arg(long, default_value_t = 100)]
    pub num_dataset_entries: u32,
    /// --url: seed of the request stream (every step sends the same prompts).
    #[arg(long, default_value_t = 100)]
    pub random_seed: u64,
    /// --url: chat (/v1/chat/completions) or completions (/v1/completions).
    #[arg(long, default_value = "chat", conflicts_with = "sim")]
    pub endpoint_type: String,
    /// --url: extra request header `Name:Value` (repeatable).
    #[arg(
        long = "header",
        short = 'H',
        value_name = "NAME:VALUE",
        conflicts_with = "sim"
    )]
    pub headers: Vec<String>,
    /// --url: environment variable holding the API key (never printed).
    #[arg(
        long,
        default_value = "OPENAI_API_KEY",
        value_name = "NAME",
        conflicts_with = "sim"
    )]
    pub api_key_env: String,
    /// --url: `builtin` or a path to an HF tokenizer.json.
    #[arg(long, default_value = "builtin", conflicts_with = "sim")]
    pub tokenizer: String,
    /// --url: `key:value` merged into every body (repeatable); default temperature:0.
    #[arg(
        long = "extra-inputs",
        value_name = "KEY:VALUE",
        conflicts_with = "sim"
    )]
    pub extra_inputs: Vec<String>,
    /// --url: send "ignore_eos": true.
    #[arg(long, conflicts_with = "sim")]
    pub ignore_eos: bool,
    /// --url: per-request timeout.
    #[arg(long, default_value = "600s", conflicts_with = "sim")]
    pub request_timeout: String,
    /// Where sweep.json, sweep.tsv, report.html (and, with --url, each step's bench exports
    /// under steps/) are written.
    #[arg(long, default_value = "infergate-sweep")]
    pub output_dir: PathBuf,
    /// No live progress line during --url steps.
    #[arg(long)]
    pub no_progress: bool,
}

/// What the ladder varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Closed loop: requests in flight.
    Concurrency,
    /// Open loop: requests per second.
    Rate,
}

impl Axis {
    /// The name written in `sweep.json` and the table.
    pub fn name(self) -> &'static str {
        match self {
            Axis::Concurrency => "concurrency",
            Axis::Rate => "rate",
        }
    }
}

/// One validated step of the ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Offered load in axis units (total, not per GPU).
    pub load: f64,
    /// How the load is offered.
    pub mode: LoadMode,
    /// Profile requests.
    pub request_count: u64,
    /// Warmup requests.
    pub warmup: u64,
}

/// What one step measured (profile phase, infergate-stats definitions).
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// The step.
    pub step: Step,
    /// Output-token throughput, tokens/sec (0 when nothing succeeded).
    pub throughput: f64,
    /// Successful requests/sec.
    pub request_throughput: Option<f64>,
    /// TTFT p50, ms.
    pub ttft_p50_ms: Option<f64>,
    /// TTFT p99, ms.
    pub ttft_p99_ms: Option<f64>,
    /// ITL p50, ms.
    pub itl_p50_ms: Option<f64>,
    /// Failed profile requests.
    pub errors: u64,
    /// Successful profile requests.
    pub completed: u64,
}

impl StepResult {
    fn from_summary(step: Step, s: &Summary) -> StepResult {
        StepResult {
            step,
            throughput: s.output_token_throughput.unwrap_or(0.0),
            request_throughput: s.request_throughput,
            ttft_p50_ms: s.time_to_first_token.as_ref().map(|d| d.p50),
            ttft_p99_ms: s.time_to_first_token.as_ref().map(|d| d.p99),
            itl_p50_ms: s.inter_token_latency.as_ref().map(|d| d.p50),
            errors: s.error_request_count,
            completed: s.request_count,
        }
    }

    fn view(&self) -> SweepPointView {
        SweepPointView {
            concurrency: self.step.load,
            throughput: self.throughput,
            request_throughput: self.request_throughput,
            ttft_p50_ms: self.ttft_p50_ms,
            ttft_p99_ms: self.ttft_p99_ms,
            itl_p50_ms: self.itl_p50_ms,
            errors: self.errors,
        }
    }
}

/// `sweep.json`: the report's [`SweepView`] (read by `infergate report`) plus what produced it.
#[derive(Debug, Clone, Serialize)]
pub struct SweepFile {
    /// The view the report reads.
    #[serde(flatten)]
    pub view: SweepView,
    /// `sim:<profile> (virtual time)` or the endpoint URL.
    pub source: String,
    /// Offered load of the step whose records `records.jsonl` holds, and why that one.
    pub records_step: Option<f64>,
    /// `knee` or `last` (no knee found).
    pub records_from: String,
    /// The full knee analysis (rows with growth per doubling, marks, indices).
    pub knee: Option<Knee>,
}

/// Where the load goes.
enum Target {
    Sim(Box<SimConfig>),
    Url(Vec<bench_run::BenchPlan>),
}

/// Everything a sweep needs, validated.
struct Plan {
    axis: Axis,
    gpus: u32,
    steps: Vec<Step>,
    target: Target,
    source: String,
    model: String,
}

/// Run `infergate sweep`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let Plan {
        axis,
        gpus,
        steps,
        target,
        source,
        model,
    } = plan(&args)?;
    output::ensure_dir(&args.output_dir)?;
    eprintln!(
        "sweep: {source} — {} steps of {} ({}), {gpus} GPU(s), {} in / {} out",
        steps.len(),
        axis.name(),
        steps
            .iter()
            .map(|s| trim(s.load))
            .collect::<Vec<_>>()
            .join(", "),
        args.input_tokens_mean,
        args.output_tokens_mean
    );
    let meta = PlanMeta {
        axis,
        gpus,
        source,
        model,
    };
    match target {
        Target::Sim(cfg) => {
            let results = run_sim_steps(&cfg, &steps, &args)?;
            finish(&args, &meta, &results, |i| {
                write_sim_records(&args, &meta, &cfg, &steps[i])
            })
        }
        Target::Url(plans) => {
            let results = run_url_steps(plans, &steps)?;
            finish(&args, &meta, &results, |i| {
                copy_step_records(
                    &args.output_dir,
                    &step_dir(&args.output_dir, axis, &steps[i]),
                )
            })
        }
    }
}

/// What the final stage needs to know about the plan.
struct PlanMeta {
    axis: Axis,
    gpus: u32,
    source: String,
    model: String,
}

/// Validate every flag and every step. Nothing runs here.
fn plan(args: &Args) -> anyhow::Result<Plan> {
    if args.sim.is_none() {
        sim_only(&[
            ("--gpus-free", args.gpus_free.is_some()),
            ("--router", args.router.is_some()),
            ("--sim-seed", args.sim_seed.is_some()),
        ])?;
    }
    let (target_cfg, gpus) = match &args.sim {
        Some(profile) => {
            let mut cfg = sim_deployment(profile, args.gpus_free, args.router.as_deref())?;
            cfg.seed = args.sim_seed.unwrap_or(0);
            if let Some(m) = &args.model {
                cfg.model = m.clone();
            }
            cfg.validate().map_err(BadInput::from_err)?;
            let workers = cfg.workers;
            (Some(cfg), workers)
        }
        None => {
            let gpus = args.gpus.unwrap_or(1);
            if gpus == 0 {
                return Err(BadInput::from_err(
                    "invalid --gpus 0: expected the number of GPUs serving the endpoint (at least 1)",
                ));
            }
            (None, gpus)
        }
    };
    let (axis, steps) = ladder(args, gpus)?;
    match target_cfg {
        Some(cfg) => {
            for s in &steps {
                sim_load(s, args).validate().map_err(BadInput::from_err)?;
            }
            let source = format!(
                "sim:{} ({} of {} GPUs, router {}, seed {}; virtual time)",
                cfg.profile.name,
                cfg.workers,
                cfg.profile.gpus,
                cfg.router.name(),
                cfg.seed
            );
            Ok(Plan {
                axis,
                gpus,
                steps,
                source,
                model: cfg.model.clone(),
                target: Target::Sim(Box::new(cfg)),
            })
        }
        None => {
            let url = args.url.clone().ok_or_else(|| {
                BadInput::from_err("sweep needs --url URL (an endpoint) or --sim PROFILE")
            })?;
            let model = args.model.clone().unwrap_or_default();
            let mut plans = Vec::with_capacity(steps.len());
            for s in &steps {
                let dir = step_dir(&args.output_dir, axis, s);
                let bench_args = bench_args_for_step(args, &url, &model, s, dir)?;
                let mut p = bench::plan(&bench_args, "sweep")?;
                p.run_info.options.insert("gpus".into(), Value::from(gpus));
                plans.push(p);
            }
            Ok(Plan {
                axis,
                gpus,
                steps,
                source: url,
                model,
                target: Target::Url(plans),
            })
        }
    }
}

/// The ladder, sorted by load, with each step's request counts; errors name the flag.
fn ladder(args: &Args, gpus: u32) -> anyhow::Result<(Axis, Vec<Step>)> {
    let (axis, flag, loads): (Axis, &str, Vec<f64>) = if !args.rate_ladder.is_empty() {
        (Axis::Rate, "--rate-ladder", args.rate_ladder.clone())
    } else if !args.concurrency_ladder.is_empty() {
        (
            Axis::Concurrency,
            "--concurrency-ladder",
            args.concurrency_ladder
                .iter()
                .map(|&c| f64::from(c))
                .collect(),
        )
    } else {
        let per_gpu: Vec<u32> = if args.per_gpu_ladder.is_empty() {
            DEFAULT_PER_GPU_LADDER.to_vec()
        } else {
            args.per_gpu_ladder.clone()
        };
        let mut loads = Vec::with_capacity(per_gpu.len());
        for p in per_gpu {
            let c = p.checked_mul(gpus).ok_or_else(|| {
                BadInput::from_err(format!(
                    "invalid --per-gpu-ladder value {p}: {p} × {gpus} GPUs overflows; expected at most {}",
                    u32::MAX / gpus
                ))
            })?;
            loads.push(f64::from(c));
        }
        (Axis::Concurrency, "--per-gpu-ladder", loads)
    };
    if loads.len() < 3 {
        return Err(BadInput::from_err(format!(
            "invalid {flag}: {} value(s); the knee needs at least 3 loads, e.g. 64,128,256,512",
            loads.len()
        )));
    }
    if let Some(bad) = loads.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
        return Err(BadInput::from_err(format!(
            "invalid {flag} value {bad}: expected positive numbers"
        )));
    }
    let mut loads = loads;
    loads.sort_by(f64::total_cmp);
    if let Some(w) = loads.windows(2).find(|w| w[0] == w[1]) {
        return Err(BadInput::from_err(format!(
            "invalid {flag}: {} appears twice; expected each load once",
            trim(w[0])
        )));
    }
    if axis == Axis::Rate {
        infergate_workload::validate_request_rate(loads[loads.len() - 1])
            .map_err(BadInput::from_err)?;
        if !["constant", "poisson"].contains(&args.arrival_pattern.as_str()) {
            return Err(BadInput::from_err(format!(
                "invalid --arrival-pattern {:?}: valid are constant, poisson",
                args.arrival_pattern
            )));
        }
    } else if args.max_concurrency.is_some() {
        return Err(BadInput::from_err(
            "--max-concurrency caps an open loop: use it with --rate-ladder",
        ));
    }
    if args.request_count == Some(0) || args.min_requests == 0 {
        return Err(BadInput::from_err(format!(
            "invalid {} 0: expected at least 1 request per step",
            if args.request_count == Some(0) {
                "--request-count"
            } else {
                "--min-requests"
            }
        )));
    }
    if args.requests_per_concurrency == Some(0) {
        return Err(BadInput::from_err(
            "invalid --requests-per-concurrency 0: expected at least 1",
        ));
    }
    let arrivals = if args.arrival_pattern == "constant" {
        Arrivals::Constant
    } else {
        Arrivals::Poisson
    };
    let steps = loads
        .into_iter()
        .map(|load| match axis {
            Axis::Concurrency => {
                let c = load as u32;
                Step {
                    load,
                    mode: LoadMode::Closed { concurrency: c },
                    request_count: args.request_count.unwrap_or(
                        u64::from(c)
                            .saturating_mul(args.requests_per_concurrency.unwrap_or(u64::from(
                                infergate_gate::knobs::defaults::REQUESTS_PER_CONCURRENCY,
                            )))
                            .max(args.min_requests),
                    ),
                    warmup: args.warmup_request_count.unwrap_or(u64::from(c)),
                }
            }
            Axis::Rate => Step {
                load,
                mode: LoadMode::Open {
                    rate: load,
                    arrivals,
                    max_concurrency: args.max_concurrency,
                },
                request_count: args.request_count.unwrap_or(
                    ((args.requests_per_concurrency.unwrap_or(10) as f64 * load).ceil() as u64)
                        .max(args.min_requests),
                ),
                warmup: args.warmup_request_count.unwrap_or(0),
            },
        })
        .collect();
    Ok((axis, steps))
}

/// The virtual-time client of one step: AICR's shape (docs/sim.md) at this step's load.
fn sim_load(step: &Step, args: &Args) -> VirtualLoad {
    let base = VirtualLoad::aicr(match step.mode {
        LoadMode::Closed { concurrency } => concurrency,
        LoadMode::Open { .. } => 1,
    });
    VirtualLoad {
        mode: step.mode,
        request_count: step.request_count,
        warmup: step.warmup,
        input_tokens: args.input_tokens_mean,
        output_tokens: args.output_tokens_mean,
        dataset_entries: args.num_dataset_entries,
        distinct_prefixes: args.num_dataset_entries,
        ..base
    }
}

/// `infergate bench` parsed from flags: the sweep's steps get bench's defaults and checks.
#[derive(Debug, Parser)]
#[command(name = "bench", no_binary_name = true)]
struct BenchArgv {
    #[command(flatten)]
    args: bench::Args,
}

/// The `infergate bench` flags of one step.
fn bench_args_for_step(
    args: &Args,
    url: &str,
    model: &str,
    step: &Step,
    dir: PathBuf,
) -> anyhow::Result<bench::Args> {
    let mut argv: Vec<String> = vec![
        format!("--url={url}"),
        format!("--model={model}"),
        format!("--endpoint-type={}", args.endpoint_type),
        format!("--api-key-env={}", args.api_key_env),
        format!("--random-seed={}", args.random_seed),
        format!("--input-tokens-mean={}", args.input_tokens_mean),
        format!("--output-tokens-mean={}", args.output_tokens_mean),
        format!("--num-dataset-entries={}", args.num_dataset_entries),
        format!("--tokenizer={}", args.tokenizer),
        format!("--request-timeout={}", args.request_timeout),
        format!("--request-count={}", step.request_count),
        format!("--warmup-request-count={}", step.warmup),
        format!("--output-dir={}", dir.display()),
    ];
    match step.mode {
        LoadMode::Closed { concurrency } => argv.push(format!("--concurrency={concurrency}")),
        LoadMode::Open {
            rate,
            max_concurrency,
            ..
        } => {
            argv.push(format!("--request-rate={rate}"));
            argv.push(format!("--arrival-pattern={}", args.arrival_pattern));
            if let Some(m) = max_concurrency {
                argv.push(format!("--concurrency={m}"));
            }
        }
    }
    argv.extend(args.headers.iter().map(|h| format!("--header={h}")));
    argv.extend(
        args.extra_inputs
            .iter()
            .map(|e| format!("--extra-inputs={e}")),
    );
    if args.ignore_eos {
        argv.push("--ignore-eos".into());
    }
    if args.no_progress {
        argv.push("--no-progress".into());
    }
    // Header values may hold credentials: the parse error names the problem, never the argv.
    BenchArgv::try_parse_from(argv)
        .map(|b| b.args)
        .map_err(|e| BadInput::from_err(format!("sweep step flags: {}", e.kind())))
}

fn run_sim_steps(cfg: &SimConfig, steps: &[Step], args: &Args) -> anyhow::Result<Vec<StepResult>> {
    let opts = SummaryOptions {
        confidence: None,
        ..SummaryOptions::default()
    };
    let mut out = Vec::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        let t0 = Instant::now();
        let run = virtual_time::run(cfg, &sim_load(s, args))
            .with_context(|| format!("simulated step {} failed", trim(s.load)))?;
        let r = StepResult::from_summary(s.clone(), &Summary::from_records(&run.records, &opts));
        progress_line(i, steps.len(), &r, t0.elapsed().as_secs_f64());
        out.push(r);
    }
    Ok(out)
}

fn run_url_steps(
    plans: Vec<bench_run::BenchPlan>,
    steps: &[Step],
) -> anyhow::Result<Vec<StepResult>> {
    let mut out = Vec::with_capacity(steps.len());
    let n = steps.len();
    for (i, (p, s)) in plans.into_iter().zip(steps).enumerate() {
        let t0 = Instant::now();
        let result: BenchResult = bench_run::execute(p)?;
        let r = StepResult::from_summary(s.clone(), &result.summary);
        progress_line(i, n, &r, t0.elapsed().as_secs_f64());
        out.push(r);
        if result.run.cancelled {
            eprintln!(
                "sweep interrupted after step {}: analysing the steps measured so far",
                i + 1
            );
            break;
        }
    }
    Ok(out)
}

fn progress_line(i: usize, n: usize, r: &StepResult, secs: f64) {
    eprintln!(
        "[{}/{}] {} {}: {:.0} tokens/sec, TTFT p99 {} ms, {} of {} requests failed ({:.1} s)",
        i + 1,
        n,
        match r.step.mode {
            LoadMode::Closed { .. } => "concurrency",
            LoadMode::Open { .. } => "rate",
        },
        trim(r.step.load),
        r.throughput,
        r.ttft_p99_ms
            .map(|v| format!("{v:.0}"))
            .unwrap_or_else(|| "n/a".into()),
        r.errors,
        r.errors + r.completed,
        secs
    );
}

/// Knee analysis, printing and every output file. `write_records(i)` writes run.json and
/// records.jsonl of step `i` into the output directory.
fn finish(
    args: &Args,
    meta: &PlanMeta,
    results: &[StepResult],
    write_records: impl FnOnce(usize) -> anyhow::Result<()>,
) -> anyhow::Result<Outcome> {
    // A step that measured no TTFT (nothing succeeded) cannot be placed on the curve.
    let usable: Vec<&StepResult> = results
        .iter()
        .filter(|r| r.ttft_p99_ms.is_some() && r.completed > 0)
        .collect();
    for r in results
        .iter()
        .filter(|r| r.ttft_p99_ms.is_none() || r.completed == 0)
    {
        eprintln!(
            "warning: step {} {} measured no successful request; it is left out of the knee analysis",
            meta.axis.name(),
            trim(r.step.load)
        );
    }
    let points: Vec<SweepPoint> = usable
        .iter()
        .map(|r| SweepPoint {
            load: r.step.load,
            throughput: r.throughput,
            ttft_p99_ms: r.ttft_p99_ms.unwrap_or(0.0),
        })
        .collect();
    let knee = find_knee(
        &points,
        &KneeOptions {
            gpus: meta.gpus,
            ..KneeOptions::default()
        },
    );
    let knee = match knee {
        Ok(k) => Some(k),
        Err(e) => {
            eprintln!("no knee analysis: {e}");
            None
        }
    };
    let step_of = |load: f64| results.iter().position(|r| r.step.load == load);
    let knee_step = knee
        .as_ref()
        .and_then(|k| k.knee.map(|i| k.rows[i].load))
        .and_then(step_of);
    let (records_step, records_from) = match knee_step {
        Some(i) => (Some(i), "knee"),
        None => (results.len().checked_sub(1), "last"),
    };
    let recommended = knee
        .as_ref()
        .and_then(|k| k.recommended.map(|i| k.rows[i].clone()));

    // stdout: the plot-ready table; every other line starts with '#' so the output stays TSV.
    let mut text = String::new();
    match &knee {
        Some(k) => text.push_str(&k.to_tsv()),
        None => text.push_str(&fallback_tsv(results, meta.gpus)),
    }
    let mut message = knee
        .as_ref()
        .map(|k| k.explanation.clone())
        .unwrap_or_else(|| "no knee analysis: fewer than 3 steps measured anything".into());
    if let Some(i) = records_step {
        let what = match records_from {
            "knee" => "the knee step's",
            _ => "the last step's (no knee found)",
        };
        message.push_str(&format!(
            ". report.html shows {what} requests ({} {})",
            meta.axis.name(),
            trim(results[i].step.load)
        ));
    }
    for line in message.split(". ") {
        text.push_str(&format!("# {}\n", line.trim_end_matches('.')));
    }
    print!("{text}");

    let view = SweepView {
        axis: meta.axis.name().into(),
        gpus: Some(meta.gpus),
        points: results.iter().map(StepResult::view).collect(),
        knee_index: knee_step,
        recommended_per_gpu: recommended.as_ref().map(|r| r.per_gpu),
        message: message.clone(),
    };
    let file = SweepFile {
        view,
        source: meta.source.clone(),
        records_step: records_step.map(|i| results[i].step.load),
        records_from: records_from.into(),
        knee: knee.clone(),
    };
    let dir = &args.output_dir;
    output::write_json(&dir.join("sweep.json"), &file)?;
    output::write_atomic(
        &dir.join("sweep.tsv"),
        knee.as_ref()
            .map(Knee::to_tsv)
            .unwrap_or_else(|| fallback_tsv(results, meta.gpus))
            .as_bytes(),
    )?;
    let mut written = vec!["sweep.json", "sweep.tsv"];
    if let Some(i) = records_step {
        write_records(i)?;
        crate::cmd::report::write_report(dir)?;
        written.extend(["run.json", "records.jsonl", "report.html"]);
    }
    eprintln!("wrote {} in {}", written.join(", "), dir.display());
    Ok(if knee.is_some() {
        Outcome::Ok
    } else {
        Outcome::CouldNotMeasure
    })
}

/// The table when the knee could not be analysed: the measured columns only.
fn fallback_tsv(results: &[StepResult], gpus: u32) -> String {
    let mut out = String::from("load\tper_gpu\tthroughput_tok_s\tttft_p99_ms\n");
    for r in results {
        out.push_str(&format!(
            "{}\t{}\t{:.2}\t{}\n",
            trim(r.step.load),
            trim(r.step.load / f64::from(gpus)),
            r.throughput,
            r.ttft_p99_ms.map(|v| format!("{v:.2}")).unwrap_or_default()
        ));
    }
    out
}

/// run.json and records.jsonl of a simulated step, for the report. The step is run again:
/// virtual time is deterministic, so these are the records the table was computed from.
fn write_sim_records(
    args: &Args,
    meta: &PlanMeta,
    cfg: &SimConfig,
    step: &Step,
) -> anyhow::Result<()> {
    let dir = &args.output_dir;
    let run = virtual_time::run(cfg, &sim_load(step, args))
        .context("re-running the simulated step for the report")?;
    write_records_jsonl(&dir.join("records.jsonl"), &run.records)?;
    let info = sim_run_info(meta, cfg, step, args);
    output::write_json(&dir.join("run.json"), &info)
}

/// Copy a --url step's bench exports (run.json, records.jsonl, profile_export_aiperf.json) from
/// its folder under steps/ to the output directory, for the report.
fn copy_step_records(dir: &Path, from: &Path) -> anyhow::Result<()> {
    for name in ["run.json", "records.jsonl", "profile_export_aiperf.json"] {
        let src = from.join(name);
        let bytes =
            std::fs::read(&src).with_context(|| format!("cannot read {}", src.display()))?;
        output::write_atomic(&dir.join(name), &bytes)?;
    }
    Ok(())
}

/// `records.jsonl`: one `RequestRecord` per line, as `infergate bench` writes it.
pub fn write_records_jsonl(path: &Path, records: &[RequestRecord]) -> anyhow::Result<()> {
    let mut bytes = Vec::with_capacity(records.len() * 512);
    for r in records {
        serde_json::to_writer(&mut bytes, r).context("cannot serialise a record")?;
        bytes.push(b'\n');
    }
    output::write_atomic(path, &bytes)
}

/// `run.json` of a virtual-time step. There is no request stream (the simulator models prompt
/// lengths, not their text), so its digest is empty.
fn sim_run_info(meta: &PlanMeta, cfg: &SimConfig, step: &Step, args: &Args) -> RunInfo {
    let mut options = Map::new();
    options.insert("sim".into(), json!(cfg.profile.name));
    options.insert("gpus".into(), json!(cfg.workers));
    options.insert("gpus_per_node".into(), json!(cfg.profile.gpus));
    options.insert("router".into(), json!(cfg.router.name()));
    options.insert("sim_seed".into(), json!(cfg.seed));
    options.insert("streaming".into(), json!(true));
    options.insert("input_tokens_mean".into(), json!(args.input_tokens_mean));
    options.insert("output_tokens_mean".into(), json!(args.output_tokens_mean));
    options.insert(
        "num_dataset_entries".into(),
        json!(args.num_dataset_entries),
    );
    options.insert(
        "sweep_step".into(),
        json!(format!("{} {}", meta.axis.name(), trim(step.load))),
    );
    sim_run_info_with(
        &meta.model,
        "sweep",
        cfg,
        step.mode,
        step.request_count,
        step.warmup,
        options,
    )
}

/// A `run.json` for a simulated run (shared with `calibrate`).
pub fn sim_run_info_with(
    model: &str,
    command: &str,
    cfg: &SimConfig,
    mode: LoadMode,
    request_count: u64,
    warmup: u64,
    options: Map<String, Value>,
) -> RunInfo {
    let now = SystemTime::now();
    RunInfo {
        schema_version: SCHEMA_VERSION.to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: crate::exit::GIT_COMMIT.to_string(),
        command: command.to_string(),
        started_at: bench_run::rfc3339(now),
        started_at_unix_ms: now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        endpoint: format!("sim:{} (virtual time)", cfg.profile.name),
        model: model.to_string(),
        random_seed: cfg.seed,
        request_stream_sha256: String::new(),
        total_requests: request_count + warmup,
        warmup_requests: warmup,
        load: mode,
        options,
    }
}

/// A --url step's bench exports: `DIR/steps/concurrency-256`, `DIR/steps/rate-12.5`.
fn step_dir(dir: &Path, axis: Axis, step: &Step) -> PathBuf {
    dir.join("steps")
        .join(format!("{}-{}", axis.name(), trim(step.load)))
}

/// Flags that configure the simulator make no sense against an endpoint: name the first given.
pub fn sim_only(flags: &[(&str, bool)]) -> anyhow::Result<()> {
    match flags.iter().find(|(_, given)| *given) {
        Some((flag, _)) => Err(BadInput::from_err(format!(
            "{flag} configures the simulator: use it with --sim PROFILE, not --url"
        ))),
        None => Ok(()),
    }
}

/// The `--sim PROFILE [--gpus-free N] [--router R]` deployment that sweep and calibrate share:
/// the profile's node, cut to `gpus_free` workers, routed by `router` (default round-robin).
/// Bad values exit 2. Not yet validated: the caller sets what else it owns (seed, model) and
/// then calls `validate`.
pub fn sim_deployment(
    profile: &str,
    gpus_free: Option<u32>,
    router: Option<&str>,
) -> anyhow::Result<SimConfig> {
    let mut cfg = SimConfig::for_profile(profile).map_err(BadInput::from_err)?;
    if let Some(n) = gpus_free {
        cfg = cfg.with_gpus_free(n).map_err(BadInput::from_err)?;
    }
    cfg.router = RouterKind::parse(router.unwrap_or("round-robin")).map_err(BadInput::from_err)?;
    Ok(cfg)
}

/// A load without a needless fraction: 2048, 12.5.
fn trim(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}
