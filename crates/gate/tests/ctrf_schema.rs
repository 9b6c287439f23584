//! Every CTRF report the gate can write validates against the CTRF JSON schema (a copy of
//! /work/shared/reference/ctrf.schema.json in tests/data), and carries AICR's shape.

use infergate_gate::ctrf::{report, RunTiming};
use infergate_gate::{evaluate, GateFlags, GatePlan, Measured, Recipe, Verdict};
use serde_json::Value;

fn schema() -> jsonschema::Validator {
    let text = include_str!("data/ctrf.schema.json");
    let schema: Value = serde_json::from_str(text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn verdicts() -> Vec<(&'static str, Verdict)> {
    let r = Recipe::load("h100-eks").unwrap();
    let GatePlan::Run(plan) = GatePlan::build(&r, &GateFlags::default(), &|_| None).unwrap() else {
        panic!("gated");
    };
    let m = |t, ttft| Measured {
        throughput_tok_s: Some(t),
        ttft_p99_ms: Some(ttft),
    };
    vec![
        ("passed", evaluate(&plan, m(108789.87, 687.5))),
        ("failed", evaluate(&plan, m(108789.87, 4485.0))),
        ("failed", evaluate(&plan, m(1000.0, 4485.0))),
        (
            "skipped",
            Verdict::skipped("skipped - dynamo-platform not in recipe components"),
        ),
        (
            "other",
            Verdict::could_not_measure(
                "timed out waiting for inference endpoint to serve requests",
            ),
        ),
        (
            "other",
            Verdict::invalid("the load generator was the bottleneck"),
        ),
        (
            "other",
            evaluate(
                &plan,
                Measured {
                    throughput_tok_s: Some(1.0),
                    ttft_p99_ms: None,
                },
            ),
        ),
    ]
}

const TIMING: RunTiming = RunTiming {
    start_unix_ms: 1_780_000_000_000,
    stop_unix_ms: 1_780_000_612_000,
};

#[test]
fn every_report_validates_against_the_ctrf_schema() {
    let validator = schema();
    for (status, v) in verdicts() {
        let json: Value = serde_json::from_str(
            &report(&v, TIMING, "0.1.0", &["probe: ready after 42.1 s".into()]).to_json(),
        )
        .unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{status}: {errors:?}\n{json:#}");
        assert_eq!(json["results"]["tests"][0]["status"], status);
    }
}

#[test]
fn report_shape_matches_aicr() {
    let (_, v) = verdicts().remove(1);
    let json: Value = serde_json::from_str(&report(&v, TIMING, "0.1.0", &[]).to_json()).unwrap();
    assert_eq!(json["reportFormat"], "CTRF");
    assert_eq!(json["specVersion"], "0.0.1");
    assert_eq!(json["timestamp"], "2026-05-28T20:36:52Z");
    assert_eq!(json["generatedBy"], "infergate");
    assert_eq!(json["results"]["tool"]["name"], "infergate");
    assert_eq!(json["results"]["tool"]["version"], "0.1.0");
    let s = &json["results"]["summary"];
    assert_eq!(
        (
            &s["tests"],
            &s["passed"],
            &s["failed"],
            &s["skipped"],
            &s["pending"],
            &s["other"]
        ),
        (
            &1.into(),
            &0.into(),
            &1.into(),
            &0.into(),
            &0.into(),
            &0.into()
        )
    );
    assert_eq!(
        (&s["start"], &s["stop"]),
        (&TIMING.start_unix_ms.into(), &TIMING.stop_unix_ms.into())
    );
    let t = &json["results"]["tests"][0];
    assert_eq!(t["name"], "inference-perf");
    assert_eq!(t["duration"], 612_000);
    assert_eq!(t["suite"], serde_json::json!(["performance"]));
    assert_eq!(
        t["message"],
        "inference TTFT p99 4485.00 ms does not satisfy constraint \"<= 2000\" (with 10% tolerance)"
    );
    assert_eq!(
        t["stdout"],
        serde_json::json!([
            "RESULT: Inference throughput: 108789.87 tokens/sec",
            "RESULT: Inference TTFT p99: 4485.00 ms",
            "Throughput constraint: >= 50000 → PASS",
        ])
    );
}

#[test]
fn a_pass_has_no_message() {
    let (_, v) = verdicts().remove(0);
    let json: Value = serde_json::from_str(&report(&v, TIMING, "0.1.0", &[]).to_json()).unwrap();
    assert!(json["results"]["tests"][0].get("message").is_none());
}

#[test]
fn the_schema_check_is_not_vacuous() {
    let (_, v) = verdicts().remove(0);
    let mut json: Value =
        serde_json::from_str(&report(&v, TIMING, "0.1.0", &[]).to_json()).unwrap();
    json["results"]["tests"][0]["status"] = "inconclusive".into();
    assert!(
        !schema().is_valid(&json),
        "a status outside the CTRF enum must be rejected"
    );
}
