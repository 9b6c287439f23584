//! Synthetic runs for the report's tests: a closed-loop deployment simulated with a small seeded
//! PRNG, so two runs can share a workload and differ only in noise (or in a deliberate fault).

#![allow(dead_code)]

use infergate_model::{Failure, FailureKind, LoadMode, Phase, RequestRecord, RunInfo, Usage};
use infergate_report::{
    ConstraintView, ProbeAttemptView, ProbeView, ReportInput, ScrapeSample, SweepPointView,
    SweepView, VerdictView,
};
use infergate_stats::{aiperf_export, ExportContext, Summary, SummaryOptions};
use serde_json::json;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

/// SplitMix64: tiny, seedable, good enough for test noise.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// What to simulate.
#[derive(Clone)]
pub struct Synth {
    /// Seed of the noise (not of the request stream).
    pub noise_seed: u64,
    pub requests: usize,
    pub warmup: usize,
    pub concurrency: u32,
    pub workers: u32,
    pub output_tokens: u32,
    pub ttft_ms: f64,
    pub itl_ms: f64,
    /// Service-time multiplier: 1.0 healthy, 1/0.85 for 15 % less throughput.
    pub slowdown: f64,
    /// Every n-th profile request fails (HTTP 503).
    pub fail_every: Option<usize>,
    /// Requests sent to this worker between these times (s) wait this long (ms) for a first token.
    pub stall: Option<(u32, f64, f64, f64)>,
}

impl Default for Synth {
    fn default() -> Synth {
        Synth {
            noise_seed: 1,
            requests: 2000,
            warmup: 32,
            concurrency: 32,
            workers: 4,
            output_tokens: 64,
            ttft_ms: 80.0,
            itl_ms: 8.0,
            slowdown: 1.0,
            fail_every: None,
            stall: None,
        }
    }
}

pub fn run_info(s: &Synth) -> RunInfo {
    let mut options = serde_json::Map::new();
    options.insert("concurrency".into(), json!(s.concurrency));
    options.insert("request-count".into(), json!(s.requests));
    options.insert("output-tokens-mean".into(), json!(s.output_tokens));
    options.insert("url".into(), json!("http://127.0.0.1:8000"));
    RunInfo {
        schema_version: infergate_model::SCHEMA_VERSION.into(),
        tool_version: "0.1.0".into(),
        git_commit: "abc1234".into(),
        command: "bench".into(),
        started_at: "2026-11-29T03:00:00Z".into(),
        started_at_unix_ms: 1_795_921_200_000,
        endpoint: "http://127.0.0.1:8000".into(),
        model: "Qwen/Qwen3-8B".into(),
        random_seed: 100,
        request_stream_sha256: "5f".repeat(32),
        total_requests: (s.requests + s.warmup) as u64,
        warmup_requests: s.warmup as u64,
        load: LoadMode::Closed {
            concurrency: s.concurrency,
        },
        options,
    }
}

/// Simulate the run's records.
pub fn records(s: &Synth) -> Vec<RequestRecord> {
    let mut rng = Rng::new(s.noise_seed);
    let mut slots: BinaryHeap<Reverse<(u64, u32)>> =
        (0..s.concurrency).map(|c| Reverse((0, c))).collect();
    let mut out = Vec::with_capacity(s.requests + s.warmup);
    let ms = 1_000_000.0;
    for i in 0..(s.requests + s.warmup) {
        let Some(Reverse((free, slot))) = slots.pop() else {
            break;
        };
        let send = free + 200_000; // 0.2 ms client turnaround
        let worker = (i as u32) % s.workers;
        let phase = if i < s.warmup {
            Phase::Warmup
        } else {
            Phase::Profile
        };
        let mut ttft = s.ttft_ms * s.slowdown * (0.3 * rng.normal()).exp();
        if let Some((w, from, to, extra)) = s.stall {
            let t = send as f64 / 1e9;
            if w == worker && t >= from && t < to {
                ttft += extra;
            }
        }
        let failing =
            phase == Phase::Profile && s.fail_every.is_some_and(|n| (i - s.warmup) % n == n - 1);
        let mut content = Vec::with_capacity(s.output_tokens as usize);
        let mut t = send as f64 + ttft * ms;
        let end = if failing {
            send + (5.0 * ms) as u64
        } else {
            for k in 0..s.output_tokens {
                if k > 0 {
                    t += s.itl_ms * s.slowdown * (1.0 + 0.2 * (2.0 * rng.unit() - 1.0)) * ms;
                }
                content.push(t as u64);
            }
            *content.last().unwrap_or(&send) + 100_000
        };
        out.push(RequestRecord {
            index: i as u64,
            phase,
            entry: (i % 100) as u32,
            scheduled_ns: None,
            send_ns: send,
            headers_ns: Some(send + 1_000_000),
            content_ns: content,
            end_ns: end,
            input_tokens: 128,
            requested_output_tokens: s.output_tokens,
            client_output_tokens: if failing { 0 } else { s.output_tokens },
            usage: (!failing).then_some(Usage {
                prompt_tokens: 128,
                completion_tokens: s.output_tokens,
            }),
            worker: Some(format!("worker-{worker}")),
            failure: failing
                .then(|| Failure::new(FailureKind::HttpStatus, Some(503), "service unavailable")),
        });
        slots.push(Reverse((end, slot)));
    }
    out
}

/// The AIPerf-compatible export, written by the stats crate exactly as a run writes it.
pub fn aiperf(records: &[RequestRecord]) -> serde_json::Value {
    let summary = Summary::from_records(records, &SummaryOptions::default());
    let ctx = ExportContext {
        model: "Qwen/Qwen3-8B".into(),
        streaming: true,
        random_seed: 100,
        ..ExportContext::default()
    };
    aiperf_export(&summary, &ctx).to_value()
}

/// A plain bench run: run, records and export, nothing else.
pub fn bench(s: &Synth) -> ReportInput {
    bench_from(s, &records(s))
}

/// A plain bench run made of these records (for tests that alter them).
pub fn bench_from(s: &Synth, records: &[RequestRecord]) -> ReportInput {
    let mut input = ReportInput::new(run_info(s), records.to_vec());
    input.aiperf = aiperf(records);
    input
}

/// A gated run with every optional part filled in.
pub fn full(s: &Synth) -> ReportInput {
    let mut input = bench(s);
    let tput = input.aiperf["output_token_throughput"]["avg"]
        .as_f64()
        .unwrap_or(0.0);
    let ttft99 = input.aiperf["time_to_first_token"]["p99"]
        .as_f64()
        .unwrap_or(0.0);
    input.verdict = Some(VerdictView {
        status: "passed".into(),
        message: "throughput and TTFT p99 met with 95 % confidence".into(),
        confidence: Some(0.95),
        constraints: vec![
            ConstraintView {
                name: "inference-throughput".into(),
                raw: ">= 5000".into(),
                measured: Some(tput),
                unit: "tokens/sec".into(),
                threshold: Some(5000.0),
                effective_threshold: Some(4500.0),
                tolerance_pct: Some(10.0),
                ci_low: Some(tput * 0.98),
                ci_high: Some(tput * 1.02),
                status: "passed".into(),
                message: String::new(),
            },
            ConstraintView {
                name: "inference-ttft-p99".into(),
                raw: "<= 2000".into(),
                measured: Some(ttft99),
                unit: "ms".into(),
                threshold: Some(2000.0),
                effective_threshold: Some(2200.0),
                tolerance_pct: Some(10.0),
                ci_low: Some(ttft99 * 0.9),
                ci_high: Some(ttft99 * 1.1),
                status: "passed".into(),
                message: String::new(),
            },
        ],
        stall: vec![
            "worker-2 held 96 running requests from t=3 s to t=6 s while the others held ≤ 32"
                .into(),
        ],
        self_check: vec![],
        recipe: Some("h100-eks".into()),
        nodes: Some(1),
        gpus: Some(8),
        gpus_per_node: Some(8),
    });
    input.probe = Some(ProbeView {
        ready: true,
        time_to_ready_s: Some(42.5),
        first_success_latency_s: Some(12.25),
        steady_latency_s: Some(0.081),
        stuck_stage: None,
        message: "ready after 4 attempts".into(),
        attempts: vec![
            ProbeAttemptView {
                start_s: 0.0,
                duration_s: 0.01,
                outcome: "connect_refused".into(),
                status: None,
                detail: "connection refused".into(),
            },
            ProbeAttemptView {
                start_s: 10.0,
                duration_s: 0.2,
                outcome: "http_status".into(),
                status: Some(503),
                detail: "not ready".into(),
            },
            ProbeAttemptView {
                start_s: 20.0,
                duration_s: 0.1,
                outcome: "model_not_listed".into(),
                status: Some(200),
                detail: String::new(),
            },
            ProbeAttemptView {
                start_s: 30.25,
                duration_s: 12.25,
                outcome: "ok".into(),
                status: Some(200),
                detail: String::new(),
            },
        ],
    });
    input.sweep = Some(SweepView {
        axis: "concurrency".into(),
        gpus: Some(8),
        points: [8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
            .iter()
            .enumerate()
            .map(|(k, &c)| SweepPointView {
                concurrency: c,
                throughput: 1000.0 * c.min(100.0) * (1.0 + 0.01 * k as f64),
                request_throughput: Some(c.min(100.0) / 10.0),
                ttft_p50_ms: Some(50.0 + (c - 100.0).max(0.0) * 5.0),
                ttft_p99_ms: Some(90.0 + (c - 100.0).max(0.0) * 12.0),
                itl_p50_ms: Some(8.0),
                errors: 0,
            })
            .collect(),
        knee_index: Some(4),
        recommended_per_gpu: Some(8.0),
        message: "throughput plateaus at 128; TTFT p99 bends there".into(),
    });
    input.scrape = (0..40)
        .flat_map(|k| {
            (0..s.workers).map(move |w| ScrapeSample {
                t_s: f64::from(k) * 0.5,
                worker: format!("worker-{w}"),
                running: Some(f64::from(8 + (k + w) % 3)),
                waiting: Some(f64::from((k * w) % 4)),
                kv_usage: Some(0.25 + 0.01 * f64::from(w)),
            })
        })
        .collect();
    input
}

/// Write `input`, made of `records`, as an output directory (the contract `load_dir` reads).
pub fn write_dir(input: &ReportInput, records: &[RequestRecord], dir: &Path) {
    let w =
        |name: &str, text: String| std::fs::write(dir.join(name), text).expect("write test file");
    w(
        infergate_report::RUN_FILE,
        serde_json::to_string_pretty(&input.run).unwrap(),
    );
    let mut lines = String::new();
    for r in records {
        lines.push_str(&serde_json::to_string(r).unwrap());
        lines.push('\n');
    }
    w(infergate_report::RECORDS_FILE, lines);
    if !input.aiperf.is_null() {
        w(
            infergate_report::AIPERF_FILE,
            serde_json::to_string_pretty(&input.aiperf).unwrap(),
        );
    }
    if let Some(v) = &input.verdict {
        w(
            infergate_report::VERDICT_FILE,
            serde_json::to_string_pretty(v).unwrap(),
        );
    }
    if let Some(v) = &input.probe {
        w(
            infergate_report::PROBE_FILE,
            serde_json::to_string_pretty(v).unwrap(),
        );
    }
    if let Some(v) = &input.sweep {
        w(
            infergate_report::SWEEP_FILE,
            serde_json::to_string_pretty(v).unwrap(),
        );
    }
    if !input.scrape.is_empty() {
        let mut lines = String::new();
        for s in &input.scrape {
            lines.push_str(&serde_json::to_string(s).unwrap());
            lines.push('\n');
        }
        w(infergate_report::SCRAPE_FILE, lines);
    }
}
