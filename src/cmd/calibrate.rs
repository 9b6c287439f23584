//! `infergate calibrate --recipe R --trials N (--url URL | --sim PROFILE)`: on a deployment known
//! to be healthy, measure N trials at the recipe's operating point and propose a throughput floor
//! and a TTFT p99 ceiling with stated margins (`infergate_evidence::propose`), written as a recipe
//! overlay (`spec.base: R`, the two constraints overridden).
//!
//! The operating point is the gate's own (`GatePlan::build`: recipe, flags, `AICR_INFERENCE_PERF_*`
//! environment), so the thresholds are measured exactly where `validate` will judge them. Every
//! input is checked before the first trial (exit 2). Against `--sim` the trials run in virtual
//! time with seeds `seed … seed+N−1`; against `--url` each trial is one benchmark run after one
//! readiness probe. On a partly used node the measured throughput is scaled up to the full-node
//! value a recipe's floor is written in (the gate scales it back down by used / node GPUs).

use crate::bench_run;
use crate::cmd::bench;
use crate::{output, BadInput, Outcome};
use anyhow::Context;
use infergate_evidence::{
    propose, render_overlay, CalibrationOptions, HealthyTrial, OverlayMeta, Proposal,
};
use infergate_gate::constraint::{
    scaled_throughput_threshold, throughput_pass_floor, ttft_pass_ceiling,
};
use infergate_gate::recipe::RecipeOrigin;
use infergate_gate::{GateFlags, GatePlan, Recipe, RunPlan};
use infergate_loadgen::{CancelToken, ProbeConfig};
use infergate_model::LoadMode;
use infergate_sim::virtual_time::{self, VirtualLoad};
use infergate_sim::SimConfig;
use infergate_stats::{Summary, SummaryOptions};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `infergate calibrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The recipe to calibrate: a built-in name (h100-eks) or a path to a RecipeMetadata YAML.
    #[arg(long)]
    pub recipe: String,
    /// Healthy trials to measure (at least 3).
    #[arg(long, default_value_t = 10)]
    pub trials: u32,
    /// Base URL of the healthy endpoint.
    #[arg(long, short = 'u', required_unless_present = "sim")]
    pub url: Option<String>,
    /// Calibrate on the simulator in virtual time instead: a platform profile (h100x8,
    /// rtx-pro-6000x8, gb200x4).
    #[arg(long, value_name = "PROFILE", conflicts_with = "url")]
    pub sim: Option<String>,
    /// --sim: run only N workers (GPUs) of the node (the operating point and the floor's
    /// scaling follow).
    #[arg(long, value_name = "N")]
    pub gpus_free: Option<u32>,
    /// --sim: routing: round-robin (default), random, least-loaded or kv.
    #[arg(long)]
    pub router: Option<String>,
    /// --sim: seed of the first trial; trial i uses seed + i. Default 0.
    #[arg(long)]
    pub seed: Option<u64>,
    /// --url: GPUs the deployment uses (concurrency = per-GPU × this). Default: the recipe's
    /// node size.
    #[arg(long, conflicts_with = "sim")]
    pub gpus: Option<u32>,
    /// --url: GPUs on a full node (the floor is proposed as a full-node value).
    #[arg(long, conflicts_with = "sim")]
    pub gpus_per_node: Option<u32>,
    /// Model (overrides the recipe's inference-model and AICR_INFERENCE_PERF_MODEL).
    #[arg(long)]
    pub model: Option<String>,
    /// In-flight requests per GPU (overrides the recipe).
    #[arg(long)]
    pub concurrency_per_gpu: Option<String>,
    /// Warmup requests per unit of concurrency.
    #[arg(long)]
    pub warmup_per_concurrency: Option<String>,
    /// Floor of the request count.
    #[arg(long)]
    pub min_requests: Option<String>,
    /// Requests per unit of concurrency.
    #[arg(long)]
    pub requests_per_concurrency: Option<String>,
    /// Prompt length in tokens.
    #[arg(long)]
    pub input_tokens_mean: Option<String>,
    /// Output length in tokens.
    #[arg(long)]
    pub output_tokens_mean: Option<String>,
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
    /// --url: per-request timeout.
    #[arg(long, default_value = "600s", conflicts_with = "sim")]
    pub request_timeout: String,
    /// One-sided confidence of the prediction bounds (0.5–1).
    #[arg(long, default_value_t = CalibrationOptions::default().prediction)]
    pub prediction: f64,
    /// The floor sits this fraction below the lower prediction bound (0 to below 1).
    #[arg(long, default_value_t = CalibrationOptions::default().floor_margin)]
    pub floor_margin: f64,
    /// The ceiling is this multiple of the upper prediction bound (≥ 1).
    #[arg(long, default_value_t = CalibrationOptions::default().ceiling_factor)]
    pub ceiling_factor: f64,
    /// `metadata.name` of the overlay. Default: `<recipe>-calibrated`.
    #[arg(long)]
    pub name: Option<String>,
    /// Write the overlay here. Default: `<name>.yaml` in the current directory.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Also write calibration.json (every trial and the proposal) here; with --url, each
    /// trial's benchmark exports go to trial-<i>/ below it.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// No live progress line during --url trials.
    #[arg(long)]
    pub no_progress: bool,
}

/// One measured trial.
#[derive(Debug, Clone, Serialize)]
pub struct TrialResult {
    /// 1-based.
    pub trial: u32,
    /// --sim: the deployment's seed.
    pub seed: Option<u64>,
    /// Measured output-token throughput, tokens/sec.
    pub throughput_tok_s: f64,
    /// The same, as a full-node value (× node GPUs / used GPUs), tokens/sec.
    pub full_node_throughput_tok_s: f64,
    /// TTFT p99, ms.
    pub ttft_p99_ms: f64,
    /// Whether this trial passes the proposed thresholds under the gate's rule.
    pub passes_proposal: bool,
}

/// `calibration.json`.
#[derive(Debug, Clone, Serialize)]
struct CalibrationFile<'a> {
    recipe: &'a str,
    measured_on: &'a str,
    gpus: u32,
    gpus_per_node: u32,
    concurrency: u32,
    trials: &'a [TrialResult],
    proposal: &'a Proposal,
    overlay: String,
}

enum Source {
    Sim(Box<SimConfig>, VirtualLoad),
    Url(Box<UrlTrials>),
}

struct UrlTrials {
    url: String,
    probe: ProbeConfig,
}

/// Run `infergate calibrate`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    if args.trials < 3 {
        return Err(BadInput::from_err(format!(
            "invalid --trials {}: a spread needs at least 3 healthy trials (10 or more is better)",
            args.trials
        )));
    }
    let opts = CalibrationOptions {
        prediction: args.prediction,
        floor_margin: args.floor_margin,
        ceiling_factor: args.ceiling_factor,
        ..CalibrationOptions::default()
    };
    // The rule checks its own options; ask it now, on stand-in trials, so that a bad margin
    // exits 2 before anything runs and the ranges live in one place.
    let stand_in = [1.0, 2.0, 3.0].map(|x| HealthyTrial {
        throughput: 1000.0 * x,
        ttft_p99_ms: 100.0 * x,
    });
    propose(&stand_in, &opts).map_err(BadInput::from_err)?;

    if args.sim.is_none() {
        crate::cmd::sweep::sim_only(&[
            ("--gpus-free", args.gpus_free.is_some()),
            ("--router", args.router.is_some()),
            ("--seed", args.seed.is_some()),
        ])?;
    }
    let recipe = Recipe::load(&args.recipe).map_err(BadInput::from_err)?;
    for w in &recipe.warnings {
        eprintln!("warning: {w}");
    }
    let sim_cfg = match &args.sim {
        Some(profile) => {
            let cfg =
                crate::cmd::sweep::sim_deployment(profile, args.gpus_free, args.router.as_deref())?;
            cfg.validate().map_err(BadInput::from_err)?;
            Some(cfg)
        }
        None => None,
    };
    let flags = GateFlags {
        model: args.model.clone(),
        concurrency_per_gpu: args.concurrency_per_gpu.clone(),
        warmup_per_concurrency: args.warmup_per_concurrency.clone(),
        min_requests: args.min_requests.clone(),
        requests_per_concurrency: args.requests_per_concurrency.clone(),
        input_tokens_mean: args.input_tokens_mean.clone(),
        output_tokens_mean: args.output_tokens_mean.clone(),
        gpus: sim_cfg.as_ref().map(|c| c.workers).or(args.gpus),
        gpus_per_node: sim_cfg
            .as_ref()
            .map(|c| c.profile.gpus)
            .or(args.gpus_per_node),
        ..GateFlags::default()
    };
    let plan: RunPlan = match GatePlan::build(&recipe, &flags, &infergate_gate::knobs::process_env)
        .map_err(BadInput::from_err)?
    {
        GatePlan::Skip { reason } => {
            return Err(BadInput::from_err(format!(
                "cannot calibrate recipe {}: its gate would not run ({reason})",
                args.recipe
            )))
        }
        GatePlan::Run(plan) => *plan,
    };
    let p = &plan.point;
    let source = match sim_cfg {
        Some(mut cfg) => {
            cfg.model = plan.model.clone();
            let load = VirtualLoad {
                mode: LoadMode::Closed {
                    concurrency: p.concurrency,
                },
                request_count: p.request_count,
                warmup: p.warmup_count,
                input_tokens: p.input_tokens_mean,
                output_tokens: p.output_tokens_mean,
                dataset_entries: p.num_dataset_entries,
                distinct_prefixes: p.num_dataset_entries,
                streaming: p.streaming,
                ..VirtualLoad::aicr(p.concurrency)
            };
            load.validate().map_err(BadInput::from_err)?;
            Source::Sim(Box::new(cfg), load)
        }
        None => {
            let url = args.url.clone().ok_or_else(|| {
                BadInput::from_err(
                    "calibrate needs --url URL (a healthy endpoint) or --sim PROFILE",
                )
            })?;
            // Build (and so validate) one trial's benchmark now; each trial builds its own.
            url_bench_plan(&args, &plan, &url, 1)?;
            let mut probe = ProbeConfig::new(plan.model.clone());
            probe.attempt_timeout = plan.probe.attempt_timeout;
            probe.interval = plan.probe.interval;
            probe.window = plan.probe.window;
            probe.body_limit = plan.probe.body_limit;
            probe.validate().map_err(BadInput::from_err)?;
            Source::Url(Box::new(UrlTrials { url, probe }))
        }
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-calibrated", recipe.name));
    if name.trim().is_empty() || name.contains(['\n', '\r']) {
        return Err(BadInput::from_err(format!(
            "invalid --name {name:?}: expected a one-line recipe name such as h100-eks-calibrated"
        )));
    }
    let overlay_path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.yaml")));
    if let Some(dir) = &args.output_dir {
        output::ensure_dir(dir)?;
    }

    eprintln!(
        "calibrate: recipe {}, model {}, {} of {} GPU(s), concurrency {} ({}/GPU), {} requests + {} warmup, {} trials",
        recipe.name,
        plan.model,
        p.gpus,
        p.gpus_per_node,
        p.concurrency,
        p.concurrency_per_gpu,
        p.request_count,
        p.warmup_count,
        args.trials
    );
    let (measured_on, raw) = match &source {
        Source::Sim(cfg, load) => {
            let first = args.seed.unwrap_or(0);
            let raw = sim_trials(cfg, load, first, args.trials)?;
            let on = format!(
                "sim {} ({} of {} GPUs, router {}), virtual time, seeds {}-{}; concurrency {}, {} requests + {} warmup, {} in / {} out",
                cfg.profile.name,
                cfg.workers,
                cfg.profile.gpus,
                cfg.router.name(),
                first,
                first + u64::from(args.trials) - 1,
                p.concurrency,
                p.request_count,
                p.warmup_count,
                p.input_tokens_mean,
                p.output_tokens_mean
            );
            (on, raw)
        }
        Source::Url(u) => match url_trials(&args, &plan, u)? {
            Ok(raw) => {
                let on = format!(
                    "{} ({} of {} GPUs); concurrency {}, {} requests + {} warmup, {} in / {} out",
                    u.url,
                    p.gpus,
                    p.gpus_per_node,
                    p.concurrency,
                    p.request_count,
                    p.warmup_count,
                    p.input_tokens_mean,
                    p.output_tokens_mean
                );
                (on, raw)
            }
            Err(outcome) => return Ok(outcome),
        },
    };
    if let Some((i, _)) = raw
        .iter()
        .enumerate()
        .find(|(_, t)| t.1.is_none() || t.0 <= 0.0)
    {
        eprintln!(
            "trial {} measured nothing (no successful request): a healthy deployment cannot be calibrated from it",
            i + 1
        );
        return Ok(Outcome::CouldNotMeasure);
    }

    // The recipe's floor is a full-node value; the gate scales it by used / node GPUs.
    let scale = if p.gpus < p.gpus_per_node {
        f64::from(p.gpus_per_node) / f64::from(p.gpus)
    } else {
        1.0
    };
    let healthy: Vec<HealthyTrial> = raw
        .iter()
        .map(|(t, ttft, _)| HealthyTrial {
            throughput: t * scale,
            ttft_p99_ms: ttft.unwrap_or(0.0),
        })
        .collect();
    let proposal = propose(&healthy, &opts).context("the trials cannot be summarised")?;
    let floor_applied = throughput_pass_floor(scaled_throughput_threshold(
        proposal.floor_tok_s,
        p.gpus,
        p.gpus_per_node,
    ));
    let ceiling_applied = ttft_pass_ceiling(proposal.ceiling_ms);
    let trials: Vec<TrialResult> = raw
        .iter()
        .zip(&healthy)
        .enumerate()
        .map(|(i, ((t, ttft, seed), h))| TrialResult {
            trial: i as u32 + 1,
            seed: *seed,
            throughput_tok_s: *t,
            full_node_throughput_tok_s: h.throughput,
            ttft_p99_ms: ttft.unwrap_or(0.0),
            passes_proposal: *t >= floor_applied && ttft.unwrap_or(0.0) <= ceiling_applied,
        })
        .collect();
    let overlay = render_overlay(
        &proposal,
        &OverlayMeta {
            name: name.clone(),
            base: recipe.name.clone(),
            measured_on: measured_on.clone(),
        },
    );

    let mut text =
        String::from("trial\tseed\tthroughput_tok_s\tfull_node_tok_s\tttft_p99_ms\tpasses\n");
    for t in &trials {
        text.push_str(&format!(
            "{}\t{}\t{:.0}\t{:.0}\t{:.1}\t{}\n",
            t.trial,
            t.seed.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            t.throughput_tok_s,
            t.full_node_throughput_tok_s,
            t.ttft_p99_ms,
            if t.passes_proposal { "yes" } else { "NO" }
        ));
    }
    if scale != 1.0 {
        text.push_str(&format!(
            "measured on {} of {} GPUs: throughput scaled ×{scale:.3} to the full-node value the floor is written in; the gate scales the floor back by {}/{}\n",
            p.gpus, p.gpus_per_node, p.gpus, p.gpus_per_node
        ));
    }
    for l in &proposal.lines {
        text.push_str(l);
        text.push('\n');
    }
    text.push_str(&format!(
        "on this deployment ({} of {} GPUs) a run passes with throughput >= {floor_applied:.0} tokens/sec and TTFT p99 <= {ceiling_applied:.0} ms; {} of {} healthy trials pass\n",
        p.gpus,
        p.gpus_per_node,
        trials.iter().filter(|t| t.passes_proposal).count(),
        trials.len()
    ));
    let current = |t: &Option<infergate_gate::constraint::Threshold>| {
        t.as_ref()
            .map(|t| t.raw.clone())
            .unwrap_or_else(|| "none".into())
    };
    text.push_str(&format!(
        "recipe {} today: inference-throughput {}, inference-ttft-p99 {}\n",
        recipe.name,
        current(&plan.throughput),
        current(&plan.ttft_p99)
    ));
    print!("{text}");
    println!("---");
    print!("{overlay}");
    output::write_atomic(&overlay_path, overlay.as_bytes())?;
    eprintln!("overlay written to {}", overlay_path.display());
    if matches!(recipe.origin, RecipeOrigin::File(_)) {
        eprintln!(
            "note: the overlay's spec.base is {:?}; keep it next to {}.yaml (or edit spec.base) so the base resolves",
            recipe.name, recipe.name
        );
    }
    if let Some(dir) = &args.output_dir {
        let file = CalibrationFile {
            recipe: &recipe.name,
            measured_on: &measured_on,
            gpus: p.gpus,
            gpus_per_node: p.gpus_per_node,
            concurrency: p.concurrency,
            trials: &trials,
            proposal: &proposal,
            overlay: overlay.clone(),
        };
        output::write_json(&dir.join("calibration.json"), &file)?;
    }
    Ok(Outcome::Ok)
}

/// (throughput tokens/sec, TTFT p99 ms, seed) of each trial.
type RawTrial = (f64, Option<f64>, Option<u64>);

fn sim_trials(
    cfg: &SimConfig,
    load: &VirtualLoad,
    first_seed: u64,
    n: u32,
) -> anyhow::Result<Vec<RawTrial>> {
    let opts = SummaryOptions {
        confidence: None,
        ..SummaryOptions::default()
    };
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let t0 = Instant::now();
        let mut cfg = cfg.clone();
        cfg.seed = first_seed.wrapping_add(u64::from(i));
        let run = virtual_time::run(&cfg, load)
            .with_context(|| format!("simulated trial {} failed", i + 1))?;
        let s = Summary::from_records(&run.records, &opts);
        let t = trial_numbers(&s);
        trial_line(i + 1, n, t, t0.elapsed().as_secs_f64());
        out.push((t.0, t.1, Some(cfg.seed)));
    }
    Ok(out)
}

fn trial_numbers(s: &Summary) -> (f64, Option<f64>) {
    (
        if s.request_count == 0 {
            0.0
        } else {
            s.output_token_throughput.unwrap_or(0.0)
        },
        s.time_to_first_token.as_ref().map(|d| d.p99),
    )
}

fn trial_line(i: u32, n: u32, (t, ttft): (f64, Option<f64>), secs: f64) {
    eprintln!(
        "[{i}/{n}] {t:.0} tokens/sec, TTFT p99 {} ms ({secs:.1} s)",
        ttft.map(|v| format!("{v:.0}"))
            .unwrap_or_else(|| "n/a".into())
    );
}

fn url_bench_plan(
    args: &Args,
    plan: &RunPlan,
    url: &str,
    trial: u32,
) -> anyhow::Result<bench_run::BenchPlan> {
    let dir = args
        .output_dir
        .as_ref()
        .map(|d| d.join(format!("trial-{trial}")));
    let bench_args = crate::gate_run::bench_args(
        plan,
        url,
        &args.headers,
        &args.api_key_env,
        &args.request_timeout,
        dir,
        !args.no_progress,
    );
    let mut b = bench::plan(&bench_args, "calibrate")?;
    b.run_info
        .options
        .insert("recipe".into(), args.recipe.clone().into());
    b.run_info
        .options
        .insert("gpus".into(), plan.point.gpus.into());
    b.run_info
        .options
        .insert("gpus_per_node".into(), plan.point.gpus_per_node.into());
    Ok(b)
}

/// Probe once, then run the trials. `Err(outcome)`: the endpoint never became ready.
fn url_trials(
    args: &Args,
    plan: &RunPlan,
    u: &UrlTrials,
) -> anyhow::Result<Result<Vec<RawTrial>, Outcome>> {
    let first = url_bench_plan(args, plan, &u.url, 1)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        eprintln!(
            "waiting for a real completion (per attempt {:?}, window {:?})",
            u.probe.attempt_timeout, u.probe.window
        );
        infergate_loadgen::probe(&first.target, &u.probe, &CancelToken::new()).await
    });
    let report = report.context("the readiness probe could not start")?;
    eprintln!("{}", crate::probe_run::describe(&report).trim_end());
    if !report.ready {
        return Ok(Err(Outcome::CouldNotMeasure));
    }
    let mut out = Vec::with_capacity(args.trials as usize);
    let mut next = Some(first);
    for i in 1..=args.trials {
        let b = match next.take() {
            Some(b) => b,
            None => url_bench_plan(args, plan, &u.url, i)?,
        };
        let t0 = Instant::now();
        let result = runtime.block_on(bench_run::execute_async(b))?;
        if let Some(dir) = args
            .output_dir
            .as_ref()
            .map(|d| d.join(format!("trial-{i}")))
        {
            crate::cmd::report::write_report(&dir)?;
        }
        let t = trial_numbers(&result.summary);
        trial_line(i, args.trials, t, t0.elapsed().as_secs_f64());
        out.push((t.0, t.1, None));
        if result.run.cancelled {
            eprintln!("interrupted: calibration stopped after trial {i}");
            return Ok(Err(Outcome::CouldNotMeasure));
        }
    }
    Ok(Ok(out))
}
