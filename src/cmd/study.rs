//! `infergate study fidelity`: the fidelity study of issue 6 §5 over the simulator's virtual
//! time — how often upstream's single-run rule and infergate's rule fail healthy deployments and
//! catch faulty ones (stalled worker, permanently slow worker, throughput 30 % low), at the knee
//! and below it. The study itself is `infergate_evidence::fidelity`; this module maps each
//! scenario onto a simulated deployment and prints the table (docs/fidelity.md).

use crate::{BadInput, Outcome};
use infergate_evidence::fidelity::{run_study, Fault, Platform, Scenario, StudyPlan};
use infergate_model::RequestRecord;
use infergate_sim::SimConfig;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `infergate study`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which study.
    #[command(subcommand)]
    pub study: Study,
}

/// The studies.
#[derive(Debug, clap::Subcommand)]
pub enum Study {
    /// Verdict fidelity over simulated healthy and faulty deployments (docs/fidelity.md).
    Fidelity(FidelityArgs),
}

/// Arguments of `infergate study fidelity`. The defaults are the full study of docs/fidelity.md.
#[derive(Debug, clap::Args)]
pub struct FidelityArgs {
    /// Healthy trials, and trials of each fault, per platform and operating point.
    #[arg(long, default_value_t = 200)]
    pub trials: u32,
    /// Healthy trials (separate seeds) that calibrate the "infergate calibrated" rule; 0 leaves
    /// it out.
    #[arg(long, default_value_t = 30)]
    pub calibration_trials: u32,
    /// Simulated platform profiles (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "h100x8,rtx-pro-6000x8,gb200x4"
    )]
    pub profile: Vec<String>,
    /// Operating points, concurrency per GPU (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "256,128")]
    pub per_gpu: Vec<u32>,
    /// TTFT p99 ceilings, ms, judged by both rules (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1000,2000")]
    pub ceiling_ms: Vec<f64>,
    /// Throughput floor, output tokens/sec (full node).
    #[arg(long, default_value_t = 50_000.0)]
    pub floor: f64,
    /// Confidence level of infergate's rule.
    #[arg(long, default_value_t = 0.95)]
    pub confidence_level: f64,
    /// `--until-decided` maximum runs per verdict.
    #[arg(long, default_value_t = 3)]
    pub max_runs: u32,
    /// Seed of the study (every trial's seed and fault derive from it).
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Also write the Markdown table to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Run `infergate study`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.study {
        Study::Fidelity(a) => fidelity(a),
    }
}

fn fidelity(a: FidelityArgs) -> anyhow::Result<Outcome> {
    let mut platforms = Vec::new();
    for name in &a.profile {
        let cfg = SimConfig::for_profile(name).map_err(BadInput::from_err)?;
        platforms.push(Platform {
            profile: name.clone(),
            gpus: cfg.profile.gpus,
        });
    }
    let plan = StudyPlan {
        platforms,
        per_gpu: a.per_gpu,
        healthy_trials: a.trials,
        faulty_trials: a.trials,
        calibration_trials: a.calibration_trials,
        ceilings_ms: a.ceiling_ms,
        floor_tok_s: a.floor,
        level: a.confidence_level,
        max_runs: a.max_runs,
        seed: a.seed,
        ..StudyPlan::full()
    };
    plan.validate().map_err(BadInput::from_err)?;
    let t0 = Instant::now();
    let report = run_study(&plan, &mut sim_trial, &mut |line| {
        eprintln!("[{:>6.0} s] {line}", t0.elapsed().as_secs_f64())
    })?;
    let mut text = report.to_markdown();
    text.push_str(&format!(
        "\n{} simulated runs in {:.0} s.\n",
        report.runs,
        t0.elapsed().as_secs_f64()
    ));
    print!("{text}");
    if let Some(path) = &a.output {
        crate::output::write_atomic(path, text.as_bytes())?;
    }
    Ok(Outcome::Ok)
}

/// One scenario on the simulator in virtual time: the profile's full node with round-robin
/// routing (the investigation's configuration), AICR's closed-loop workload at the scenario's
/// concurrency, and the fault injected.
pub fn sim_trial(s: &Scenario) -> Result<Vec<RequestRecord>, String> {
    // The deployment, load and fault mapping: one home in the sim crate (see the macro).
    infergate_sim::fidelity_trial!(s, Fault)
}
