//! The gate against an endpoint, shared by `validate` and `demo`: probe → benchmark at the
//! recipe's operating point → verdict → stdout lines, CTRF, JUnit, output directory.
//!
//! Everything it is given has been validated; from here on a failure is the deployment's (or the
//! run's), never the user's input.

use crate::bench_run::{self, BenchResult};
use crate::cmd::bench;
use crate::{output, Outcome};
use anyhow::Context;
use infergate_evidence::{
    analyse, parse_prometheus_text, samples_from_scrape, self_check, ClientObservations,
    ClientThresholds, CpuUsage, MetricsSample, RunEvidence, SelfCheck, StallOptions,
};
use infergate_gate::ctrf::RunTiming;
use infergate_gate::verdict::ConstraintStatus;
use infergate_gate::verdict::{evaluate_with_evidence, Evidence};
use infergate_gate::{GateStatus, Measured, RunPlan, Verdict};
use infergate_loadgen::{CancelToken, ProbeConfig, ProbeReport, Target};
use infergate_report::{ConstraintView, VerdictView};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// A validated endpoint gate.
pub struct EndpointGate {
    /// The plan built from the recipe, flags and env.
    pub plan: RunPlan,
    /// The benchmark at the plan's operating point (validated).
    pub bench: bench_run::BenchPlan,
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
    /// The benchmark, when it ran.
    pub bench: Option<BenchResult>,
    /// The load generator's self-check, when the benchmark ran.
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

/// Run the gate: probe, then the benchmark, then the verdict; write every result file.
pub async fn execute(gate: EndpointGate) -> anyhow::Result<GateResult> {
    let started = unix_ms();
    let EndpointGate {
        plan,
        bench,
        probe: (probe_target, probe_config),
        outputs,
        command,
    } = gate;
    eprintln!(
        "infergate {command}: recipe {}, model {}, {} GPU(s) of {} per node, concurrency {}, {} requests + {} warmup",
        plan.recipe,
        plan.model,
        plan.point.gpus,
        plan.point.gpus_per_node,
        plan.point.concurrency,
        plan.point.request_count,
        plan.point.warmup_count
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

    let (verdict, bench_result, check) = if !probe.ready {
        (Verdict::could_not_measure(probe_line.clone()), None, None)
    } else {
        let result = bench_run::execute_async(bench).await?;
        let check = client_self_check(&plan, &result);
        let verdict = if result.all_failed() {
            Verdict::could_not_measure(format!(
                "no benchmark request succeeded ({} failed): nothing to gate",
                result.summary.error_request_count
            ))
        } else {
            let evidence = evidence(&plan, &result, &check);
            evaluate_with_evidence(&plan, measured(&result), &evidence)
        };
        (verdict, Some(result), Some(check))
    };

    for line in verdict.display_lines() {
        println!("{line}");
    }
    let timing = RunTiming {
        start_unix_ms: started,
        stop_unix_ms: unix_ms(),
    };
    let preceding = vec![probe_line];
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
    if let Some(dir) = &outputs.output_dir {
        output::ensure_dir(dir)?;
        output::write_json(&dir.join("probe.json"), &crate::probe_run::view(&probe))?;
        let mut view = verdict_view(&plan, &verdict);
        if let Some(check) = &check {
            view.self_check = check.checks.iter().map(|c| c.detail.clone()).collect();
        }
        output::write_json(&dir.join("verdict.json"), &view)?;
        if let Some(result) = &bench_result {
            write_scrapes(dir, result)?;
            crate::cmd::report::write_report(dir)?;
        }
    }
    eprint!("{}", summary(&verdict, bench_result.as_ref(), &outputs));
    Ok(GateResult {
        verdict,
        probe,
        bench: bench_result,
        self_check: check,
    })
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
pub fn client_self_check(plan: &RunPlan, result: &BenchResult) -> SelfCheck {
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
        calibration: None,
        ttft_ceiling_ms: ttft_ceiling_ms(plan),
    };
    self_check(&obs, &ClientThresholds::default())
}

/// Confidence intervals, the stall analysis and the client's verdict, for the gate.
fn evidence(plan: &RunPlan, result: &BenchResult, check: &SelfCheck) -> Evidence {
    let level = result
        .summary
        .confidence
        .as_ref()
        .map(|c| c.level)
        .unwrap_or(0.95);
    let run = RunEvidence::from_records(&result.run.records, level);
    let stall = analyse(
        &result.run.records,
        &metrics_samples(result),
        &StallOptions {
            ttft_ceiling_ms: ttft_ceiling_ms(plan),
            gap_ms: None,
        },
    );
    Evidence::from_run(&run, Some(stall), Some(check.verdict.clone()))
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

/// The short end-of-run summary: verdict first, the numbers that decided it, where the files are.
fn summary(v: &Verdict, bench: Option<&BenchResult>, outputs: &GateOutputs) -> String {
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
