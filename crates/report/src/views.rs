//! The report's own reading of the optional files in an output directory: `verdict.json`,
//! `probe.json`, `sweep.json` and `metrics_scrape.jsonl`.
//!
//! These are view types, not the gate's or the probe's types: the writers convert into these
//! shapes, and the report depends on nothing but this module's documented fields. Every field is
//! `#[serde(default)]` and unknown fields are ignored, so an older or newer writer still gives a
//! page (with less on it) instead of an error. The schemas are documented in docs/report.md.

use serde::{Deserialize, Deserializer, Serialize};

/// `verdict.json`: the gate's decision and each constraint behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerdictView {
    /// One of `passed`, `failed`, `skipped`, `inconclusive`, `invalid`, `could_not_measure`.
    pub status: String,
    /// One-line explanation of the verdict (the message printed on the console).
    pub message: String,
    /// Confidence level of the intervals below, as a fraction (0.95). `None` when not computed.
    pub confidence: Option<f64>,
    /// Every constraint evaluated, in recipe order.
    pub constraints: Vec<ConstraintView>,
    /// Stall attribution: human-readable lines ("worker 3 held 1022 running requests from
    /// t=41 s to t=96 s ..."). Accepts a single string or a list of strings.
    #[serde(deserialize_with = "one_or_many")]
    pub stall: Vec<String>,
    /// Load-generator self-check findings (why a run is INVALID, or warnings). Same shape as
    /// `stall`.
    #[serde(deserialize_with = "one_or_many")]
    pub self_check: Vec<String>,
    /// Recipe name or path the run was gated against.
    pub recipe: Option<String>,
    /// Nodes the deployment ran on.
    pub nodes: Option<u32>,
    /// GPUs the deployment used in total.
    pub gpus: Option<u32>,
    /// GPUs per node.
    pub gpus_per_node: Option<u32>,
}

/// One constraint of a verdict, e.g. `inference-throughput: >= 50000`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConstraintView {
    /// Constraint name (`inference-throughput`, `inference-ttft-p99`, ...).
    pub name: String,
    /// The constraint as written in the recipe, e.g. `>= 50000`.
    pub raw: String,
    /// The measured value, in `unit`.
    pub measured: Option<f64>,
    /// Unit of `measured`, `threshold`, `effective_threshold`, `ci_low`, `ci_high`
    /// (`tokens/sec`, `ms`).
    pub unit: String,
    /// The threshold as written (before tolerance and scaling), in `unit`.
    pub threshold: Option<f64>,
    /// The threshold actually applied (after tolerance and partial-node scaling), in `unit`.
    pub effective_threshold: Option<f64>,
    /// Tolerance applied to the threshold, in percent (10 for upstream's rule).
    pub tolerance_pct: Option<f64>,
    /// Lower end of the confidence interval of `measured`, in `unit`.
    pub ci_low: Option<f64>,
    /// Upper end of the confidence interval of `measured`, in `unit`.
    pub ci_high: Option<f64>,
    /// `passed`, `failed`, `inconclusive`, `skipped` or `error`.
    pub status: String,
    /// Explanation (the failure message with measured value, constraint and tolerance).
    pub message: String,
}

/// `probe.json`: the readiness probe that ran before the load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeView {
    /// Whether the endpoint became ready within the window.
    pub ready: bool,
    /// Seconds from the probe's start to the first successful completion's end.
    pub time_to_ready_s: Option<f64>,
    /// Latency in seconds of the first successful completion (the cold start).
    pub first_success_latency_s: Option<f64>,
    /// Latency in seconds of a completion sent right after readiness (steady state).
    pub steady_latency_s: Option<f64>,
    /// When not ready: the stage the probe was stuck in (`nothing_listening`, `http_error`,
    /// `model_not_listed`, `attempt_timeout`, ...).
    pub stuck_stage: Option<String>,
    /// One-line explanation.
    pub message: String,
    /// Every attempt, in order.
    pub attempts: Vec<ProbeAttemptView>,
}

/// One attempt of the readiness probe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeAttemptView {
    /// Seconds from the probe's start to this attempt's start.
    pub start_s: f64,
    /// Seconds the attempt took.
    pub duration_s: f64,
    /// `ok`, or the failure class (`connect_refused`, `http_status`, `timeout`,
    /// `model_not_listed`, `empty_output`, ...).
    pub outcome: String,
    /// HTTP status code, when one was received.
    pub status: Option<u16>,
    /// Short detail (never contains headers or secrets).
    pub detail: String,
}

/// `sweep.json`: a ladder of load levels and the knee found in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepView {
    /// What the ladder varied: `concurrency` (default) or `rate` (requests/sec).
    pub axis: String,
    /// GPUs the deployment had (to express the recommendation per GPU).
    pub gpus: Option<u32>,
    /// The measured points, in ladder order.
    pub points: Vec<SweepPointView>,
    /// Index into `points` of the saturation knee, when one was found.
    pub knee_index: Option<usize>,
    /// Recommended sub-knee operating point, in `axis` units per GPU.
    pub recommended_per_gpu: Option<f64>,
    /// One-line explanation of the knee and the recommendation.
    pub message: String,
}

/// One point of a sweep.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepPointView {
    /// Offered load: concurrency (requests in flight) or rate (requests/sec), per `axis`.
    pub concurrency: f64,
    /// Output token throughput, tokens/sec.
    pub throughput: f64,
    /// Request throughput, requests/sec.
    pub request_throughput: Option<f64>,
    /// TTFT p50, milliseconds.
    pub ttft_p50_ms: Option<f64>,
    /// TTFT p99, milliseconds.
    pub ttft_p99_ms: Option<f64>,
    /// Inter-token latency p50, milliseconds.
    pub itl_p50_ms: Option<f64>,
    /// Failed requests at this point.
    pub errors: u64,
}

/// One line of `metrics_scrape.jsonl`: a worker's Prometheus gauges at one scrape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScrapeSample {
    /// Seconds since the run's epoch (the same clock as the request records).
    pub t_s: f64,
    /// Worker id as the server names it (matches `RequestRecord::worker`).
    pub worker: String,
    /// Requests running on the worker.
    pub running: Option<f64>,
    /// Requests waiting in the worker's queue.
    pub waiting: Option<f64>,
    /// KV-cache usage, fraction 0..1.
    pub kv_usage: Option<f64>,
}

/// Accept `"one line"`, `["a", "b"]` or `null` for a list of lines.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) if s.is_empty() => Vec::new(),
        Some(OneOrMany::One(s)) => s.lines().map(str::to_owned).collect(),
        Some(OneOrMany::Many(v)) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_tolerate_missing_and_unknown_fields() {
        let v: VerdictView =
            serde_json::from_str(r#"{"status":"failed","future_field":1,"stall":"a\nb"}"#).unwrap();
        assert_eq!(v.status, "failed");
        assert_eq!(v.stall, vec!["a", "b"]);
        assert!(v.constraints.is_empty());
        let p: ProbeView = serde_json::from_str("{}").unwrap();
        assert!(!p.ready);
        let s: SweepView = serde_json::from_str(r#"{"points":[{"concurrency":8}]}"#).unwrap();
        assert_eq!(s.points[0].concurrency, 8.0);
        let v: VerdictView = serde_json::from_str(r#"{"stall":null,"self_check":["x"]}"#).unwrap();
        assert!(v.stall.is_empty());
        assert_eq!(v.self_check, vec!["x"]);
    }
}
