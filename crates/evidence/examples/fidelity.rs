//! The fidelity study over the simulator's virtual time (docs/fidelity.md), until the CLI has
//! `infergate study fidelity`:
//!
//! `cargo run --release -p infergate-evidence --example fidelity -- [trials] [calibration-trials]`
//!
//! With no arguments it runs the full study (`StudyPlan::full()`: 200 healthy and 200 trials of
//! each fault per platform and operating point) and prints the Markdown table.

use infergate_evidence::fidelity::{run_study, Fault, Scenario, StudyPlan};
use infergate_model::RequestRecord;
use infergate_sim::virtual_time::{run, VirtualLoad};
use infergate_sim::{SimConfig, SlowWorker, Stall};
use std::time::Instant;

/// The scenario on the simulator (the same mapping as tests/sim.rs).
fn sim_trial(s: &Scenario) -> Result<Vec<RequestRecord>, String> {
    let mut cfg = SimConfig::for_profile(&s.profile).map_err(|e| e.to_string())?;
    cfg.seed = s.seed;
    match s.fault {
        Fault::None => {}
        Fault::Stall {
            worker,
            factor,
            start_ns,
            duration_ns,
        } => {
            cfg.behaviours.stall = Some(Stall {
                worker,
                factor,
                start_ns,
                duration_ns,
            })
        }
        Fault::SlowWorker { worker, factor } => {
            cfg.behaviours.slow_worker = Some(SlowWorker { worker, factor })
        }
        Fault::LowThroughput { throughput_factor } => {
            let e = &mut cfg.profile.engine;
            let scale = |v: u64| (v as f64 / throughput_factor).round() as u64;
            e.step_base_ns = scale(e.step_base_ns);
            e.decode_ns_per_seq = scale(e.decode_ns_per_seq);
            e.prefill_ns_per_token = scale(e.prefill_ns_per_token);
        }
    }
    let load = VirtualLoad::aicr(s.per_gpu * s.gpus);
    run(&cfg, &load)
        .map(|r| r.records)
        .map_err(|e| e.to_string())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut plan = StudyPlan::full();
    if let Some(n) = args.next().and_then(|s| s.parse().ok()) {
        plan.healthy_trials = n;
        plan.faulty_trials = n;
    }
    if let Some(n) = args.next().and_then(|s| s.parse().ok()) {
        plan.calibration_trials = n;
    }
    let t0 = Instant::now();
    let report = run_study(&plan, &mut sim_trial, &mut |l| {
        eprintln!("[{:>6.0} s] {l}", t0.elapsed().as_secs_f64())
    });
    match report {
        Ok(r) => {
            println!("{}", r.to_markdown());
            println!(
                "{} simulated runs in {:.0} s of CPU time (release build, one thread).",
                r.runs,
                t0.elapsed().as_secs_f64()
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
