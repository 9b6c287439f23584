//! AIPerf-compatible outputs: `profile_export_aiperf.json` (AIPerf 0.13's schema, same metric
//! keys and units), the AIPerf-style CSV metric table, and per-request JSONL lines.
//!
//! A consumer that reads `output_token_throughput.avg` or `time_to_first_token.p99` from an
//! AIPerf export reads the same numbers, in the same units, from ours. What AIPerf has and we do
//! not measure (HTTP trace phases, GPU telemetry, reasoning tokens) is left out rather than
//! faked; what we add lives under the top-level `infergate` key.

use crate::percentile::Distribution;
use crate::record::RecordMetrics;
use crate::summary::Summary;
use infergate_model::{Arrivals, LoadMode, RequestRecord};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The AIPerf export schema reproduced (`schema_version` of AIPerf 0.13.0's export).
pub const AIPERF_SCHEMA_VERSION: &str = "1.4";

/// The AIPerf release whose export layout this reproduces (written as `aiperf_version` so that
/// consumers keyed on it keep working; the producer is named in `infergate.version`).
pub const AIPERF_COMPAT_VERSION: &str = "0.13.0";

/// This build's name and version, as written in `infergate.version`.
pub fn infergate_version() -> String {
    format!("infergate-{}", env!("CARGO_PKG_VERSION"))
}

/// What the run was (echoed into `input_config` and `run_info`). Fill what you have; the rest
/// stays empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExportContext {
    /// Short run identifier (`benchmark_id`).
    pub benchmark_id: String,
    /// Model name sent in requests.
    pub model: String,
    /// Endpoint base URLs.
    pub urls: Vec<String>,
    /// `"chat"` or `"completions"`.
    pub endpoint_type: String,
    /// Whether responses were streamed.
    pub streaming: bool,
    /// `--extra-inputs` merged into every body.
    pub extra_inputs: serde_json::Map<String, Value>,
    /// Tokenizer used to measure prompts (`builtin` or a path).
    pub tokenizer: String,
    /// `--random-seed`.
    pub random_seed: u64,
    /// Prompt pool size (`--num-dataset-entries`).
    pub dataset_entries: u32,
    /// Input tokens mean and stddev.
    pub isl_mean: f64,
    /// Input tokens stddev.
    pub isl_stddev: f64,
    /// Output tokens mean (`max_tokens`).
    pub osl_mean: f64,
    /// Output tokens stddev.
    pub osl_stddev: f64,
    /// How load was offered.
    pub load: Option<LoadMode>,
    /// Profile requests asked for.
    pub request_count: Option<u64>,
    /// Profile duration asked for, seconds.
    pub duration_s: Option<f64>,
    /// Warmup requests asked for.
    pub warmup_request_count: u64,
    /// `--output-dir`.
    pub artifact_dir: Option<String>,
    /// The command line, secrets removed by the caller.
    pub cli_command: String,
    /// Wall-clock start, ISO 8601 (AIPerf writes local time without zone, microseconds).
    pub start_time: String,
    /// Wall-clock end, ISO 8601.
    pub end_time: String,
    /// The run was cancelled (Ctrl-C, deadline).
    pub was_cancelled: bool,
    /// Every planned request finished.
    pub is_complete: bool,
    /// Why not complete, when not.
    pub incomplete_reason: Option<String>,
    /// SHA-256 of the request stream (hex).
    pub request_stream_sha256: Option<String>,
    /// Git commit of this build.
    pub git_commit: Option<String>,
}

/// One metric block: `{unit, avg, p1…p99, p999, min, max, std, count, sum}`; scalar metrics
/// carry only `unit` and `avg`, as in AIPerf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricBlock {
    /// Display unit, exactly as AIPerf writes it (`ms`, `tokens/sec`, …).
    pub unit: String,
    /// Mean (or the value of a scalar metric).
    pub avg: f64,
    /// 1st percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p1: Option<f64>,
    /// 5th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p5: Option<f64>,
    /// 10th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p10: Option<f64>,
    /// 25th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p25: Option<f64>,
    /// Median.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    /// 75th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p75: Option<f64>,
    /// 90th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    /// 95th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
    /// 99th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    /// 99.9th percentile (an infergate addition; AIPerf stops at p99).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p999: Option<f64>,
    /// Minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Population standard deviation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    /// Number of values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Sum of values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
}

impl MetricBlock {
    /// A scalar metric (`unit` + `avg`).
    pub fn scalar(unit: &str, value: f64) -> MetricBlock {
        MetricBlock {
            unit: unit.to_string(),
            avg: value,
            p1: None,
            p5: None,
            p10: None,
            p25: None,
            p50: None,
            p75: None,
            p90: None,
            p95: None,
            p99: None,
            p999: None,
            min: None,
            max: None,
            std: None,
            count: None,
            sum: None,
        }
    }

    /// A record metric with its full distribution.
    pub fn distribution(unit: &str, d: &Distribution) -> MetricBlock {
        MetricBlock {
            unit: unit.to_string(),
            avg: d.avg,
            p1: Some(d.p1),
            p5: Some(d.p5),
            p10: Some(d.p10),
            p25: Some(d.p25),
            p50: Some(d.p50),
            p75: Some(d.p75),
            p90: Some(d.p90),
            p95: Some(d.p95),
            p99: Some(d.p99),
            p999: Some(d.p999),
            min: Some(d.min),
            max: Some(d.max),
            std: Some(d.std),
            count: Some(d.count),
            sum: Some(d.sum),
        }
    }

    /// True when the block carries percentiles (a record metric).
    pub fn has_percentiles(&self) -> bool {
        self.p50.is_some()
    }
}

/// `run_info` of the export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run identifier.
    pub benchmark_id: String,
    /// `--random-seed`.
    pub random_seed: u64,
    /// Trial index (0 for a single run).
    pub trial: u64,
    /// The command line.
    pub cli_command: String,
}

/// One `error_summary` entry (AIPerf's `ErrorDetailsCount`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetailsCount {
    /// What failed.
    pub error_details: ErrorDetails,
    /// How many profile requests failed this way.
    pub count: u64,
}

/// AIPerf's `ErrorDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetails {
    /// HTTP status, when there was one.
    pub code: Option<u16>,
    /// infergate's failure class label (`timeout`, `http_status`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// First detail seen for this class and status.
    pub message: String,
}

/// What infergate adds under the top-level `infergate` key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfergateSection {
    /// Producer and version, e.g. `infergate-0.1.0`.
    pub version: String,
    /// infergate's own wire-format version (`infergate_model::SCHEMA_VERSION`).
    pub schema_version: String,
    /// Git commit of the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// SHA-256 of the request stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_stream_sha256: Option<String>,
    /// The full summary (confidence intervals, error breakdown, concurrency, p99.9, …).
    pub summary: Summary,
}

/// `profile_export_aiperf.json`. Serialises with AIPerf's key order.
#[derive(Debug, Clone, PartialEq)]
pub struct AiperfExport {
    /// AIPerf schema reproduced.
    pub schema_version: String,
    /// AIPerf release whose layout is reproduced.
    pub aiperf_version: String,
    /// Run identifier.
    pub benchmark_id: String,
    /// Metric blocks keyed by AIPerf tag, in AIPerf's order.
    pub metrics: Vec<(String, MetricBlock)>,
    /// Echo of the run's configuration, in AIPerf's `input_config` shape.
    pub input_config: Value,
    /// Seed and command line.
    pub run_info: RunInfo,
    /// The run was cancelled.
    pub was_cancelled: bool,
    /// Every planned request finished.
    pub is_complete: bool,
    /// Why not complete.
    pub incomplete_reason: Option<String>,
    /// Failures grouped by class and status.
    pub error_summary: Vec<ErrorDetailsCount>,
    /// Wall-clock start.
    pub start_time: String,
    /// Wall-clock end.
    pub end_time: String,
    /// infergate's additions.
    pub infergate: InfergateSection,
}

impl AiperfExport {
    /// The block for AIPerf tag `tag`.
    pub fn metric(&self, tag: &str) -> Option<&MetricBlock> {
        self.metrics.iter().find(|(t, _)| t == tag).map(|(_, b)| b)
    }

    /// As a JSON value (key order is lost: `serde_json::Value` objects are sorted).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for AiperfExport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(None)?;
        m.serialize_entry("schema_version", &self.schema_version)?;
        m.serialize_entry("aiperf_version", &self.aiperf_version)?;
        m.serialize_entry("benchmark_id", &self.benchmark_id)?;
        for (tag, block) in &self.metrics {
            m.serialize_entry(tag, block)?;
        }
        m.serialize_entry("input_config", &self.input_config)?;
        m.serialize_entry("run_info", &self.run_info)?;
        m.serialize_entry("was_cancelled", &self.was_cancelled)?;
        m.serialize_entry("is_complete", &self.is_complete)?;
        if let Some(reason) = &self.incomplete_reason {
            m.serialize_entry("incomplete_reason", reason)?;
        }
        m.serialize_entry("error_summary", &self.error_summary)?;
        m.serialize_entry("start_time", &self.start_time)?;
        m.serialize_entry("end_time", &self.end_time)?;
        m.serialize_entry("infergate", &self.infergate)?;
        m.end()
    }
}

/// A metric row of the export and CSV: AIPerf tag, CSV header, unit.
struct Row {
    tag: &'static str,
    header: &'static str,
    unit: &'static str,
}

const fn row(tag: &'static str, header: &'static str, unit: &'static str) -> Row {
    Row { tag, header, unit }
}

/// Record metrics (with distributions), AIPerf tag → header and display unit.
const RECORD_ROWS: [Row; 9] = [
    row("time_to_first_token", "Time to First Token", "ms"),
    row("time_to_second_token", "Time to Second Token", "ms"),
    row("request_latency", "Request Latency", "ms"),
    row("inter_token_latency", "Inter Token Latency", "ms"),
    row("inter_chunk_latency", "Inter Chunk Latency", "ms"),
    row(
        "output_token_throughput_per_user",
        "Output Token Throughput Per User",
        "tokens/sec/user",
    ),
    row(
        "e2e_output_token_throughput",
        "E2E Output Token Throughput",
        "tokens/sec/user",
    ),
    row("output_sequence_length", "Output Sequence Length", "tokens"),
    row("input_sequence_length", "Input Sequence Length", "tokens"),
];

fn record_distribution<'a>(s: &'a Summary, tag: &str) -> Option<&'a Distribution> {
    match tag {
        "time_to_first_token" => s.time_to_first_token.as_ref(),
        "time_to_second_token" => s.time_to_second_token.as_ref(),
        "request_latency" => s.request_latency.as_ref(),
        "inter_token_latency" => s.inter_token_latency.as_ref(),
        "inter_chunk_latency" => s.inter_chunk_latency.as_ref(),
        "output_token_throughput_per_user" => s.output_token_throughput_per_user.as_ref(),
        "e2e_output_token_throughput" => s.e2e_output_token_throughput.as_ref(),
        "output_sequence_length" => s.output_sequence_length.as_ref(),
        "input_sequence_length" => s.input_sequence_length.as_ref(),
        _ => None,
    }
}

/// Scalar metrics as (tag, CSV header, unit, value, is an integer count), in AIPerf's order.
fn scalar_rows(s: &Summary) -> Vec<(&'static str, &'static str, &'static str, f64, bool)> {
    let mut v = Vec::new();
    let mut add = |tag, header, unit, value: Option<f64>, int: bool| {
        if let Some(x) = value {
            v.push((tag, header, unit, x, int));
        }
    };
    let count = |n: u64| Some(n as f64);
    add(
        "output_token_throughput",
        "Output Token Throughput",
        "tokens/sec",
        s.output_token_throughput,
        false,
    );
    add(
        "total_token_throughput",
        "Total Token Throughput",
        "tokens/sec",
        s.total_token_throughput,
        false,
    );
    add(
        "input_token_throughput",
        "Input Token Throughput",
        "tokens/sec",
        s.input_token_throughput,
        false,
    );
    add(
        "request_throughput",
        "Request Throughput",
        "requests/sec",
        s.request_throughput,
        false,
    );
    if let Some(g) = &s.goodput {
        add("goodput", "Goodput", "requests/sec", g.goodput, false);
        add(
            "good_request_count",
            "Good Request Count",
            "requests",
            count(g.good_request_count),
            true,
        );
        add(
            "good_request_fraction",
            "GoodRequestFraction",
            "ratio",
            Some(g.good_request_fraction),
            false,
        );
    }
    add(
        "request_count",
        "Request Count",
        "requests",
        count(s.request_count),
        true,
    );
    if s.error_request_count > 0 {
        // AIPerf omits the error count on clean runs.
        add(
            "error_request_count",
            "Error Request Count",
            "requests",
            count(s.error_request_count),
            true,
        );
    }
    add(
        "completed_request_count",
        "Completed Requests (Success + Error)",
        "requests",
        count(s.completed_request_count).filter(|&n| n > 0.0),
        true,
    );
    add(
        "request_error_rate",
        "Request Error Rate",
        "%",
        s.request_error_rate,
        false,
    );
    add(
        "benchmark_duration",
        "Benchmark Duration",
        "sec",
        s.benchmark_duration_s,
        false,
    );
    add(
        "total_output_tokens",
        "Total Output Tokens",
        "tokens",
        count(s.total_osl),
        true,
    );
    add(
        "total_osl",
        "Total Output Sequence Length",
        "tokens",
        count(s.total_osl),
        true,
    );
    add(
        "total_isl",
        "Total Input Sequence Length",
        "tokens",
        count(s.total_isl),
        true,
    );
    add(
        "osl_mismatch_count",
        "OSL Mismatch Count",
        "requests",
        count(s.osl_mismatch_count),
        true,
    );
    add(
        "usage_discrepancy_count",
        "Usage Discrepancy Count",
        "requests",
        count(s.usage_discrepancy_count),
        true,
    );
    v
}

/// Builds `profile_export_aiperf.json` from a summary and the run's context.
pub fn aiperf_export(summary: &Summary, ctx: &ExportContext) -> AiperfExport {
    let mut metrics: Vec<(String, MetricBlock)> = Vec::new();
    for r in &RECORD_ROWS {
        if let Some(d) = record_distribution(summary, r.tag) {
            metrics.push((r.tag.to_string(), MetricBlock::distribution(r.unit, d)));
        }
    }
    for (tag, _, unit, value, _) in scalar_rows(summary) {
        metrics.push((tag.to_string(), MetricBlock::scalar(unit, value)));
    }
    if let Some(c) = &summary.concurrency {
        let mut b = MetricBlock::scalar("requests", c.avg);
        b.max = Some(c.max as f64);
        b.min = Some(c.min as f64);
        b.std = Some(c.std);
        b.p50 = Some(c.p50);
        b.p90 = Some(c.p90);
        b.p95 = Some(c.p95);
        b.p99 = Some(c.p99);
        metrics.push(("effective_concurrency".to_string(), b));
    }
    let error_summary = summary
        .errors
        .groups
        .iter()
        .map(|g| ErrorDetailsCount {
            error_details: ErrorDetails {
                code: g.status,
                kind: g.kind.label().to_string(),
                message: if g.sample_detail.is_empty() {
                    g.kind.label().to_string()
                } else {
                    g.sample_detail.clone()
                },
            },
            count: g.count,
        })
        .collect();
    AiperfExport {
        schema_version: AIPERF_SCHEMA_VERSION.to_string(),
        aiperf_version: AIPERF_COMPAT_VERSION.to_string(),
        benchmark_id: ctx.benchmark_id.clone(),
        metrics,
        input_config: input_config(ctx),
        run_info: RunInfo {
            benchmark_id: ctx.benchmark_id.clone(),
            random_seed: ctx.random_seed,
            trial: 0,
            cli_command: ctx.cli_command.clone(),
        },
        was_cancelled: ctx.was_cancelled,
        is_complete: ctx.is_complete,
        incomplete_reason: ctx.incomplete_reason.clone(),
        error_summary,
        start_time: ctx.start_time.clone(),
        end_time: ctx.end_time.clone(),
        infergate: InfergateSection {
            version: infergate_version(),
            schema_version: infergate_model::SCHEMA_VERSION.to_string(),
            git_commit: ctx.git_commit.clone(),
            request_stream_sha256: ctx.request_stream_sha256.clone(),
            summary: summary.clone(),
        },
    }
}

/// AIPerf's `input_config` shape, filled from the context.
fn input_config(ctx: &ExportContext) -> Value {
    let mut profiling = json!({ "name": "profiling", "kind": "profiling" });
    match ctx.load {
        Some(LoadMode::Closed { concurrency }) => {
            profiling["type"] = json!("concurrency");
            profiling["concurrency"] = json!(concurrency);
        }
        Some(LoadMode::Open {
            rate,
            arrivals,
            max_concurrency,
        }) => {
            profiling["type"] = json!(match arrivals {
                Arrivals::Constant => "constant",
                Arrivals::Poisson => "poisson",
            });
            profiling["rate"] = json!(rate);
            if let Some(c) = max_concurrency {
                profiling["concurrency"] = json!(c);
            }
        }
        None => {}
    }
    if let Some(n) = ctx.request_count {
        profiling["requests"] = json!(n);
    }
    if let Some(d) = ctx.duration_s {
        profiling["duration"] = json!(d);
    }
    let mut phases = Vec::new();
    if ctx.warmup_request_count > 0 {
        let mut warmup = json!({
            "name": "warmup",
            "kind": "warmup",
            "exclude_from_results": true,
            "requests": ctx.warmup_request_count,
        });
        for key in ["type", "concurrency", "rate"] {
            if let Some(v) = profiling.get(key) {
                warmup[key] = v.clone();
            }
        }
        phases.push(warmup);
    }
    phases.push(profiling);
    let mut endpoint = json!({
        "urls": ctx.urls,
        "type": ctx.endpoint_type,
        "streaming": ctx.streaming,
    });
    if !ctx.extra_inputs.is_empty() {
        endpoint["extra"] = Value::Object(ctx.extra_inputs.clone());
    }
    let mut config = json!({
        "models": { "items": [ { "name": ctx.model } ] },
        "endpoint": endpoint,
        "datasets": [ {
            "name": "main",
            "type": "synthetic",
            "entries": ctx.dataset_entries,
            "random_seed": ctx.random_seed,
            "prompts": {
                "isl": { "mean": ctx.isl_mean, "stddev": ctx.isl_stddev },
                "osl": { "mean": ctx.osl_mean, "stddev": ctx.osl_stddev },
            },
        } ],
        "phases": phases,
        "tokenizer": { "name": ctx.tokenizer },
    });
    if let Some(dir) = &ctx.artifact_dir {
        config["artifacts"] = json!({ "dir": dir });
    }
    config
}

/// The AIPerf-style CSV metric table (`profile_export_aiperf.csv`): section 1, record metrics
/// with `Metric,avg,min,max,sum,p1,p5,p10,p25,p50,p75,p90,p95,p99,std` (plus `p999` appended
/// last); a blank line; section 2, scalar metrics as `Metric,Value`. Numbers with two decimals,
/// counts as integers, as AIPerf writes them.
pub fn records_csv(summary: &Summary) -> String {
    let mut out = String::new();
    let mut any = false;
    for r in &RECORD_ROWS {
        let Some(d) = record_distribution(summary, r.tag) else {
            continue;
        };
        if !any {
            out.push_str("Metric,avg,min,max,sum,p1,p5,p10,p25,p50,p75,p90,p95,p99,std,p999\n");
            any = true;
        }
        let _ = write!(out, "{} ({})", r.header, r.unit);
        for v in [
            d.avg, d.min, d.max, d.sum, d.p1, d.p5, d.p10, d.p25, d.p50, d.p75, d.p90, d.p95,
            d.p99, d.std, d.p999,
        ] {
            let _ = write!(out, ",{v:.2}");
        }
        out.push('\n');
    }
    let scalars = scalar_rows(summary);
    if !scalars.is_empty() {
        if any {
            out.push('\n');
        }
        out.push_str("Metric,Value\n");
        for (_, header, unit, value, int) in scalars {
            // AIPerf leaves the unit off count-like metrics.
            if unit == "requests" {
                out.push_str(header);
            } else {
                let _ = write!(out, "{header} ({unit})");
            }
            if int {
                let _ = writeln!(out, ",{}", value as u64);
            } else {
                let _ = writeln!(out, ",{value:.2}");
            }
        }
    }
    out
}

/// One value of a per-request metric in the JSONL export: `{"value": …, "unit": …}` (AIPerf's
/// `profile_export.jsonl` shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: String,
}

#[derive(Serialize)]
struct JsonlLine<'a> {
    #[serde(flatten)]
    record: &'a RequestRecord,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    metrics: serde_json::Map<String, Value>,
}

/// One line of the per-request JSONL export (no trailing newline): the record's fields verbatim
/// (so a line parses back as a `RequestRecord`) plus, for successful requests, a `metrics`
/// object of AIPerf tags → `{value, unit}`.
pub fn record_jsonl_line(record: &RequestRecord, streaming: bool) -> String {
    let mut metrics = serde_json::Map::new();
    if record.is_success() {
        let m = RecordMetrics::of(record, streaming);
        let mut put = |tag: &str, unit: &str, v: Option<f64>| {
            if let Some(value) = v {
                metrics.insert(tag.to_string(), json!({ "value": value, "unit": unit }));
            }
        };
        put("time_to_first_token", "ms", m.time_to_first_token);
        put("time_to_second_token", "ms", m.time_to_second_token);
        put("request_latency", "ms", m.request_latency);
        put("inter_token_latency", "ms", m.inter_token_latency);
        put(
            "output_token_throughput_per_user",
            "tokens/sec/user",
            m.output_token_throughput_per_user,
        );
        put(
            "e2e_output_token_throughput",
            "tokens/sec/user",
            m.e2e_output_token_throughput,
        );
        put(
            "input_sequence_length",
            "tokens",
            Some(f64::from(m.input_sequence_length)),
        );
        put(
            "output_sequence_length",
            "tokens",
            Some(f64::from(m.output_sequence_length)),
        );
    }
    serde_json::to_string(&JsonlLine { record, metrics }).unwrap_or_default()
}
