//! `infergate validate`: gate a deployment against a recipe — parse and validate everything
//! (recipe, constraints, flags, `AICR_INFERENCE_PERF_*` knobs) → readiness probe → benchmark at the
//! recipe's operating point → verdict, with upstream's stdout lines, CTRF and JUnit.
//!
//! Exit codes: 0 passed, 1 failed, 2 skipped or invalid input, 3 could not measure, 4 invalid
//! (client bottleneck), 5 inconclusive.

use crate::gate_run::{self, EndpointGate, GateOutputs};
use crate::{output, BadInput, Outcome};
use anyhow::Context;
use infergate_gate::ctrf::RunTiming;
use infergate_gate::{GateFlags, GatePlan, Recipe, RunPlan, Verdict};
use infergate_loadgen::ProbeConfig;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Arguments of `infergate validate`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A recipe name from recipes/ (e.g. h100-eks) or a path to a RecipeMetadata YAML file
    /// (an AICR overlay works as is).
    #[arg(long)]
    pub recipe: String,
    /// Base URL of an existing OpenAI-compatible endpoint, e.g. http://10.0.0.5:8000.
    #[arg(long, short = 'u')]
    pub url: Option<String>,
    /// GPUs the deployment uses (concurrency = per-GPU × this). Default: the recipe's node size.
    #[arg(long)]
    pub gpus: Option<u32>,
    /// GPUs on a full node (the throughput floor scales by gpus / gpus-per-node).
    #[arg(long)]
    pub gpus_per_node: Option<u32>,
    /// Model (overrides the recipe's inference-model and AICR_INFERENCE_PERF_MODEL).
    #[arg(long)]
    pub model: Option<String>,
    /// In-flight requests per GPU (overrides the recipe and AICR_INFERENCE_PERF_CONCURRENCY_PER_GPU).
    #[arg(long, allow_hyphen_values = true)]
    pub concurrency_per_gpu: Option<String>,
    /// dynamo-router or gateway-epp (overrides the recipe's inference-routing-mode).
    #[arg(long)]
    pub routing_mode: Option<String>,
    /// Dynamo frontend router mode (AICR_INFERENCE_PERF_ROUTER_MODE).
    #[arg(long)]
    pub router_mode: Option<String>,
    /// Warmup requests per unit of concurrency (AICR_INFERENCE_PERF_WARMUP_PER_CONCURRENCY).
    #[arg(long, allow_hyphen_values = true)]
    pub warmup_per_concurrency: Option<String>,
    /// Floor of the request count (AICR_INFERENCE_PERF_MIN_REQUESTS).
    #[arg(long, allow_hyphen_values = true)]
    pub min_requests: Option<String>,
    /// Requests per unit of concurrency (AICR_INFERENCE_PERF_REQUESTS_PER_CONCURRENCY).
    #[arg(long, allow_hyphen_values = true)]
    pub requests_per_concurrency: Option<String>,
    /// Prompt length in tokens (AICR_INFERENCE_PERF_INPUT_TOKENS_MEAN).
    #[arg(long, allow_hyphen_values = true)]
    pub input_tokens_mean: Option<String>,
    /// Output length in tokens (AICR_INFERENCE_PERF_OUTPUT_TOKENS_MEAN).
    #[arg(long, allow_hyphen_values = true)]
    pub output_tokens_mean: Option<String>,
    /// Readiness-probe window, a Go duration (AICR_INFERENCE_PERF_HEALTH_TIMEOUT).
    #[arg(long, allow_hyphen_values = true)]
    pub health_timeout: Option<String>,
    /// How long to wait for the workload to be ready, --kube (AICR_INFERENCE_PERF_WORKLOAD_READY_TIMEOUT).
    #[arg(long, allow_hyphen_values = true)]
    pub workload_ready_timeout: Option<String>,
    /// Limit of one probe attempt (default 120s).
    #[arg(long, allow_hyphen_values = true)]
    pub probe_attempt_timeout: Option<String>,
    /// Pause between probe attempts (default 10s).
    #[arg(long, allow_hyphen_values = true)]
    pub probe_interval: Option<String>,
    /// Model-cache StorageClass, --kube (overrides the recipe).
    #[arg(long)]
    pub model_cache_storage_class: Option<String>,
    /// Keep everything for a post-mortem (also INFERGATE_NO_CLEANUP / AICR_INFERENCE_PERF_NO_CLEANUP).
    #[arg(long)]
    pub no_cleanup: bool,
    /// Per-request timeout of the benchmark.
    #[arg(long, default_value = "600s", allow_hyphen_values = true)]
    pub request_timeout: String,
    /// Extra request header `Name:Value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// Environment variable holding the API key.
    #[arg(long, default_value = "OPENAI_API_KEY", value_name = "NAME")]
    pub api_key_env: String,
    /// Write a CTRF report here.
    #[arg(long)]
    pub ctrf: Option<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Keep the benchmark exports, verdict.json, probe.json and report.html here.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// No live progress line.
    #[arg(long)]
    pub no_progress: bool,
    /// `--kube` and the Kubernetes flags (see `crate::kube_run`).
    #[command(flatten)]
    pub kube: crate::kube_run::KubeArgs,
    /// `--trials`, `--until-decided`, `--max-runs`, `--calibrate-client`.
    #[command(flatten)]
    pub trials: TrialsArgs,
}

/// How many benchmark runs the gate combines, and whether the client's timing is calibrated
/// first (issue 6 §1 and §3; rules in docs/verdicts.md).
#[derive(Debug, Clone, clap::Args)]
pub struct TrialsArgs {
    /// Repeat the benchmark N times (1 to 50) after one probe and judge the pooled trials.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub trials: u32,
    /// Keep running the benchmark until every constraint is decided (at most --max-runs runs).
    #[arg(long, conflicts_with = "trials")]
    pub until_decided: bool,
    /// Most runs under --until-decided (1 to 100).
    #[arg(
        long,
        default_value_t = 5,
        value_name = "M",
        requires = "until_decided"
    )]
    pub max_runs: u32,
    /// Before the benchmark, measure the client's own TTFT error against a loopback server with
    /// a known TTFT; it widens the TTFT interval and can make the verdict INVALID.
    #[arg(long)]
    pub calibrate_client: bool,
}

impl Default for TrialsArgs {
    fn default() -> Self {
        TrialsArgs {
            trials: 1,
            until_decided: false,
            max_runs: 5,
            calibrate_client: false,
        }
    }
}

/// Most `--trials`.
pub const MAX_TRIALS: u32 = 50;

impl TrialsArgs {
    /// The validated trial policy (exit 2 on a bad value, before any request).
    pub fn policy(&self) -> anyhow::Result<gate_run::Trials> {
        if self.until_decided {
            let rule = infergate_evidence::UntilDecided::new(self.max_runs)
                .map_err(|e| BadInput::from_err(format!("--max-runs: {e}")))?;
            return Ok(gate_run::Trials::UntilDecided(rule));
        }
        if !(1..=MAX_TRIALS).contains(&self.trials) {
            return Err(BadInput::from_err(format!(
                "invalid --trials {}: expected 1 to {MAX_TRIALS} runs",
                self.trials
            )));
        }
        Ok(gate_run::Trials::Fixed(self.trials))
    }
}

impl Args {
    pub fn gate_flags(&self) -> GateFlags {
        GateFlags {
            model: self.model.clone(),
            concurrency_per_gpu: self.concurrency_per_gpu.clone(),
            routing_mode: self.routing_mode.clone(),
            router_mode: self.router_mode.clone(),
            warmup_per_concurrency: self.warmup_per_concurrency.clone(),
            min_requests: self.min_requests.clone(),
            requests_per_concurrency: self.requests_per_concurrency.clone(),
            input_tokens_mean: self.input_tokens_mean.clone(),
            output_tokens_mean: self.output_tokens_mean.clone(),
            health_timeout: self.health_timeout.clone(),
            workload_ready_timeout: self.workload_ready_timeout.clone(),
            probe_attempt_timeout: self.probe_attempt_timeout.clone(),
            probe_interval: self.probe_interval.clone(),
            model_cache_storage_class: self.model_cache_storage_class.clone(),
            no_cleanup: self.no_cleanup,
            gpus: self.gpus,
            gpus_per_node: self.gpus_per_node,
        }
    }

    pub fn outputs(&self) -> GateOutputs {
        GateOutputs {
            ctrf: self.ctrf.clone(),
            junit: self.junit.clone(),
            output_dir: self.output_dir.clone(),
        }
    }
}

/// What validation of the inputs decided.
pub enum Prepared {
    /// The check does not apply (exit 2, CTRF skipped).
    Skip(String),
    /// Run the gate.
    Run(Box<EndpointGate>),
}

/// Load the recipe, resolve flags > recipe > env > defaults, validate every value, and build the
/// probe and benchmark plans. Nothing is sent.
pub fn prepare(
    args: &Args,
    env: &dyn Fn(&str) -> Option<String>,
    command: &'static str,
) -> anyhow::Result<Prepared> {
    let recipe = Recipe::load(&args.recipe).map_err(BadInput::from_err)?;
    for w in &recipe.warnings {
        eprintln!("warning: {w}");
    }
    let plan: RunPlan =
        match GatePlan::build(&recipe, &args.gate_flags(), env).map_err(BadInput::from_err)? {
            GatePlan::Skip { reason } => return Ok(Prepared::Skip(reason)),
            GatePlan::Run(plan) => *plan,
        };
    let trials = args.trials.policy()?;
    let url = args.url.as_deref().ok_or_else(|| {
        BadInput::from_err("validate needs --url URL (the endpoint to gate), or --kube")
    })?;
    let bench_args = gate_run::bench_args(
        &plan,
        url,
        &args.headers,
        &args.api_key_env,
        &args.request_timeout,
        args.output_dir.clone(),
        !args.no_progress,
    );
    let bench = gate_run::BenchSpec {
        args: bench_args,
        command,
        options: vec![
            ("recipe".into(), args.recipe.clone().into()),
            ("gpus".into(), plan.point.gpus.into()),
            ("gpus_per_node".into(), plan.point.gpus_per_node.into()),
        ],
    };
    // Validate the benchmark here, before anything is sent; the first run uses this plan and
    // each further trial rebuilds it (the same request stream).
    let first = bench.build(
        args.output_dir
            .as_ref()
            .map(|d| gate_run::trial_dir(d, trials, 1)),
    )?;
    let mut probe = ProbeConfig::new(plan.model.clone());
    probe.attempt_timeout = plan.probe.attempt_timeout;
    probe.interval = plan.probe.interval;
    probe.window = plan.probe.window;
    probe.body_limit = plan.probe.body_limit;
    probe.validate().map_err(BadInput::from_err)?;
    Ok(Prepared::Run(Box::new(EndpointGate {
        plan,
        probe: (first.target.clone(), probe),
        first_plan: Some(first),
        bench,
        trials,
        calibrate_client: args.trials.calibrate_client,
        outputs: args.outputs(),
        command,
    })))
}

/// Run `infergate validate`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    if args.kube.kube {
        let t = &args.trials;
        if t.trials != 1 || t.until_decided || t.calibrate_client {
            return Err(BadInput::from_err(
                "--trials, --until-decided and --calibrate-client are not supported with --kube \
                 (the benchmark runs in the cluster as one Job); run them with --url",
            ));
        }
        return crate::kube_run::run(&args, &infergate_gate::knobs::process_env);
    }
    let prepared = prepare(&args, &infergate_gate::knobs::process_env, "validate")?;
    match prepared {
        Prepared::Skip(reason) => {
            write_skip(&reason, &args.outputs())?;
            Ok(Outcome::Skipped)
        }
        Prepared::Run(gate) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let result = runtime.block_on(gate_run::execute(*gate))?;
            Ok(result.outcome())
        }
    }
}

/// Print a skip and write it as CTRF `skipped` / JUnit skipped.
pub fn write_skip(reason: &str, outputs: &GateOutputs) -> anyhow::Result<()> {
    println!("{reason}");
    let verdict = Verdict::skipped(reason);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let timing = RunTiming {
        start_unix_ms: now,
        stop_unix_ms: now,
    };
    outputs.ensure_dirs()?;
    if let Some(path) = &outputs.ctrf {
        let report = infergate_gate::ctrf::report(&verdict, timing, env!("CARGO_PKG_VERSION"), &[]);
        output::write_atomic(path, report.to_json().as_bytes())?;
    }
    if let Some(path) = &outputs.junit {
        output::write_atomic(
            path,
            infergate_gate::junit::render(&verdict, timing, &[]).as_bytes(),
        )?;
    }
    Ok(())
}
