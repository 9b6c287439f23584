//! The gate against an endpoint, shared by `validate` and `demo`: probe → benchmark at the
//! recipe's operating point → verdict → stdout lines, CTRF, JUnit, output directory.
//!
//! Everything it is given has been validated; from here on a failure is the deployment's (or the
//! run's), never the user's input.

use crate::bench_run::{self, BenchResult};
use crate::cmd::bench;
use crate::{output, Outcome};
use anyhow::Context;
use infergate_evidence::rule::{judge, Bound, Constraints, Direction, Next};
use infergate_evidence::{
    analyse, judge_trials, parse_prometheus_text, samples_from_scrape, self_check,
    ClientObservations, ClientThresholds, ClientVerdict, CpuUsage, LoopbackCalibration,
    MetricsSample, RunEvidence, SelfCheck, StallFinding, StallOptions, UntilDecided,
};
use infergate_gate::ctrf::RunTiming;
use infergate_gate::verdict::ConstraintStatus;
use infergate_gate::verdict::{evaluate_with_evidence, Evidence, StalledTrial};
use infergate_gate::{GateStatus, Measured, RunPlan, Verdict};
use infergate_loadgen::{CancelToken, ProbeConfig, ProbeReport, Target};
use infergate_report::{ConstraintView, VerdictView};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

#[path = "loopback.rs"]
mod loopback;

/// Where the gate's results go and how the endpoint is reached.
#[derive(Debug, Clone)]
pub struct GateOutputs {
    /// `--ctrf PATH`.
    pub ctrf: Option<PathBuf>,
    /// `--junit PATH`.
    pub junit: Option<PathBuf>,
    /// `--output-dir DIR`: bench exports, verdict.json, probe.json, report.html.
    pub output_dir: Option<PathBuf>,
}

/// How many benchmark runs the gate combines (issue 6 §1; rules in docs/verdicts.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trials {
    /// `--trials N` (1 = the single run upstream does).
    Fixed(u32),
    /// `--until-decided [--max-runs M]`.
    UntilDecided(UntilDecided),
}

impl Trials {
    /// Most runs this policy may take.
    pub fn max_runs(&self) -> u32 {
        match self {
            Trials::Fixed(n) => *n,
            Trials::UntilDecided(rule) => rule.max_runs,
        }
    }

    /// Whether each run's exports go to `trial-K/` (more than one run is possible).
    fn per_trial_dirs(&self) -> bool {
        matches!(self, Trials::UntilDecided(_)) || self.max_runs() > 1
    }
}

/// The benchmark at the plan's operating point, as validated flags: a [`bench_run::BenchPlan`]
/// is consumed by its run, so each trial builds a fresh one (deterministic: the same request
/// stream every time).
#[derive(Debug, Clone)]
pub struct BenchSpec {
    /// The benchmark's flags (validated by `prepare` through [`BenchSpec::build`]).
    pub args: bench::Args,
    /// The subcommand, for messages.
    pub command: &'static str,
    /// Extra `run.json` options (recipe, GPUs).
    pub options: Vec<(String, serde_json::Value)>,
}

impl BenchSpec {
    /// A fresh plan writing its exports to `output_dir`.
    pub fn build(&self, output_dir: Option<PathBuf>) -> anyhow::Result<bench_run::BenchPlan> {
        let mut args = self.args.clone();
        args.output_dir = output_dir;
        let mut plan = bench::plan(&args, self.command)?;
        for (k, v) in &self.options {
            plan.run_info.options.insert(k.clone(), v.clone());
        }
        Ok(plan)
    }
}

impl GateOutputs {
    /// Creates the output folder and the folders of the CTRF and JUnit files (`--output-dir out/
    /// --ctrf out/ctrf.json` asks for `out/` to exist).
    pub fn ensure_dirs(&self) -> anyhow::Result<()> {
        if let Some(dir) = &self.output_dir {
            output::ensure_dir(dir)?;
        }
        for file in [&self.ctrf, &self.junit].into_iter().flatten() {
            if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                output::ensure_dir(parent)?;
            }
        }
        Ok(())
    }
}

/// A validated endpoint gate.
pub struct EndpointGate {
    /// The plan built from the recipe, flags and env.
    pub plan: RunPlan,
    /// The benchmark at the plan's operating point (validated).
    pub bench: BenchSpec,
    /// The first run's plan, built (and so validated) by `prepare` with its output folder
    /// ([`trial_dir`]); `None` builds it from `bench`.
    pub first_plan: Option<bench_run::BenchPlan>,
    /// How many runs, and when to stop.
    pub trials: Trials,
    /// Calibrate the client's timing error against a loopback server first.
    pub calibrate_client: bool,
    /// The probe's target and configuration.
    pub probe: (Target, ProbeConfig),
    /// Result files.
    pub outputs: GateOutputs,
    /// The subcommand (`validate` or `demo`), for messages.
    pub command: &'static str,
}

/// What the gate decided, with everything it measured.
pub struct GateResult {
    /// The verdict (status, constraints, upstream's stdout lines).
    pub verdict: Verdict,
    /// The probe's report.
    pub probe: ProbeReport,
    /// The benchmark, when it ran (with several trials: the one the report shows).
    pub bench: Option<BenchResult>,
    /// The load generator's self-check of that run.
    pub self_check: Option<SelfCheck>,
}

impl GateResult {
    /// The process outcome of this verdict.
    pub fn outcome(&self) -> Outcome {
        match self.verdict.status {
            GateStatus::Passed => Outcome::Ok,
            GateStatus::Failed => Outcome::Failed,
            GateStatus::Skipped => Outcome::Skipped,
            GateStatus::CouldNotMeasure => Outcome::CouldNotMeasure,
            GateStatus::Invalid => Outcome::Invalid,
            GateStatus::Inconclusive => Outcome::Inconclusive,
        }
    }
}

/// The benchmark arguments of a plan's operating point (AICR's AIPerf invocation, in infergate's
/// flags). Validated by [`bench::plan`] like any user-given flags.
pub fn bench_args(
    plan: &RunPlan,
    url: &str,
    headers: &[String],
    api_key_env: &str,
    request_timeout: &str,
    output_dir: Option<PathBuf>,
    progress: bool,
) -> bench::Args {
    let p = &plan.point;
    bench::Args {
        url: url.to_string(),
        model: plan.model.clone(),
        endpoint_type: "chat".into(),
        streaming: p.streaming,
        no_streaming: !p.streaming,
        headers: headers.to_vec(),
        api_key_env: api_key_env.to_string(),
        random_seed: p.random_seed,
        input_tokens_mean: p.input_tokens_mean,
        input_tokens_stddev: f64::from(p.input_tokens_stddev),
        output_tokens_mean: Some(p.output_tokens_mean),
        output_tokens_stddev: f64::from(p.output_tokens_stddev),
        max_completion_tokens: false,
        use_legacy_max_tokens: false,
        num_dataset_entries: p.num_dataset_entries,
        extra_inputs: vec![format!("temperature:{}", p.temperature)],
        ignore_eos: false,
        tokenizer: "builtin".into(),
        concurrency: Some(p.concurrency),
        request_rate: None,
        arrival_pattern: "poisson".into(),
        request_count: Some(p.request_count),
        duration: None,
        drain_grace: "30s".into(),
        warmup_request_count: p.warmup_count,
        no_warmup_drain: false,
        request_timeout: request_timeout.to_string(),
        goodput: Vec::new(),
        confidence_level: 0.95,
        output_dir,
        result_sentinel: None,
        export_level: None,
        no_progress: !progress,
        scrape_metrics: true,
    }
}

/// One benchmark run of the gate, with what was derived from it.
struct TrialRun {
    result: BenchResult,
    check: SelfCheck,
    run: RunEvidence,
    stall: StallFinding,
    dir: Option<PathBuf>,
}

/// Run the gate: probe, then the benchmark (once, N times, or until decided), then the
/// verdict; write every result file.
pub async fn execute(gate: EndpointGate) -> anyhow::Result<GateResult> {
    let started = unix_ms();
    let EndpointGate {
        plan,
        bench,
        first_plan,
        trials: policy,
        calibrate_client,
        probe: (probe_target, probe_config),
        outputs,
        command,
    } = gate;
    eprintln!(
        "infergate {command}: recipe {}, model {}, {} GPU(s) of {} per node, concurrency {}, {} requests + {} warmup{}",
        plan.recipe,
        plan.model,
        plan.point.gpus,
        plan.point.gpus_per_node,
        plan.point.concurrency,
        plan.point.request_count,
        plan.point.warmup_count,
        match policy {
            Trials::Fixed(1) => String::new(),
            Trials::Fixed(n) => format!(", {n} trials"),
            Trials::UntilDecided(r) => format!(", until decided (at most {} runs)", r.max_runs),
        }
    );
    eprintln!(
        "waiting for a real completion (per attempt {:?}, window {:?})",
        probe_config.attempt_timeout, probe_config.window
    );
    let cancel = CancelToken::new();
    let on_signal = cancel.clone();
    let signal = tokio::spawn(async move {
        bench_run::wait_for_stop_signal().await;
        on_signal.cancel();
    });
    let probe = infergate_loadgen::probe(&probe_target, &probe_config, &cancel)
        .await
        .context("the readiness probe could not start")?;
    signal.abort();
    let probe_line = crate::probe_run::describe(&probe).trim_end().to_string();
    eprintln!("{probe_line}");

    let mut calibration = None;
    let mut runs: Vec<TrialRun> = Vec::new();
    let (verdict, stalled) = if !probe.ready {
        (Verdict::could_not_measure(probe_line.clone()), None)
    } else {
        if calibrate_client {
            calibration = calibrate(&bench, plan.point.concurrency).await;
        }
        let level = match policy {
            Trials::Fixed(_) => CONFIDENCE,
            Trials::UntilDecided(rule) => rule.per_look_level(CONFIDENCE),
        };
        run_trials(
            &plan,
            &bench,
            first_plan,
            policy,
            level,
            calibration.as_ref(),
            &outputs,
            &mut runs,
        )
        .await?;
        combine(&plan, &runs, calibration.as_ref())
    };

    for line in verdict.display_lines() {
        println!("{line}");
    }
    let timing = RunTiming {
        start_unix_ms: started,
        stop_unix_ms: unix_ms(),
    };
    let preceding = vec![probe_line];
    outputs.ensure_dirs()?;
    if let Some(path) = &outputs.ctrf {
        let report =
            infergate_gate::ctrf::report(&verdict, timing, env!("CARGO_PKG_VERSION"), &preceding);
        output::write_atomic(path, report.to_json().as_bytes())?;
    }
    if let Some(path) = &outputs.junit {
        output::write_atomic(
            path,
            infergate_gate::junit::render(&verdict, timing, &preceding).as_bytes(),
        )?;
    }
    let shown = stalled.or_else(|| report_trial(&runs));
    if let Some(dir) = &outputs.output_dir {
        write_results(dir, &plan, &verdict, &probe, &runs, shown, policy)?;
    }
    let shown_result = shown.map(|i| &runs[i].result);
    let pooled = (runs.len() > 1).then(|| {
        (
            runs.len(),
            runs.iter().map(|t| t.run.requests).sum::<u64>(),
            runs.iter().map(|t| t.run.failed).sum::<u64>(),
            shown.map_or(0, |i| i + 1),
        )
    });
    eprint!("{}", summary(&verdict, shown_result, pooled, &outputs));
    let (bench_result, self_check) = match shown.map(|i| runs.swap_remove(i)) {
        Some(t) => (Some(t.result), Some(t.check)),
        None => (None, None),
    };
    Ok(GateResult {
        verdict,
        probe,
        bench: bench_result,
        self_check,
    })
}

/// The gate's confidence level (the per-look level under `--until-decided` is derived from it).
const CONFIDENCE: f64 = 0.95;

/// The loopback server's exact time to first token, ms.
const LOOPBACK_TTFT_MS: u64 = 100;

/// Runs the benchmark as the policy says, pushing each run to `runs`; prints one line per trial
/// and, under `--until-decided`, why it stops or runs again.
#[allow(clippy::too_many_arguments)]
async fn run_trials(
    plan: &RunPlan,
    bench: &BenchSpec,
    mut first_plan: Option<bench_run::BenchPlan>,
    policy: Trials,
    level: f64,
    calibration: Option<&LoopbackCalibration>,
    outputs: &GateOutputs,
    runs: &mut Vec<TrialRun>,
) -> anyhow::Result<()> {
    let per_trial = policy.per_trial_dirs();
    let max = policy.max_runs();
    let constraints = constraints(plan);
    for k in 1..=max {
        let dir = outputs.output_dir.as_ref().map(|d| trial_dir(d, policy, k));
        let bench_plan = match first_plan.take() {
            Some(p) if k == 1 => p,
            _ => bench.build(dir.clone())?,
        };
        if per_trial {
            eprintln!("trial {k} of {}: benchmarking", max_label(policy));
        }
        let result = bench_run::execute_async(bench_plan).await?;
        let check = client_self_check(plan, &result, calibration.cloned());
        let run = RunEvidence::from_records(&result.run.records, level);
        let stall = analyse(
            &result.run.records,
            &metrics_samples(&result),
            &StallOptions {
                ttft_ceiling_ms: ttft_ceiling_ms(plan),
                gap_ms: None,
            },
        );
        if per_trial {
            eprintln!("{}", trial_line(k, &run, &check));
        }
        let cancelled = result.run.cancelled;
        let all_failed = result.all_failed();
        let bottleneck = matches!(check.verdict, ClientVerdict::Bottleneck(_));
        runs.push(TrialRun {
            result,
            check,
            run,
            stall,
            dir,
        });
        if cancelled || all_failed || bottleneck {
            if k < max {
                eprintln!(
                    "stopped after trial {k}: {}",
                    if cancelled {
                        "the run was interrupted"
                    } else if all_failed {
                        "no request succeeded"
                    } else {
                        "the load generator was the bottleneck; more runs would not be the deployment's"
                    }
                );
            }
            break;
        }
        if let Trials::UntilDecided(rule) = policy {
            let evidence: Vec<RunEvidence> = runs.iter().map(|t| t.run.clone()).collect();
            let stalls: Vec<Option<StallFinding>> =
                runs.iter().map(|t| Some(t.stall.clone())).collect();
            let mut judged = judge_trials(&constraints, &evidence, &stalls);
            // As `combine` judges: the TTFT interval widened by the calibrated timing error (a
            // stalled trial's FAIL stands whatever the interval).
            if let (Some(cal), Some(j), None) = (
                calibration,
                judged.ttft_p99.as_mut(),
                judged.stalled_trial.as_ref(),
            ) {
                *j = judge(&j.bound, j.estimate, &cal.widen(&j.interval));
            }
            match rule.next(&judged, k) {
                Next::Stop(why) => {
                    eprintln!("until-decided: {why}");
                    break;
                }
                Next::RunAgain(why) => eprintln!("until-decided: {why}"),
            }
        }
    }
    Ok(())
}

/// Where run `k` (1-based) writes its exports: `DIR/trial-K/` when more than one run is
/// possible, else `DIR` itself.
pub fn trial_dir(dir: &std::path::Path, policy: Trials, k: u32) -> PathBuf {
    if policy.per_trial_dirs() {
        dir.join(format!("trial-{k}"))
    } else {
        dir.to_path_buf()
    }
}

fn max_label(policy: Trials) -> String {
    match policy {
        Trials::Fixed(n) => n.to_string(),
        Trials::UntilDecided(r) => format!("at most {}", r.max_runs),
    }
}

/// `trial K: throughput T tokens/sec (L% interval a–b), TTFT p99 P ms (L% interval c–d), N
/// requests, E failed, S s; client ok|bottleneck`.
fn trial_line(k: u32, run: &RunEvidence, check: &SelfCheck) -> String {
    let est = |e: Option<&infergate_evidence::Estimate>, unit: &str| match e {
        None => format!("not measured ({unit})"),
        Some(e) => {
            let side = |v: Option<f64>| v.map_or("unbounded".to_string(), |x| format!("{x:.2}"));
            format!(
                "{:.2} {unit} ({:.1} % interval {}–{})",
                e.estimate,
                e.interval.level * 100.0,
                side(e.interval.lower),
                side(e.interval.upper)
            )
        }
    };
    format!(
        "trial {k}: throughput {}, TTFT p99 {}, {} requests, {} failed, {:.1} s; client {}",
        est(run.throughput.as_ref(), "tokens/sec"),
        est(run.ttft_p99.as_ref(), "ms"),
        run.requests,
        run.failed,
        run.run_s,
        match check.verdict {
            ClientVerdict::Healthy => "ok",
            ClientVerdict::Bottleneck(_) => "bottleneck",
        }
    )
}

/// The plan's constraints as the confidence rule's bounds (the very numbers the gate compares).
fn constraints(plan: &RunPlan) -> Constraints {
    use infergate_gate::constraint::{
        scaled_throughput_threshold, throughput_pass_floor, ttft_pass_ceiling,
    };
    Constraints {
        throughput: plan.throughput.as_ref().map(|t| {
            let scaled =
                scaled_throughput_threshold(t.value, plan.point.gpus, plan.point.gpus_per_node);
            Bound::from_effective(Direction::AtLeast, scaled, throughput_pass_floor(scaled))
        }),
        ttft_p99: plan
            .ttft_p99
            .as_ref()
            .map(|t| Bound::from_effective(Direction::AtMost, t.value, ttft_pass_ceiling(t.value))),
    }
}

/// The verdict over every run (docs/verdicts.md, "Trials"): pooled evidence judged by the
/// confidence rule, a stalled trial failing TTFT p99, and INVALID when any run's client
/// self-check found a bottleneck.
fn combine(
    plan: &RunPlan,
    runs: &[TrialRun],
    calibration: Option<&LoopbackCalibration>,
) -> (Verdict, Option<usize>) {
    if runs.is_empty() {
        return (
            Verdict::could_not_measure("no benchmark run was made"),
            None,
        );
    }
    if let Some((k, t)) = runs.iter().enumerate().find(|(_, t)| t.result.all_failed()) {
        let which = if runs.len() > 1 {
            format!(" in trial {}", k + 1)
        } else {
            String::new()
        };
        return (
            Verdict::could_not_measure(format!(
                "no benchmark request succeeded{which} ({} failed): nothing to gate",
                t.result.summary.error_request_count
            )),
            None,
        );
    }
    let evidence: Vec<RunEvidence> = runs.iter().map(|t| t.run.clone()).collect();
    let stalls: Vec<Option<StallFinding>> = runs.iter().map(|t| Some(t.stall.clone())).collect();
    let judged = judge_trials(&constraints(plan), &evidence, &stalls);
    let Some(pooled) = RunEvidence::pool(&evidence) else {
        return (
            Verdict::could_not_measure("no benchmark run was made"),
            None,
        );
    };
    let measured = if runs.len() == 1 {
        measured(&runs[0].result)
    } else {
        Measured {
            throughput_tok_s: pooled.throughput.map(|e| e.estimate),
            ttft_p99_ms: pooled.ttft_p99.map(|e| e.estimate),
        }
    };
    let client = runs
        .iter()
        .enumerate()
        .find_map(|(k, t)| match &t.check.verdict {
            ClientVerdict::Bottleneck(why) if runs.len() > 1 => {
                Some(ClientVerdict::Bottleneck(format!("trial {}: {why}", k + 1)))
            }
            ClientVerdict::Bottleneck(why) => Some(ClientVerdict::Bottleneck(why.clone())),
            ClientVerdict::Healthy => None,
        })
        .unwrap_or(ClientVerdict::Healthy);
    let mut evidence = Evidence::from_run(&pooled, Some(worst(runs).stall.clone()), Some(client));
    if let (Some(cal), Some(ci)) = (calibration, evidence.ttft_p99_ci.as_mut()) {
        *ci = cal.widen(ci);
    }
    let stalled = judged.stalled_trial.as_ref().map(|(i, _)| *i);
    evidence.stalled_trial = judged.stalled_trial.map(|(i, explanation)| StalledTrial {
        trial: i + 1,
        trials: runs.len(),
        ttft_p99_ms: runs[i].run.ttft_p99.map_or(f64::NAN, |e| e.estimate),
        explanation,
    });
    (evaluate_with_evidence(plan, measured, &evidence), stalled)
}

/// The run with the highest TTFT p99 (the first on a tie): its stall analysis explains a pooled
/// TTFT p99 that did not pass.
fn worst(runs: &[TrialRun]) -> &TrialRun {
    let p99 = |t: &TrialRun| t.run.ttft_p99.map_or(f64::NEG_INFINITY, |e| e.estimate);
    let mut worst = &runs[0];
    for t in runs {
        if p99(t) > p99(worst) {
            worst = t;
        }
    }
    worst
}

/// Which run the top-level report shows (0-based) when no stalled trial failed the gate (that
/// one is shown then): the one with the highest TTFT p99. `None` when nothing ran.
fn report_trial(runs: &[TrialRun]) -> Option<usize> {
    if runs.is_empty() {
        return None;
    }
    let p99 = |t: &TrialRun| t.run.ttft_p99.map_or(f64::NEG_INFINITY, |e| e.estimate);
    let mut best = 0;
    for (i, t) in runs.iter().enumerate() {
        if p99(t) > p99(&runs[best]) {
            best = i;
        }
    }
    Some(best)
}

/// The output directory: probe.json, verdict.json (pooled), report.html; with more than one
/// possible run also trials.json and each run's exports and report in `trial-K/`.
fn write_results(
    dir: &std::path::Path,
    plan: &RunPlan,
    verdict: &Verdict,
    probe: &ProbeReport,
    runs: &[TrialRun],
    shown: Option<usize>,
    policy: Trials,
) -> anyhow::Result<()> {
    output::ensure_dir(dir)?;
    output::write_json(&dir.join("probe.json"), &crate::probe_run::view(probe))?;
    let mut view = verdict_view(plan, verdict);
    let many = runs.len() > 1;
    for (k, t) in runs.iter().enumerate() {
        for c in &t.check.checks {
            view.self_check.push(if many {
                format!("trial {}: {}", k + 1, c.detail)
            } else {
                c.detail.clone()
            });
        }
    }
    output::write_json(&dir.join("verdict.json"), &view)?;
    if !policy.per_trial_dirs() {
        if let Some(t) = runs.first() {
            write_scrapes(dir, &t.result)?;
            crate::cmd::report::write_report(dir)?;
        }
        return Ok(());
    }
    for t in runs {
        if let Some(tdir) = &t.dir {
            write_scrapes(tdir, &t.result)?;
            crate::cmd::report::write_report(tdir)?;
        }
    }
    let trials: Vec<serde_json::Value> = runs
        .iter()
        .enumerate()
        .map(|(k, t)| {
            serde_json::json!({
                "trial": k + 1,
                "dir": format!("trial-{}", k + 1),
                "requests": t.run.requests,
                "failed": t.run.failed,
                "run_s": t.run.run_s,
                "level": t.run.level,
                "throughput_tok_s": t.run.throughput.map(|e| e.estimate),
                "throughput_ci": t.run.throughput.map(|e| [e.interval.lower, e.interval.upper]),
                "ttft_p99_ms": t.run.ttft_p99.map(|e| e.estimate),
                "ttft_p99_ci": t.run.ttft_p99.map(|e| [e.interval.lower, e.interval.upper]),
                "stall_shape": t.stall.shape,
                "client_bottleneck": matches!(t.check.verdict, ClientVerdict::Bottleneck(_)),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "trials": trials,
        "report_from": shown.map(|i| format!("trial-{}", i + 1)),
        "report_rule": "the stalled trial that failed the gate, else the trial with the highest TTFT p99",
    });
    output::write_json(&dir.join("trials.json"), &doc)?;
    if let Some(t) = shown.and_then(|i| runs.get(i)) {
        if let Some(tdir) = &t.dir {
            let mut input = infergate_report::load_dir(tdir)
                .with_context(|| format!("cannot read the run files in {}", tdir.display()))?;
            input.verdict = Some(view);
            input.probe = Some(crate::probe_run::view(probe));
            output::write_atomic(
                &dir.join("report.html"),
                infergate_report::render_html(&input).as_bytes(),
            )?;
        }
    }
    Ok(())
}

/// Measures the client's own TTFT error on this machine against a loopback server whose TTFT
/// is exactly [`LOOPBACK_TTFT_MS`], at the run's concurrency (issue 6 §3). A failure is a
/// warning: the gate runs uncalibrated.
async fn calibrate(bench: &BenchSpec, concurrency: u32) -> Option<LoopbackCalibration> {
    match calibrate_inner(bench, concurrency).await {
        Ok(cal) => {
            eprintln!(
                "client calibration (loopback, TTFT exactly {} ms, {} requests, {} in flight): timing error p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                LOOPBACK_TTFT_MS,
                cal.requests,
                cal.concurrency,
                cal.error_p50_ms,
                cal.error_p99_ms,
                cal.error_max_ms
            );
            Some(cal)
        }
        Err(e) => {
            eprintln!(
                "warning: the client calibration could not run, continuing without it: {e:#}"
            );
            None
        }
    }
}

async fn calibrate_inner(
    bench: &BenchSpec,
    concurrency: u32,
) -> anyhow::Result<LoopbackCalibration> {
    let server = loopback::LoopbackServer::start(
        std::time::Duration::from_millis(LOOPBACK_TTFT_MS),
        loopback::TOKENS,
    )?;
    let url = format!("http://{}", server.addr());
    let mut args = bench.args.clone();
    args.url = url.clone();
    args.headers = Vec::new();
    args.input_tokens_mean = 16;
    args.input_tokens_stddev = 0.0;
    args.output_tokens_mean = Some(loopback::TOKENS);
    args.output_tokens_stddev = 0.0;
    args.concurrency = Some(concurrency);
    args.request_count = Some(u64::from(concurrency.saturating_mul(2).clamp(32, 8192)));
    args.warmup_request_count = 0;
    args.request_timeout = "10s".into();
    args.no_progress = true;
    args.scrape_metrics = false;
    args.output_dir = None;
    args.result_sentinel = None;
    let mut plan = bench::plan(&args, bench.command)?;
    // Never send the user's headers or API key to the loopback server.
    plan.target = Target::parse(&url, &[], None).context("the loopback URL")?;
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        bench_run::execute_async(plan),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the loopback run took over 60 s"))??;
    server.stop();
    let ttfts: Vec<f64> = result
        .run
        .records
        .iter()
        .filter(|r| r.is_success())
        .filter_map(|r| r.ttft_ns())
        .map(|t| t as f64 / 1e6)
        .collect();
    LoopbackCalibration::from_measurements(LOOPBACK_TTFT_MS as f64, &ttfts, concurrency)
        .ok_or_else(|| anyhow::anyhow!("no loopback request succeeded"))
}

/// The effective TTFT ceiling (the recipe's `<=` value with its 10 % tolerance), ms.
fn ttft_ceiling_ms(plan: &RunPlan) -> Option<f64> {
    plan.ttft_p99.as_ref().map(|t| t.value * 1.1)
}

/// Per-worker samples from the run's `/metrics` scrapes.
pub fn metrics_samples(result: &BenchResult) -> Vec<MetricsSample> {
    result
        .scrapes
        .iter()
        .flat_map(|s| samples_from_scrape(s.t_ns, None, &parse_prometheus_text(&s.text)))
        .collect()
}

/// Could the load generator, rather than the deployment, have limited this run?
pub fn client_self_check(
    plan: &RunPlan,
    result: &BenchResult,
    calibration: Option<LoopbackCalibration>,
) -> SelfCheck {
    let records = &result.run.records;
    let s = &result.summary;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0);
    let obs = ClientObservations {
        target_in_flight: Some(plan.point.concurrency),
        in_flight_samples: result.run.in_flight_samples.clone(),
        steady_window: infergate_evidence::selfcheck::steady_window(records),
        send_lateness_ns: Vec::new(),
        lateness_includes_slot_wait: false,
        cpu: result.client_cpu_s.map(|cpu_s| CpuUsage {
            cpu_s,
            wall_s: result.wall_s,
            cores,
        }),
        loop_lag_ns: result.loop_lag_ns.clone(),
        error_share: if s.request_count > 0 {
            s.error_request_count as f64 / s.request_count as f64
        } else {
            0.0
        },
        calibration,
        ttft_ceiling_ms: ttft_ceiling_ms(plan),
    };
    self_check(&obs, &ClientThresholds::default())
}

/// `metrics_scrape.jsonl`: one per-worker sample per line, for the report.
fn write_scrapes(dir: &std::path::Path, result: &BenchResult) -> anyhow::Result<()> {
    let samples = metrics_samples(result);
    if samples.is_empty() {
        return Ok(());
    }
    let mut out = Vec::new();
    for m in samples {
        let view = infergate_report::ScrapeSample {
            t_s: m.t_ns as f64 / 1e9,
            worker: m.worker,
            running: Some(m.running),
            waiting: Some(m.waiting),
            kv_usage: m.kv_usage,
        };
        serde_json::to_writer(&mut out, &view).context("cannot serialise a scrape sample")?;
        out.push(b'\n');
    }
    output::write_atomic(&dir.join("metrics_scrape.jsonl"), &out)
}

/// The two numbers the gate judges, from a benchmark's summary. `None` when not measured.
pub fn measured(result: &BenchResult) -> Measured {
    Measured {
        throughput_tok_s: result.summary.output_token_throughput,
        ttft_p99_ms: result.summary.time_to_first_token.as_ref().map(|d| d.p99),
    }
}

/// The report's view of a verdict (`verdict.json`).
pub fn verdict_view(plan: &RunPlan, v: &Verdict) -> VerdictView {
    VerdictView {
        status: status_label(v.status).to_string(),
        message: v
            .message
            .clone()
            .unwrap_or_else(|| v.status.as_str().to_string()),
        confidence: Some(0.95),
        constraints: v
            .constraints
            .iter()
            .map(|c| {
                let unit = if c.name == "inference-throughput" {
                    "tokens/sec"
                } else {
                    "ms"
                };
                ConstraintView {
                    name: c.name.to_string(),
                    raw: c.raw.clone(),
                    measured: Some(c.measured),
                    unit: unit.to_string(),
                    threshold: Some(c.threshold),
                    effective_threshold: Some(c.effective_threshold),
                    tolerance_pct: Some(10.0),
                    ci_low: c.ci.map(|ci| ci.0),
                    ci_high: c.ci.map(|ci| ci.1),
                    status: match c.status {
                        ConstraintStatus::Pass => "passed",
                        ConstraintStatus::Fail => "failed",
                        ConstraintStatus::Inconclusive => "inconclusive",
                    }
                    .to_string(),
                    message: c.message.clone(),
                }
            })
            .collect(),
        stall: v.notes.clone(),
        self_check: Vec::new(),
        recipe: Some(plan.recipe.clone()),
        nodes: Some(1),
        gpus: Some(plan.point.gpus),
        gpus_per_node: Some(plan.point.gpus_per_node),
    }
}

fn status_label(s: GateStatus) -> &'static str {
    match s {
        GateStatus::Passed => "passed",
        GateStatus::Failed => "failed",
        GateStatus::Skipped => "skipped",
        GateStatus::Inconclusive => "inconclusive",
        GateStatus::Invalid => "invalid",
        GateStatus::CouldNotMeasure => "could_not_measure",
    }
}

/// The summary's head, shared by endpoint and `--kube` runs: the verdict with its message, the
/// evidence behind it, and each constraint with its measured value and applied bound.
pub fn verdict_lines(v: &Verdict) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nVERDICT: {}{}",
        v.status.as_str(),
        v.message
            .as_ref()
            .map(|m| format!(" — {m}"))
            .unwrap_or_default()
    );
    for note in &v.notes {
        let _ = writeln!(out, "  why: {note}");
    }
    for c in &v.constraints {
        let _ = writeln!(
            out,
            "  {:<22} measured {:.2}, constraint {} (applied bound {:.2} with 10% tolerance): {:?}",
            c.name, c.measured, c.raw, c.effective_threshold, c.status
        );
    }
    out
}

/// The short end-of-run summary: verdict first, the numbers that decided it, where the files are.
fn summary(
    v: &Verdict,
    bench: Option<&BenchResult>,
    pooled: Option<(usize, u64, u64, usize)>,
    outputs: &GateOutputs,
) -> String {
    use std::fmt::Write;
    let mut out = verdict_lines(v);
    if let Some((trials, requests, failed, shown)) = pooled {
        let _ = writeln!(
            out,
            "  {trials} trials pooled: {requests} successful requests, {failed} failed; the report shows trial {shown}:"
        );
    }
    if let Some(b) = bench {
        let s = &b.summary;
        let _ = writeln!(
            out,
            "  {} requests, {} failed, {:.1} s; request stream sha256 {}",
            s.request_count,
            s.error_request_count,
            s.benchmark_duration_s.unwrap_or(0.0),
            b.run_info.request_stream_sha256
        );
    }
    let files: Vec<String> = [&outputs.output_dir, &outputs.ctrf, &outputs.junit]
        .iter()
        .filter_map(|p| p.as_ref().map(|p| p.display().to_string()))
        .collect();
    if !files.is_empty() {
        let _ = writeln!(out, "  files: {}", files.join(", "));
    }
    out
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
