//! An overlay file in AICR's own shape (validation block verbatim from the reference) loads by
//! path and gates: the acceptance test "an AICR overlay file loads and gates".

use infergate_gate::constraint::INFERENCE_MODEL_CACHE_STORAGE_CLASS;
use infergate_gate::{evaluate, GateFlags, GatePlan, GateStatus, Measured, Recipe};
use std::path::Path;

fn fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/aicr-overlay.yaml")
        .display()
        .to_string()
}

#[test]
fn aicr_overlay_loads_with_its_fields_tolerated() {
    let r = Recipe::load(&fixture()).unwrap();
    assert_eq!(r.name, "gb200-gke-cos-inference-dynamo");
    assert!(r.has_component("dynamo-platform"));
    assert_eq!(r.gpus_per_node, None, "AICR files have no spec.infergate");
    assert_eq!(
        r.constraint(INFERENCE_MODEL_CACHE_STORAGE_CLASS),
        Some("a4x-compatible")
    );
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].contains("gb200-gke-cos-inference"),
        "{:?}",
        r.warnings
    );
}

#[test]
fn aicr_overlay_gates() {
    let r = Recipe::load(&fixture()).unwrap();
    // AICR files do not say how many GPUs a node has: the count must be given.
    let e = GatePlan::build(&r, &GateFlags::default(), &|_| None).unwrap_err();
    assert!(e.to_string().contains("--gpus"), "{e}");

    let flags = GateFlags {
        gpus: Some(4),
        ..GateFlags::default()
    };
    let GatePlan::Run(plan) = GatePlan::build(&r, &flags, &|_| None).unwrap() else {
        panic!("the overlay is gated");
    };
    assert_eq!(plan.model, "Qwen/Qwen3-8B");
    assert_eq!(plan.point.concurrency, 1024);
    assert_eq!(plan.point.request_count, 8192);
    assert_eq!(
        plan.model_cache_storage_class.as_deref(),
        Some("a4x-compatible")
    );

    let pass = evaluate(
        &plan,
        Measured {
            throughput_tok_s: Some(65952.0),
            ttft_p99_ms: Some(1240.0),
        },
    );
    assert_eq!(pass.status, GateStatus::Passed);
    assert_eq!(
        pass.stdout,
        [
            "RESULT: Inference throughput: 65952.00 tokens/sec",
            "RESULT: Inference TTFT p99: 1240.00 ms",
            "Throughput constraint: >= 50000 → PASS",
            "TTFT p99 constraint: <= 2000 → PASS",
        ]
    );
    let fail = evaluate(
        &plan,
        Measured {
            throughput_tok_s: Some(65952.0),
            ttft_p99_ms: Some(9000.0),
        },
    );
    assert_eq!(fail.status, GateStatus::Failed);
}
