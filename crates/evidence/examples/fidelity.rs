//! The fidelity study over the simulator's virtual time (docs/fidelity.md), until the CLI has
//! `infergate study fidelity`:
//!
//! `cargo run --release -p infergate-evidence --example fidelity -- [trials] [calibration-trials]`
//!
//! With no arguments it runs the full study (`StudyPlan::full()`: 200 healthy and 200 trials of
//! each fault per platform and operating point) and prints the Markdown table.

use infergate_evidence::fidelity::{run_study, Fault, Scenario, StudyPlan};
use infergate_model::RequestRecord;
use std::time::Instant;

/// The scenario on the simulator (the same mapping as tests/sim.rs).
fn sim_trial(s: &Scenario) -> Result<Vec<RequestRecord>, String> {
    // The deployment, load and fault mapping: one home in the sim crate (see the macro).
    infergate_sim::fidelity_trial!(s, Fault)
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
