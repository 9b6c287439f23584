//! `infergate validate --kube`: the gate on a Kubernetes cluster. Validate everything (recipe,
//! knobs, flags, Kubernetes options, the in-cluster `probe` and `bench` argv) before the API
//! server is contacted; connect; choose the GPU node; size the operating point from the node's
//! free GPUs and validate it again, still before anything is created; deploy, wait, run the load
//! Job, read its framed AIPerf-compatible export, and gate it with the same evaluation, stdout
//! lines, CTRF, JUnit and `verdict.json` as `validate --url`. Cleanup always runs (also on
//! Ctrl-C / SIGTERM) unless no-cleanup is asked for.
//!
//! The cluster steps are `infergate-kube`'s public pieces (`preflight`, `choose_node`, `deploy`,
//! `wait_ready`, `run_load_job`, `cleanup`) in `run_gate_flow`'s order, with one step added
//! between node choice and deploy: the operating point for the node's free GPUs is built and its
//! argv validated, so a value that only becomes invalid at that GPU count (e.g. a concurrency
//! above the load generator's limit) exits 2 with nothing created.
//!
//! Exit codes beyond validate's: a load Job that fails (probe or load container), a workload that
//! never gets ready, a missing framed result, or a cancelled run → 3, COULD NOT MEASURE (the same
//! as an endpoint that never answers in `--url` mode; upstream reports these as failed, exit 1).
//! A cluster that cannot host the run (CRD missing, no GPU node, a foreign namespace, an API
//! error) → 1, failed, with upstream's message. A kubeconfig that cannot be loaded → 2.

use crate::cmd::bench;
use crate::cmd::common::duration_flag;
use crate::cmd::probe;
use crate::cmd::validate;
use crate::gate_run::{self, GateOutputs};
use crate::{output, BadInput, Outcome};
use anyhow::Context;
use clap::Parser;
use infergate_gate::ctrf::RunTiming;
use infergate_gate::{
    evaluate, GateFlags, GatePlan, GateStatus, Measured, Recipe, RunPlan, Verdict,
};
use infergate_kube::{
    choose_node, cleanup, connect, deploy, no_cleanup_from_env, parse_node_selector, preflight,
    run_load_job, wait_ready, CleanupReport, Deployment, Endpoint, KubeError, KubeOptions,
    LoadJobFailure, LoadRequest, NodeChoice, RouterMode, Routing, Secret, StepOutcome, Toleration,
};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The line that frames the load Job's JSON result in its log.
pub const SENTINEL: &str = "===INFERGATE-RESULT===";

/// Stands in for the endpoint while the argv is validated before the endpoint exists.
const PLACEHOLDER_URL: &str = "http://infergate-perf-frontend.infergate-perf.svc:8000";

/// The Kubernetes flags of `infergate validate` (flattened into its arguments).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KubeArgs {
    /// Deploy the workload on Kubernetes, run the load as a Job in the cluster, gate it, clean up.
    #[arg(long)]
    pub kube: bool,
    /// Kubeconfig file (default: KUBECONFIG / ~/.kube/config, else the in-cluster account). --kube.
    #[arg(long, value_name = "PATH", requires = "kube")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current one). --kube.
    #[arg(long, value_name = "NAME", requires = "kube")]
    pub context: Option<String>,
    /// Namespace of the load Job (default: the per-run namespace). --kube.
    #[arg(long, value_name = "NS", requires = "kube")]
    pub namespace: Option<String>,
    /// Only nodes with this label are candidates (repeatable or comma-joined). --kube.
    #[arg(long = "node-selector", value_name = "KEY=VALUE", requires = "kube")]
    pub node_selector: Vec<String>,
    /// Workload toleration `key=value:Effect`, `key:Effect` or `*` (repeatable; default: the
    /// chosen node's taints). --kube.
    #[arg(long = "toleration", value_name = "TOLERATION", requires = "kube")]
    pub tolerations: Vec<String>,
    /// Run ID: hashed into the 8 hex characters naming the run's objects (default: random). --kube.
    #[arg(long, value_name = "ID", requires = "kube")]
    pub run_id: Option<String>,
    /// The infergate image the load Job runs (built from this repository's Dockerfile). --kube.
    #[arg(long, value_name = "IMAGE", env = "INFERGATE_IMAGE")]
    pub image: Option<String>,
    /// Dynamo runtime image of the frontend and the workers. --kube.
    #[arg(long, value_name = "IMAGE", requires = "kube")]
    pub dynamo_image: Option<String>,
    /// Poll interval of the cluster waits (tests use milliseconds).
    #[arg(long, value_name = "DURATION", hide = true, requires = "kube")]
    pub kube_poll_interval: Option<String>,
}

/// What validation decided.
pub enum KubePrepared {
    /// The check does not apply (exit 2, CTRF skipped).
    Skip(String),
    /// Run the gate on the cluster.
    Run(Box<KubeGate>),
}

/// A validated `--kube` run; nothing has been sent yet.
pub struct KubeGate {
    /// Cluster options (model, routing, images, timeouts, HF token, ...), validated.
    pub opts: KubeOptions,
    /// The plan at a provisional one-GPU operating point (everything but the GPU counts checked).
    pub provisional: RunPlan,
    recipe: Recipe,
    flags: GateFlags,
    /// Every environment value the first plan read, so the node's plan reads the same ones.
    env_snapshot: BTreeMap<String, Option<String>>,
    outputs: GateOutputs,
    request_timeout: String,
}

/// The operating point for the chosen node, with the in-cluster argv it runs.
struct NodePlan {
    plan: RunPlan,
}

/// Validate every input of `validate --kube` without contacting the cluster.
pub fn prepare(
    args: &validate::Args,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<KubePrepared> {
    let k = &args.kube;
    if args.url.is_some() {
        return Err(BadInput::from_err(
            "--url and --kube exclude each other: --kube deploys the workload and finds its endpoint itself",
        ));
    }
    for (flag, given) in [
        ("--gpus", args.gpus.is_some()),
        ("--gpus-per-node", args.gpus_per_node.is_some()),
    ] {
        if given {
            return Err(BadInput::from_err(format!(
                "{flag} cannot be used with --kube: the GPU counts come from the chosen node (free and allocatable nvidia.com/gpu)"
            )));
        }
    }
    if !args.headers.is_empty() {
        return Err(BadInput::from_err(
            "--header cannot be used with --kube: header values would appear in the load Job's argv, and the in-cluster frontend needs none",
        ));
    }
    let image = k.image.as_deref().map(str::trim).unwrap_or("");
    if image.is_empty() {
        return Err(BadInput::from_err(
            "validate --kube needs --image IMAGE (or INFERGATE_IMAGE): the infergate image the load Job runs, built from the repository's Dockerfile",
        ));
    }
    let mut opts = KubeOptions::new(image);
    if let Some(path) = &k.kubeconfig {
        if !path.is_file() {
            return Err(BadInput::from_err(format!(
                "invalid --kubeconfig {}: no such file",
                path.display()
            )));
        }
    }
    opts.kubeconfig = k.kubeconfig.clone();
    opts.context = k.context.clone();
    opts.namespace = k.namespace.clone();
    opts.node_selector = parse_node_selector(&k.node_selector).map_err(BadInput::from_err)?;
    opts.tolerations = k
        .tolerations
        .iter()
        .map(|t| t.parse::<Toleration>())
        .collect::<Result<_, _>>()
        .map_err(BadInput::from_err)?;
    if let Some(id) = &k.run_id {
        if id.trim().is_empty() {
            return Err(BadInput::from_err(
                "invalid --run-id \"\": expected a non-empty identifier (it is hashed into the 8 hex characters naming the run's objects)",
            ));
        }
    }
    opts.run_id = k.run_id.clone();
    if let Some(img) = &k.dynamo_image {
        opts.dynamo_image = img.clone();
    }
    if let Some(p) = &k.kube_poll_interval {
        opts.timeouts.poll_interval = duration_flag("--kube-poll-interval", p)?;
    }
    opts.hf_token = env("HF_TOKEN").and_then(|t| Secret::new(&t));

    let recipe = Recipe::load(&args.recipe).map_err(BadInput::from_err)?;
    for w in &recipe.warnings {
        eprintln!("warning: {w}");
    }
    // Everything but the GPU counts is checked here, at a provisional one-GPU operating point;
    // the real one is built (and checked again) once the node is chosen.
    let mut flags = args.gate_flags();
    flags.gpus = Some(1);
    flags.gpus_per_node = Some(1);
    let seen = RefCell::new(BTreeMap::new());
    let recording = |name: &str| {
        let v = env(name);
        seen.borrow_mut().insert(name.to_string(), v.clone());
        v
    };
    let built = GatePlan::build(&recipe, &flags, &recording).map_err(BadInput::from_err)?;
    let provisional = match built {
        GatePlan::Skip { reason } => return Ok(KubePrepared::Skip(reason)),
        GatePlan::Run(plan) => *plan,
    };
    opts.model = provisional.model.clone();
    opts.routing = provisional
        .routing_mode
        .as_str()
        .parse::<Routing>()
        .map_err(BadInput::from_err)?;
    opts.router_mode = provisional
        .router_mode
        .as_str()
        .parse::<RouterMode>()
        .map_err(BadInput::from_err)?;
    opts.timeouts.workload_ready = provisional.workload_ready_timeout;
    opts.no_cleanup = provisional.no_cleanup || no_cleanup_from_env(env);
    opts.validate().map_err(BadInput::from_err)?;
    if provisional.model_cache_storage_class.is_some() {
        eprintln!(
            "warning: the model-cache StorageClass is ignored: validate --kube has no model-weights cache yet (workers download the model; set HF_TOKEN)"
        );
    }
    let gate = KubeGate {
        opts,
        provisional,
        recipe,
        flags,
        env_snapshot: seen.into_inner(),
        outputs: args.outputs(),
        request_timeout: args.request_timeout.clone(),
    };
    // The in-cluster argv parses and validates like the user's own flags would.
    gate.load_request(&gate.provisional, PLACEHOLDER_URL)?;
    Ok(KubePrepared::Run(Box::new(gate)))
}

impl KubeGate {
    /// The operating point on `node`: concurrency = per-GPU × free GPUs, the throughput floor
    /// scaled by free / allocatable. Checked (argv included) before anything is deployed.
    fn plan_for_node(&self, node: &NodeChoice) -> anyhow::Result<NodePlan> {
        let count = |what: &str, n: u64| {
            u32::try_from(n).map_err(|_| {
                anyhow::anyhow!(
                    "node {} reports {n} {what} GPUs, more than infergate can size a run for",
                    node.name
                )
            })
        };
        let flags = GateFlags {
            gpus: Some(count("free", node.free_gpus)?),
            gpus_per_node: Some(count("allocatable", node.allocatable_gpus)?),
            ..self.flags.clone()
        };
        let on_node = |e: &dyn std::fmt::Display| {
            BadInput::from_err(format!(
                "the operating point for node {} ({} free of {} GPUs) is invalid: {e}",
                node.name, node.free_gpus, node.allocatable_gpus
            ))
        };
        let env = |name: &str| self.env_snapshot.get(name).cloned().flatten();
        let plan = match GatePlan::build(&self.recipe, &flags, &env).map_err(|e| on_node(&e))? {
            GatePlan::Run(plan) => *plan,
            GatePlan::Skip { reason } => {
                // Skips do not depend on GPU counts; the provisional plan already ran.
                return Err(on_node(&reason));
            }
        };
        self.load_request(&plan, PLACEHOLDER_URL)
            .map_err(|e| on_node(&format!("{e:#}")))?;
        Ok(NodePlan { plan })
    }

    /// The load Job's argv for `plan` at `url`, parsed and validated the way the in-cluster
    /// binary will parse it.
    fn load_request(&self, plan: &RunPlan, url: &str) -> anyhow::Result<LoadRequest> {
        let probe_args = probe_argv(plan, url);
        let bench_args = bench_argv(&gate_run::bench_args(
            plan,
            url,
            &[],
            "OPENAI_API_KEY",
            &self.request_timeout,
            None,
            false,
        ));
        let mut full = bench_args.clone();
        full.extend(["--result-sentinel".to_string(), SENTINEL.to_string()]);
        let parsed = parse_bench(&full)?;
        bench::plan(&parsed, "bench")?;
        probe::plan(&parse_probe(&probe_args)?)?;
        Ok(LoadRequest {
            probe_args: Some(probe_args),
            bench_args,
            sentinel: SENTINEL.into(),
        })
    }
}

/// `infergate probe` arguments for the plan's readiness probe at `url`.
pub fn probe_argv(plan: &RunPlan, url: &str) -> Vec<String> {
    let secs = |d: Duration| d.as_secs_f64().to_string();
    vec![
        format!("--url={url}"),
        format!("--model={}", plan.model),
        format!("--attempt-timeout={}", secs(plan.probe.attempt_timeout)),
        format!("--interval={}", secs(plan.probe.interval)),
        format!("--window={}", secs(plan.probe.window)),
        format!("--body-limit={}", plan.probe.body_limit),
    ]
}

/// `infergate bench` arguments that parse back into `a` (every field spelled out, `--flag=value`
/// so no value can be read as a flag).
pub fn bench_argv(a: &bench::Args) -> Vec<String> {
    let mut v = vec![
        format!("--url={}", a.url),
        format!("--model={}", a.model),
        format!("--endpoint-type={}", a.endpoint_type),
    ];
    let mut flag = |on: bool, name: &str| {
        if on {
            v.push(format!("--{name}"));
        }
    };
    flag(a.streaming, "streaming");
    flag(a.no_streaming, "no-streaming");
    flag(a.max_completion_tokens, "max-completion-tokens");
    flag(a.use_legacy_max_tokens, "use-legacy-max-tokens");
    flag(a.ignore_eos, "ignore-eos");
    flag(a.no_warmup_drain, "no-warmup-drain");
    flag(a.no_progress, "no-progress");
    flag(a.scrape_metrics, "scrape-metrics");
    let mut opt = |name: &str, value: Option<String>| {
        if let Some(x) = value {
            v.push(format!("--{name}={x}"));
        }
    };
    opt("api-key-env", Some(a.api_key_env.clone()));
    opt("random-seed", Some(a.random_seed.to_string()));
    opt("input-tokens-mean", Some(a.input_tokens_mean.to_string()));
    opt(
        "input-tokens-stddev",
        Some(a.input_tokens_stddev.to_string()),
    );
    opt(
        "output-tokens-mean",
        a.output_tokens_mean.map(|x| x.to_string()),
    );
    opt(
        "output-tokens-stddev",
        Some(a.output_tokens_stddev.to_string()),
    );
    opt(
        "num-dataset-entries",
        Some(a.num_dataset_entries.to_string()),
    );
    opt("tokenizer", Some(a.tokenizer.clone()));
    opt("concurrency", a.concurrency.map(|x| x.to_string()));
    opt("request-rate", a.request_rate.map(|x| x.to_string()));
    opt("arrival-pattern", Some(a.arrival_pattern.clone()));
    opt("request-count", a.request_count.map(|x| x.to_string()));
    opt("duration", a.duration.clone());
    opt("drain-grace", Some(a.drain_grace.clone()));
    opt(
        "warmup-request-count",
        Some(a.warmup_request_count.to_string()),
    );
    opt("request-timeout", Some(a.request_timeout.clone()));
    opt("confidence-level", Some(a.confidence_level.to_string()));
    opt(
        "output-dir",
        a.output_dir.as_ref().map(|p| p.display().to_string()),
    );
    opt("result-sentinel", a.result_sentinel.clone());
    opt("export-level", a.export_level.clone());
    for h in &a.headers {
        v.push(format!("--header={h}"));
    }
    for e in &a.extra_inputs {
        v.push(format!("--extra-inputs={e}"));
    }
    for g in &a.goodput {
        v.push(format!("--goodput={g}"));
    }
    v
}

/// Parse `infergate bench <argv>` exactly as the binary in the Job will.
pub fn parse_bench(argv: &[String]) -> anyhow::Result<bench::Args> {
    match parse_sub("bench", argv)? {
        crate::Command::Bench(a) => Ok(a),
        _ => Err(anyhow::anyhow!("argv did not parse as `infergate bench`")),
    }
}

/// Parse `infergate probe <argv>` exactly as the binary in the Job will.
pub fn parse_probe(argv: &[String]) -> anyhow::Result<probe::Args> {
    match parse_sub("probe", argv)? {
        crate::Command::Probe(a) => Ok(a),
        _ => Err(anyhow::anyhow!("argv did not parse as `infergate probe`")),
    }
}

fn parse_sub(sub: &str, argv: &[String]) -> anyhow::Result<crate::Command> {
    let full = ["infergate", sub]
        .into_iter()
        .map(String::from)
        .chain(argv.iter().cloned());
    crate::Cli::try_parse_from(full)
        .map(|c| c.command)
        .map_err(|e| {
            BadInput::from_err(format!(
                "the load Job's `infergate {sub}` arguments do not parse: {}",
                e.to_string().trim()
            ))
        })
}

/// Why the cluster part stopped.
enum Stop {
    Kube(KubeError),
    /// The operating point on the chosen node is invalid (exit 2; nothing was created).
    BadPlan(anyhow::Error),
    /// The load Job's argv cannot be built for the endpoint the cluster gave (exit 1).
    Internal(String),
}

impl From<KubeError> for Stop {
    fn from(e: KubeError) -> Self {
        Stop::Kube(e)
    }
}

/// Run `infergate validate --kube`.
pub fn run(args: &validate::Args, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Outcome> {
    let gate = match prepare(args, env)? {
        KubePrepared::Skip(reason) => {
            validate::write_skip(&reason, &args.outputs())?;
            return Ok(Outcome::Skipped);
        }
        KubePrepared::Run(gate) => *gate,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(execute(gate, crate::bench_run::wait_for_stop_signal()))
}

/// Run a validated gate on the cluster; `cancel` resolving (Ctrl-C / SIGTERM) stops the run, and
/// cleanup still runs.
pub async fn execute(
    gate: KubeGate,
    cancel: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Outcome> {
    let started = unix_ms();
    let opts = &gate.opts;
    let mut dep = infergate_kube::plan(opts);
    eprintln!(
        "infergate validate --kube: recipe {}, model {}, run ID {} (namespace {}), load image {}",
        gate.provisional.recipe, opts.model, dep.run_id, dep.namespace, opts.image
    );
    let client = connect(opts).await.map_err(BadInput::from_err)?;

    let mut node: Option<NodeChoice> = None;
    let mut node_plan: Option<NodePlan> = None;
    let mut endpoint: Option<Endpoint> = None;
    let result: Result<String, Stop> = {
        let work = async {
            preflight(&client, opts, true).await?;
            let chosen = node.insert(choose_node(&client, opts).await?);
            eprintln!("{}", node_line(chosen));
            if !chosen.dra_nodes.is_empty() {
                eprintln!("{}", dra_line(chosen));
            }
            let np = node_plan.insert(gate.plan_for_node(chosen).map_err(Stop::BadPlan)?);
            let p = &np.plan.point;
            eprintln!(
                "operating point: concurrency {} ({} per GPU × {} GPU(s)), {} requests + {} warmup",
                p.concurrency, p.concurrency_per_gpu, p.gpus, p.request_count, p.warmup_count
            );
            deploy(&client, opts, chosen, &mut dep).await?;
            eprintln!(
                "deployed DynamoGraphDeployment {}/{} ({} worker(s), {} routing); waiting up to {:?} for it to be ready",
                dep.namespace,
                dep.dgd_name,
                dep.workers,
                opts.routing.as_str(),
                opts.timeouts.workload_ready
            );
            let ep = endpoint.insert(wait_ready(&client, opts, &dep).await?);
            eprintln!(
                "workload ready at {}; load Job {}/{}: readiness probe (window {:?}), then the benchmark",
                ep.url, dep.job_namespace, dep.job_name, np.plan.probe.window
            );
            let req = gate.load_request(&np.plan, &ep.url).map_err(|e| {
                Stop::Internal(format!(
                    "cannot build the load Job for endpoint {}: {e:#}",
                    ep.url
                ))
            })?;
            Ok::<String, Stop>(run_load_job(&client, opts, &mut dep, &req).await?)
        };
        tokio::select! {
            r = work => r,
            () = cancel => Err(Stop::Kube(KubeError::Cancelled)),
        }
    };
    let report = cleanup(&client, opts, &dep).await;
    print_cleanup(&report, &dep);

    let plan = node_plan
        .as_ref()
        .map(|np| &np.plan)
        .unwrap_or(&gate.provisional);
    let mut payload: Option<Value> = None;
    let verdict = match result {
        Err(Stop::BadPlan(e)) => return Err(e),
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(v) => {
                let measured = Measured {
                    throughput_tok_s: v
                        .pointer("/output_token_throughput/avg")
                        .and_then(Value::as_f64),
                    ttft_p99_ms: v
                        .pointer("/time_to_first_token/p99")
                        .and_then(Value::as_f64),
                };
                payload = Some(v);
                evaluate(plan, measured)
            }
            Err(e) => {
                Verdict::could_not_measure(format!("the load Job's framed result is not JSON: {e}"))
            }
        },
        Err(Stop::Kube(KubeError::LoadJobFailed(f))) => {
            print_job_log(&f);
            Verdict::could_not_measure(format!(
                "load Job {}/{} failed (pod {}, container {}, {}); its log is printed above",
                f.namespace,
                f.job,
                if f.pod.is_empty() { "<none>" } else { &f.pod },
                f.container,
                f.reason
            ))
        }
        Err(Stop::Kube(
            e @ (KubeError::Timeout { .. } | KubeError::Result { .. } | KubeError::Cancelled),
        )) => Verdict::could_not_measure(e.to_string()),
        Err(Stop::Kube(e)) if e.is_bad_input() => return Err(BadInput::from_err(e)),
        Err(Stop::Kube(e)) => failed(e.to_string()),
        Err(Stop::Internal(m)) => failed(m),
    };

    for line in verdict.display_lines() {
        println!("{line}");
    }
    let timing = RunTiming {
        start_unix_ms: started,
        stop_unix_ms: unix_ms(),
    };
    let mut preceding = vec![format!("run ID {}", dep.run_id)];
    preceding.extend(node.as_ref().map(node_line));
    write_results(&gate.outputs, plan, &verdict, timing, &preceding)?;
    if let Some(dir) = &gate.outputs.output_dir {
        if let Some(p) = &payload {
            output::write_json(&dir.join("profile_export_aiperf.json"), p)?;
        }
        output::write_json(
            &dir.join("kube.json"),
            &kube_view(&dep, node.as_ref(), endpoint.as_ref(), &report),
        )?;
    }
    eprint!("{}", summary(&verdict, &dep, node.as_ref(), &report));
    Ok(outcome_of(verdict.status))
}

/// A failed verdict that is not a constraint's (the cluster could not host the run).
fn failed(message: String) -> Verdict {
    Verdict {
        status: GateStatus::Failed,
        message: Some(message),
        measured: Measured::default(),
        constraints: Vec::new(),
        stdout: Vec::new(),
        notes: Vec::new(),
    }
}

fn outcome_of(s: GateStatus) -> Outcome {
    match s {
        GateStatus::Passed => Outcome::Ok,
        GateStatus::Failed => Outcome::Failed,
        GateStatus::Skipped => Outcome::Skipped,
        GateStatus::CouldNotMeasure => Outcome::CouldNotMeasure,
        GateStatus::Invalid => Outcome::Invalid,
        GateStatus::Inconclusive => Outcome::Inconclusive,
    }
}

/// The chosen node and its GPU counts (see docs/kubernetes.md for each number).
pub fn node_line(n: &NodeChoice) -> String {
    format!(
        "node {}{}: {} GPUs allocatable, {} in use, {} free",
        n.name,
        n.instance_type
            .as_deref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default(),
        n.allocatable_gpus,
        n.used_gpus,
        n.free_gpus
    )
}

fn dra_line(n: &NodeChoice) -> String {
    let list: Vec<String> = n
        .dra_nodes
        .iter()
        .map(|(name, c)| format!("{name} ({c})"))
        .collect();
    format!(
        "DRA: node(s) publishing gpu.nvidia.com devices: {}; their allocated claims count as GPUs in use, the workload still uses nvidia.com/gpu",
        list.join(", ")
    )
}

/// Upstream prints the failed pod's log on stdout before the error.
fn print_job_log(f: &LoadJobFailure) {
    println!(
        "load pod logs ({} container of {}/{}):",
        f.container,
        f.namespace,
        if f.pod.is_empty() { "<none>" } else { &f.pod }
    );
    println!("{}", f.log_tail.trim_end());
}

fn step_text(o: &StepOutcome) -> String {
    match o {
        StepOutcome::Deleted => "deleted".into(),
        StepOutcome::AlreadyGone => "already gone".into(),
        StepOutcome::StillTerminating => "deletion accepted, still terminating".into(),
        StepOutcome::Failed(m) => format!("NOT deleted: {m}"),
        StepOutcome::Kept => "kept".into(),
    }
}

fn print_cleanup(report: &CleanupReport, dep: &Deployment) {
    if report.steps.is_empty() {
        eprintln!("cleanup: nothing was created (run ID {})", dep.run_id);
        return;
    }
    for s in &report.steps {
        eprintln!("cleanup: {} {}", s.object, step_text(&s.outcome));
    }
    if let Some(cmd) = &report.removal_command {
        eprintln!("no-cleanup: everything above was kept for inspection; remove it with:\n  {cmd}");
    }
}

fn write_results(
    outputs: &GateOutputs,
    plan: &RunPlan,
    verdict: &Verdict,
    timing: RunTiming,
    preceding: &[String],
) -> anyhow::Result<()> {
    if let Some(path) = &outputs.ctrf {
        let report =
            infergate_gate::ctrf::report(verdict, timing, env!("CARGO_PKG_VERSION"), preceding);
        output::write_atomic(path, report.to_json().as_bytes())?;
    }
    if let Some(path) = &outputs.junit {
        output::write_atomic(
            path,
            infergate_gate::junit::render(verdict, timing, preceding).as_bytes(),
        )?;
    }
    if let Some(dir) = &outputs.output_dir {
        output::ensure_dir(dir)?;
        output::write_json(
            &dir.join("verdict.json"),
            &gate_run::verdict_view(plan, verdict),
        )?;
    }
    Ok(())
}

/// `kube.json`: where the run went and what was left behind.
fn kube_view(
    dep: &Deployment,
    node: Option<&NodeChoice>,
    endpoint: Option<&Endpoint>,
    report: &CleanupReport,
) -> Value {
    json!({
        "run_id": dep.run_id,
        "namespace": dep.namespace,
        "dynamographdeployment": dep.dgd_name,
        "job": format!("{}/{}", dep.job_namespace, dep.job_name),
        "node": node.map(|n| json!({
            "name": n.name,
            "instance_type": n.instance_type,
            "allocatable_gpus": n.allocatable_gpus,
            "used_gpus": n.used_gpus,
            "free_gpus": n.free_gpus,
            "dra_devices_per_node": n.dra_nodes,
        })),
        "workers": dep.workers,
        "endpoint": endpoint.map(|e| e.url.clone()),
        "cleanup": report.steps.iter().map(|s| json!({
            "object": s.object,
            "outcome": step_text(&s.outcome),
        })).collect::<Vec<_>>(),
        "removal_command": report.removal_command,
    })
}

fn summary(
    v: &Verdict,
    dep: &Deployment,
    node: Option<&NodeChoice>,
    report: &CleanupReport,
) -> String {
    use std::fmt::Write;
    let mut out = crate::gate_run::verdict_lines(v);
    let _ = writeln!(
        out,
        "  run ID {}{}",
        dep.run_id,
        node.map(|n| format!(", {}", node_line(n)))
            .unwrap_or_default()
    );
    let kept = report
        .steps
        .iter()
        .filter(|s| s.outcome == StepOutcome::Kept)
        .count();
    let problems = report
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                StepOutcome::Failed(_) | StepOutcome::StillTerminating
            )
        })
        .count();
    let _ = writeln!(
        out,
        "  cleanup: {} object(s) removed, {kept} kept, {problems} not confirmed gone",
        report.steps.len() - kept - problems
    );
    out
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_argv_round_trips_through_the_parser() {
        let recipe = Recipe::load("h100-eks").expect("builtin recipe");
        let flags = GateFlags {
            gpus: Some(6),
            gpus_per_node: Some(8),
            ..GateFlags::default()
        };
        let GatePlan::Run(plan) = GatePlan::build(&recipe, &flags, &|_: &str| None).unwrap() else {
            panic!("h100-eks runs");
        };
        let args = gate_run::bench_args(
            &plan,
            PLACEHOLDER_URL,
            &[],
            "OPENAI_API_KEY",
            "600s",
            None,
            false,
        );
        let back = parse_bench(&bench_argv(&args)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{args:?}"));
        assert_eq!(back.concurrency, Some(256 * 6));
        let probe = parse_probe(&probe_argv(&plan, PLACEHOLDER_URL)).unwrap();
        let (_, cfg) = probe::plan(&probe).unwrap();
        assert_eq!(cfg.window, plan.probe.window);
        assert_eq!(cfg.attempt_timeout, plan.probe.attempt_timeout);
        assert_eq!(cfg.interval, plan.probe.interval);
    }
}
