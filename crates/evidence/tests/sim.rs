//! The evidence rules against the simulator's virtual-time mode: a simulated stall is blamed on
//! the right worker, the knee of the simulator's curve is found, and the short fidelity study
//! meets issue 6's targets (no false failure on healthy trials, every stall that pushes TTFT p99
//! past 9 s detected).

use infergate_evidence::fidelity::{run_study, Fault, FaultKind, Scenario, StudyPlan};
use infergate_evidence::knee::{find_knee, KneeOptions, SweepPoint};
use infergate_evidence::measure::RunEvidence;
use infergate_evidence::stall::{analyse, StallOptions, TailShape};
use infergate_model::RequestRecord;

/// What `infergate study fidelity` passes as the trial runner: the scenario on the simulator.
fn sim_trial(s: &Scenario) -> Result<Vec<RequestRecord>, String> {
    // The deployment, load and fault mapping: one home in the sim crate (see the macro).
    infergate_sim::fidelity_trial!(s, Fault)
}

#[test]
fn a_simulated_stall_is_blamed_on_the_stalled_worker() {
    let s = Scenario {
        profile: "h100x8".into(),
        gpus: 8,
        per_gpu: 256,
        fault: Fault::Stall {
            worker: 3,
            factor: 30.0,
            start_ns: 3_000_000_000,
            duration_ns: 10_000_000_000,
        },
        seed: 7,
    };
    let records = sim_trial(&s).unwrap();
    let e = RunEvidence::from_records(&records, 0.95);
    let f = analyse(
        &records,
        &[],
        &StallOptions {
            ttft_ceiling_ms: Some(2200.0),
            gap_ms: None,
        },
    );
    let text = f.explanation();
    eprintln!("p99 {:?}\n{text}", e.ttft_p99.map(|p| p.estimate));
    assert_eq!(f.shape, TailShape::Stall, "{f:#?}");
    assert_eq!(f.worker.as_deref(), Some("3"), "{text}");
    assert!(text.contains("worker 3"), "{text}");

    // The same seed without the stall: nothing to blame.
    let healthy = sim_trial(&Scenario {
        fault: Fault::None,
        ..s
    })
    .unwrap();
    let h = analyse(
        &healthy,
        &[],
        &StallOptions {
            ttft_ceiling_ms: Some(2200.0),
            gap_ms: None,
        },
    );
    assert_eq!(h.shape, TailShape::Clean, "{}", h.explanation());
}

#[test]
fn the_knee_of_the_simulators_curve_is_found_within_one_step() {
    let ladder = [32u32, 64, 128, 256, 512, 1024];
    let points: Vec<SweepPoint> = ladder
        .iter()
        .map(|&per_gpu| {
            let records = sim_trial(&Scenario {
                profile: "h100x8".into(),
                gpus: 8,
                per_gpu,
                fault: Fault::None,
                seed: 1,
            })
            .unwrap();
            let e = RunEvidence::from_records(&records, 0.95);
            SweepPoint {
                load: f64::from(per_gpu * 8),
                throughput: e.throughput.unwrap().estimate,
                ttft_p99_ms: e.ttft_p99.unwrap().estimate,
            }
        })
        .collect();
    let k = find_knee(
        &points,
        &KneeOptions {
            gpus: 8,
            ..KneeOptions::default()
        },
    )
    .unwrap();
    eprintln!("{}\n{}", k.to_tsv(), k.explanation);
    let knee = k.rows[k.knee.expect("a knee")].per_gpu;
    assert!(
        (128.0..=512.0).contains(&knee),
        "knee at {knee}/GPU, expected 256 ± one step"
    );
    let rec = k.rows[k.recommended.expect("a sub-knee point")].per_gpu;
    assert!(rec < knee);
}

#[test]
fn short_fidelity_study_meets_the_targets() {
    let plan = StudyPlan::short(20, 20);
    let report = run_study(&plan, &mut sim_trial, &mut |l| eprintln!("{l}")).unwrap();
    eprintln!("{}", report.to_markdown());
    for ceiling in ["1000", "2000"] {
        let rule = format!("infergate <= {ceiling}");
        let h = report
            .cell("h100x8", 256, FaultKind::Healthy, &rule)
            .unwrap();
        assert_eq!(h.trials, 20);
        assert_eq!(h.fail, 0, "no false failure on healthy trials: {h:?}");
        let s = report.cell("h100x8", 256, FaultKind::Stall, &rule).unwrap();
        assert_eq!(
            s.severe_detected, s.severe,
            "every stall past 9 s detected: {s:?}"
        );
    }
    let s = report
        .cell("h100x8", 256, FaultKind::Stall, "infergate <= 2000")
        .unwrap();
    assert!(
        s.severe >= 1,
        "the short study must contain severe stalls: {s:?}"
    );
    assert_eq!(s.fail, s.trials, "every injected stall is detected: {s:?}");
    assert_eq!(
        s.attributed_right, s.trials,
        "and blamed on its worker: {s:?}"
    );
}
