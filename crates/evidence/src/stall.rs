//! Stall detection and attribution: is a bad TTFT tail one worker's fault (a stall, or a
//! permanently slow worker), a spike in time, or the diffuse jitter of a saturated deployment?
//!
//! Evidence, strongest first:
//! 1. per-worker Prometheus samples scraped during the run ([`MetricsSample`]: running and
//!    waiting requests and KV usage, vLLM, Dynamo and SGLang names, see
//!    [`samples_from_scrape`]): a worker holding far more requests than the others is a backlog;
//! 2. per-request records naming the worker that served them ([`RequestRecord::worker`]): the
//!    share of slow requests per worker, each worker's TTFT p99, and each worker's requests in
//!    flight as the client saw them (a backlog without any scrape);
//! 3. the records alone: when the slow requests were sent (clustered or spread over the run)
//!    and token-stream gaps.
//!
//! Every threshold is a named constant below and in docs/verdicts.md ("Stall attribution").

use crate::fmt;
use infergate_model::{Nanos, Phase, RequestRecord};
use infergate_stats::percentile_sorted;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Fewer slow requests than this are not a tail worth a shape (`Clean`).
pub const MIN_SLOW: u64 = 10;
/// Share of the slow requests the blamed worker must hold (at least).
pub const BLAME_SHARE: f64 = 0.5;
/// ... and at least this many times its share of all requests.
pub const BLAME_OVER_TRAFFIC: f64 = 2.0;
/// ... and its TTFT p99 must be at least this many times the other workers' pooled p99.
pub const BLAME_SEVERITY: f64 = 2.0;
/// Share of the slow requests whose send times define the slow window.
pub const CLUSTER_SHARE: f64 = 0.9;
/// The slow window (or the backlog) is "clustered in time" when it covers at most this share of
/// the run.
pub const CLUSTER_SPAN: f64 = 0.5;
/// A worker holds a backlog when its requests (running + waiting) are at least this many times
/// the busiest other worker's ...
pub const BACKLOG_RATIO: f64 = 2.0;
/// ... and at least this many more.
pub const BACKLOG_MIN_EXCESS: f64 = 16.0;
/// Without a ceiling, a request is slow when its TTFT exceeds the run's p99 and this many times
/// the median TTFT.
pub const TAIL_OVER_MEDIAN: f64 = 10.0;
/// A token-stream gap is a gap over max(this, [`GAP_OVER_MEDIAN`] × the median gap).
pub const GAP_FLOOR_MS: f64 = 1000.0;
/// See [`GAP_FLOOR_MS`].
pub const GAP_OVER_MEDIAN: f64 = 20.0;
/// Time windows the profile phase is cut into to tell a stall from a permanently slow worker
/// by the blamed worker's token rate.
pub const SLOWDOWN_WINDOWS: u64 = 10;
/// The blamed worker is slowed down in a window when the median other worker produced at least
/// this many times as many tokens there.
pub const SLOWDOWN_RATIO: f64 = 1.5;
/// Points of the per-worker in-flight series rebuilt from records.
const RECORD_SERIES_POINTS: u64 = 400;

/// One worker's state at one scrape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSample {
    /// When it was scraped, on the run's clock (the records' epoch).
    pub t_ns: Nanos,
    /// The worker's name (as the scrape labels or the caller named it).
    pub worker: String,
    /// Requests in its running batch.
    pub running: f64,
    /// Requests waiting for admission.
    pub waiting: f64,
    /// KV-cache usage, 0–1, when exposed.
    pub kv_usage: Option<f64>,
}

/// One sample of Prometheus text exposition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromSample {
    /// Metric name (vLLM's contain a colon: `vllm:num_requests_running`).
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// The value (`NaN`, `+Inf`, `-Inf` allowed).
    pub value: f64,
}

impl PromSample {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses Prometheus text exposition (format 0.0.4, and the OpenMetrics lines it shares):
/// comments and blank lines are skipped, a trailing timestamp is ignored, label values are
/// unescaped (`\\`, `\"`, `\n`). A malformed line is skipped, never an error: a scrape is
/// supporting evidence, not an input to refuse.
pub fn parse_prometheus_text(text: &str) -> Vec<PromSample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<PromSample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, consumed) = parse_labels(after)?;
        labels = parsed;
        rest = &after[consumed..];
    }
    let value_text = rest.split_whitespace().next()?;
    let value = match value_text {
        "NaN" | "nan" => f64::NAN,
        "+Inf" | "Inf" | "inf" => f64::INFINITY,
        "-Inf" | "-inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(PromSample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `k="v",k2="v2"}`; returns the labels and the bytes consumed (including `}`).
fn parse_labels(s: &str) -> Option<(Vec<(String, String)>, usize)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut labels = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b',') {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        if bytes[i] == b'}' {
            return Some((labels, i + 1));
        }
        let key_start = i;
        while i < bytes.len() && bytes[i] != b'=' && bytes[i] != b'}' {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            return None;
        }
        let key = s[key_start..i].trim().to_string();
        i += 1;
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
        let mut value = String::new();
        let mut chars = s[i..].char_indices();
        let mut closed = None;
        while let Some((off, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => return None,
                },
                '"' => {
                    closed = Some(i + off + 1);
                    break;
                }
                c => value.push(c),
            }
        }
        i = closed?;
        labels.push((key, value));
    }
}

/// What a series measures, by its (vLLM, Dynamo or SGLang) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Running,
    Waiting,
    Kv,
}

/// Series names read, per field, preferred first.
const NAMES: [(&str, Field); 8] = [
    ("vllm:num_requests_running", Field::Running),
    ("sglang:num_running_reqs", Field::Running),
    ("dynamo_component_inflight_requests", Field::Running),
    ("vllm:num_requests_waiting", Field::Waiting),
    ("sglang:num_queue_reqs", Field::Waiting),
    ("vllm:kv_cache_usage_perc", Field::Kv),
    ("vllm:gpu_cache_usage_perc", Field::Kv),
    (
        "dynamo_component_kvstats_gpu_cache_usage_percent",
        Field::Kv,
    ),
];

/// Labels naming the worker, preferred first.
const WORKER_LABELS: [&str; 4] = ["worker", "worker_id", "instance_id", "pod"];
/// Labels naming an engine inside one scrape target.
const ENGINE_LABELS: [&str; 2] = ["engine", "dp_rank"];

/// Turns one scrape (taken at `t_ns` on the run's clock, from `target` when the caller scrapes
/// each worker separately) into one [`MetricsSample`] per worker.
///
/// The worker is named by the first label of `worker`, `worker_id`, `instance_id`, `pod`;
/// otherwise by `target` (with `/<engine>` appended when an `engine` or `dp_rank` label other
/// than `0` is present); otherwise by the engine label; otherwise `0`. Other labels
/// (`model_name`, `model`, Dynamo's `dynamo_namespace` …) are ignored. Series of other names are
/// ignored; a worker with none of the running/waiting series is left out.
pub fn samples_from_scrape(
    t_ns: Nanos,
    target: Option<&str>,
    samples: &[PromSample],
) -> Vec<MetricsSample> {
    // (worker) → (field → (preference, value))
    let mut per: BTreeMap<String, [Option<(usize, f64)>; 3]> = BTreeMap::new();
    for s in samples {
        let Some((pref, field)) = NAMES
            .iter()
            .enumerate()
            .find(|(_, (n, _))| *n == s.name)
            .map(|(i, (_, f))| (i, *f))
        else {
            continue;
        };
        if !s.value.is_finite() {
            continue;
        }
        let worker = worker_name(s, target);
        let slot = &mut per.entry(worker).or_default()[field as usize];
        match slot {
            Some((p, v)) if *p == pref => *v += s.value, // same series, several label sets
            Some((p, _)) if *p < pref => {}
            _ => *slot = Some((pref, s.value)),
        }
    }
    per.into_iter()
        .filter(|(_, f)| f[0].is_some() || f[1].is_some())
        .map(|(worker, f)| MetricsSample {
            t_ns,
            worker,
            running: f[0].map_or(0.0, |x| x.1),
            waiting: f[1].map_or(0.0, |x| x.1),
            kv_usage: f[2].map(|x| x.1),
        })
        .collect()
}

fn worker_name(s: &PromSample, target: Option<&str>) -> String {
    if let Some(w) = WORKER_LABELS.iter().find_map(|k| s.label(k)) {
        return w.to_string();
    }
    let engine = ENGINE_LABELS.iter().find_map(|k| s.label(k));
    match (target, engine) {
        (Some(t), Some(e)) if e != "0" => format!("{t}/{e}"),
        (Some(t), _) => t.to_string(),
        (None, Some(e)) => e.to_string(),
        (None, None) => "0".to_string(),
    }
}

/// What to analyse against.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct StallOptions {
    /// The effective TTFT ceiling (ms, tolerance included): a request over it is slow. `None`:
    /// slow = over the run's p99 and [`TAIL_OVER_MEDIAN`] × the median.
    pub ttft_ceiling_ms: Option<f64>,
    /// Token-stream gap threshold, ms. `None`: max([`GAP_FLOOR_MS`], [`GAP_OVER_MEDIAN`] × the
    /// median gap).
    pub gap_ms: Option<f64>,
}

/// The shape of a run's TTFT tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TailShape {
    /// No tail worth a name: fewer than [`MIN_SLOW`] slow requests.
    Clean,
    /// Slow requests spread over the run and over the workers: the jitter of a deployment at
    /// its saturation knee.
    KneeJitter,
    /// Slow requests clustered in time, not attributable to one worker (or workers unknown).
    Burst,
    /// One worker, for part of the run: a transient stall.
    Stall,
    /// One worker, throughout the run: a permanently slow worker.
    SlowWorker,
}

impl TailShape {
    /// True for the shapes that blame one worker (a health defect, not noise).
    pub fn is_attributed(self) -> bool {
        matches!(self, TailShape::Stall | TailShape::SlowWorker)
    }

    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TailShape::Clean => "clean",
            TailShape::KneeJitter => "knee_jitter",
            TailShape::Burst => "burst",
            TailShape::Stall => "stall",
            TailShape::SlowWorker => "slow_worker",
        }
    }
}

/// One worker's share of a run, from the records that name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerTail {
    /// Worker name.
    pub worker: String,
    /// Successful profile requests it served.
    pub requests: u64,
    /// Of which slow.
    pub slow: u64,
    /// Its TTFT p50, ms.
    pub ttft_p50_ms: f64,
    /// Its TTFT p99, ms.
    pub ttft_p99_ms: f64,
    /// Most of its requests in flight at once, as the client saw them.
    pub peak_in_flight: u64,
    /// Its longest token-stream gap, ms.
    pub max_gap_ms: f64,
}

/// Where a worker's backlog was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BacklogSource {
    /// Scraped `/metrics` (running and waiting separately).
    Metrics,
    /// Requests in flight per worker, rebuilt from the records.
    Records,
}

/// A period in which one worker held far more requests than any other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backlog {
    /// The worker.
    pub worker: String,
    /// First sample of the period, run clock.
    pub from_ns: Nanos,
    /// Last sample of the period, run clock.
    pub to_ns: Nanos,
    /// Its most running requests in the period (in flight, for [`BacklogSource::Records`]).
    pub peak_running: f64,
    /// Its most waiting requests in the period (0 for records).
    pub peak_waiting: f64,
    /// The most any other worker held (running + waiting) in the period.
    pub others_max: f64,
    /// Its highest KV usage in the period, 0–1.
    pub peak_kv: Option<f64>,
    /// Where it was seen.
    pub source: BacklogSource,
    /// Share of the sampled time span the period covers, 0–1.
    pub span_share: f64,
}

/// The analysis of one run's tail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StallFinding {
    /// The shape.
    pub shape: TailShape,
    /// TTFT over which a request is slow, ms.
    pub slow_threshold_ms: f64,
    /// Whether that threshold is the gate's ceiling (else the run's own tail).
    pub from_ceiling: bool,
    /// Successful profile requests with a TTFT.
    pub requests: u64,
    /// Slow requests.
    pub slow: u64,
    /// Requests with a token-stream gap over `gap_threshold_ms`.
    pub gapped: u64,
    /// The gap threshold, ms.
    pub gap_threshold_ms: f64,
    /// Profile sends, first to last (run clock).
    pub run_window: Option<(Nanos, Nanos)>,
    /// Shortest send-time window holding [`CLUSTER_SHARE`] of the slow requests.
    pub slow_window: Option<(Nanos, Nanos)>,
    /// The blamed worker, when one is.
    pub worker: Option<String>,
    /// The blamed (or most-slow) worker's share of the slow requests, 0–1.
    pub worker_share_of_slow: Option<f64>,
    /// Its share of all requests, 0–1.
    pub worker_share_of_traffic: Option<f64>,
    /// Its TTFT p99, ms.
    pub worker_ttft_p99_ms: Option<f64>,
    /// The other workers' pooled TTFT p99, ms.
    pub others_ttft_p99_ms: Option<f64>,
    /// The backlog seen, if any.
    pub backlog: Option<Backlog>,
    /// Share of the slow requests queued behind the backlog worker (served by it when the
    /// records name workers; else waiting for a first token while the backlog lasted), 0–1.
    pub slow_behind_backlog: Option<f64>,
    /// Number of distinct workers named by the records (0 when unknown).
    pub workers_seen: usize,
    /// Per worker, from the records.
    pub workers: Vec<WorkerTail>,
}

struct Req {
    send: Nanos,
    first: Nanos,
    end: Nanos,
    ttft_ms: f64,
    worker: Option<usize>,
    max_gap_ms: f64,
}

/// Analyses one run: `records` (any phase; only successful profile requests count) and
/// `metrics` (possibly empty) on the same clock.
pub fn analyse(
    records: &[RequestRecord],
    metrics: &[MetricsSample],
    opts: &StallOptions,
) -> StallFinding {
    let mut names: Vec<String> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut reqs: Vec<Req> = Vec::with_capacity(records.len());
    let mut gaps: Vec<f64> = Vec::new();
    let mut named = 0usize;
    let need_gap_median = !opts.gap_ms.is_some_and(f64::is_finite);
    for r in records {
        if r.phase != Phase::Profile || !r.is_success() {
            continue;
        }
        let (Some(&first), Some(ttft)) = (r.content_ns.first(), r.ttft_ns()) else {
            continue;
        };
        let mut max_gap = 0u64;
        for w in r.content_ns.windows(2) {
            let g = w[1].saturating_sub(w[0]);
            max_gap = max_gap.max(g);
            if need_gap_median {
                gaps.push(g as f64 / 1e6);
            }
        }
        let worker = r.worker.as_deref().map(|w| {
            named += 1;
            *index.entry(w).or_insert_with(|| {
                names.push(w.to_string());
                names.len() - 1
            })
        });
        reqs.push(Req {
            send: r.send_ns,
            first,
            end: r.end_ns.max(first),
            ttft_ms: ttft as f64 / 1e6,
            worker,
            max_gap_ms: max_gap as f64 / 1e6,
        });
    }
    let n = reqs.len() as u64;
    let mut ttfts: Vec<f64> = reqs.iter().map(|r| r.ttft_ms).collect();
    ttfts.sort_unstable_by(f64::total_cmp);
    let median = percentile_sorted(&ttfts, 50.0).unwrap_or(0.0);
    let p99 = percentile_sorted(&ttfts, 99.0).unwrap_or(0.0);
    let (slow_threshold_ms, from_ceiling) = match opts.ttft_ceiling_ms {
        Some(c) if c.is_finite() => (c, true),
        _ => (p99.max(TAIL_OVER_MEDIAN * median), false),
    };
    let gap_threshold_ms = opts.gap_ms.filter(|g| g.is_finite()).unwrap_or_else(|| {
        let m = median_of(&mut gaps);
        GAP_FLOOR_MS.max(GAP_OVER_MEDIAN * m)
    });
    let is_slow = |r: &Req| r.ttft_ms > slow_threshold_ms;
    let slow = reqs.iter().filter(|r| is_slow(r)).count() as u64;
    let gapped = reqs
        .iter()
        .filter(|r| r.max_gap_ms > gap_threshold_ms)
        .count() as u64;

    let run_window = reqs
        .iter()
        .map(|r| r.send)
        .fold(None, |acc: Option<(Nanos, Nanos)>, t| {
            Some(acc.map_or((t, t), |(a, b)| (a.min(t), b.max(t))))
        });
    let mut slow_sends: Vec<Nanos> = reqs.iter().filter(|r| is_slow(r)).map(|r| r.send).collect();
    slow_sends.sort_unstable();
    let slow_window = shortest_window(&slow_sends, CLUSTER_SHARE);

    // Per worker, when (nearly) every record names one.
    let workers_known = names.len() >= 2 && named * 10 >= reqs.len() * 9;
    let workers = if workers_known {
        worker_tails(&reqs, &names, slow_threshold_ms)
    } else {
        Vec::new()
    };
    let mut finding = StallFinding {
        shape: TailShape::Clean,
        slow_threshold_ms,
        from_ceiling,
        requests: n,
        slow,
        gapped,
        gap_threshold_ms,
        run_window,
        slow_window,
        worker: None,
        worker_share_of_slow: None,
        worker_share_of_traffic: None,
        worker_ttft_p99_ms: None,
        others_ttft_p99_ms: None,
        backlog: None,
        slow_behind_backlog: None,
        workers_seen: if workers_known { names.len() } else { 0 },
        workers,
    };

    // The worker holding most slow requests, and whether the records blame it.
    if let Some((wi, top)) = finding
        .workers
        .iter()
        .enumerate()
        .max_by_key(|(_, w)| w.slow)
        .filter(|(_, w)| w.slow > 0)
    {
        let share_slow = top.slow as f64 / slow.max(1) as f64;
        let share_traffic = top.requests as f64 / n.max(1) as f64;
        let mut others: Vec<f64> = reqs
            .iter()
            .filter(|r| r.worker != index.get(top.worker.as_str()).copied())
            .map(|r| r.ttft_ms)
            .collect();
        others.sort_unstable_by(f64::total_cmp);
        let others_p99 = percentile_sorted(&others, 99.0);
        finding.worker_share_of_slow = Some(share_slow);
        finding.worker_share_of_traffic = Some(share_traffic);
        finding.worker_ttft_p99_ms = Some(top.ttft_p99_ms);
        finding.others_ttft_p99_ms = others_p99;
        let blamed_by_records = slow >= MIN_SLOW
            && share_slow >= BLAME_SHARE
            && share_slow >= BLAME_OVER_TRAFFIC * share_traffic
            && others_p99.is_none_or(|o| top.ttft_p99_ms >= BLAME_SEVERITY * o);
        if blamed_by_records {
            finding.worker = Some(finding.workers[wi].worker.clone());
        }
    }

    // A backlog: from the scrape when there is one, else from the records' in-flight counts.
    let backlog = if !metrics.is_empty() {
        find_backlog(metrics, BacklogSource::Metrics)
    } else if workers_known {
        find_backlog(&in_flight_series(&reqs, &names), BacklogSource::Records)
    } else {
        None
    };
    if let Some(b) = &backlog {
        let behind = if workers_known && names.contains(&b.worker) {
            let bi = index.get(b.worker.as_str()).copied();
            reqs.iter().filter(|r| is_slow(r) && r.worker == bi).count()
        } else {
            // Workers not named in the records: a slow request was "behind" the backlog when it
            // waited for its first token while the backlog lasted.
            reqs.iter()
                .filter(|r| is_slow(r) && r.send <= b.to_ns && r.first >= b.from_ns)
                .count()
        };
        if slow > 0 {
            finding.slow_behind_backlog = Some(behind as f64 / slow as f64);
        }
    }
    let blamed_by_backlog = backlog.as_ref().is_some_and(|_| {
        slow >= MIN_SLOW
            && finding
                .slow_behind_backlog
                .is_some_and(|s| s >= BLAME_SHARE)
    });
    if blamed_by_backlog && finding.worker.is_none() {
        finding.worker = backlog.as_ref().map(|b| b.worker.clone());
    }
    if let (Some(b), Some(w)) = (&backlog, &finding.worker) {
        if b.worker != *w {
            // The scrape and the records disagree on the name; keep the records' attribution
            // and leave the backlog out of the explanation.
            finding.backlog = None;
        } else {
            finding.backlog = backlog.clone();
        }
    } else {
        finding.backlog = backlog.clone();
    }

    let run_len = run_window.map_or(0, |(a, b)| b - a);
    let clustered_slow = slow_window
        .is_some_and(|(a, b)| run_len > 0 && ((b - a) as f64) <= CLUSTER_SPAN * run_len as f64);
    finding.shape = if slow < MIN_SLOW {
        TailShape::Clean
    } else if finding.worker.is_some() {
        // Transient when the worker's token rate was slowed in some windows of the run and
        // normal in others (a queue can outlast the slowdown, so TTFT alone cannot tell);
        // without a pace signal, when the slow requests were sent in a cluster or the backlog
        // covered part of the run only.
        let blamed = finding
            .worker
            .as_deref()
            .and_then(|w| index.get(w).copied());
        let transient = match blamed.and_then(|b| slowdown_windows(records, &index, names.len(), b))
        {
            Some((slowed, normal)) if slowed > 0 => normal > 0,
            _ => {
                clustered_slow
                    || finding
                        .backlog
                        .as_ref()
                        .is_some_and(|b| b.span_share <= CLUSTER_SPAN)
            }
        };
        if transient {
            TailShape::Stall
        } else {
            TailShape::SlowWorker
        }
    } else if clustered_slow {
        TailShape::Burst
    } else {
        TailShape::KneeJitter
    };
    finding
}

/// In how many time windows worker `blamed` produced tokens at most 1 / [`SLOWDOWN_RATIO`] of
/// the median other worker's rate (slowed), and in how many it did not (normal). Token rates,
/// not latencies: after a stall the worker's queue keeps its TTFT and inter-token latency high
/// (a bigger batch), but its token rate recovers; a permanently slow worker's never does. The
/// first and last windows are left out.
fn slowdown_windows(
    records: &[RequestRecord],
    index: &BTreeMap<&str, usize>,
    workers: usize,
    blamed: usize,
) -> Option<(usize, usize)> {
    let profile = || {
        records
            .iter()
            .filter(|r| r.phase == Phase::Profile && r.is_success())
    };
    let lo = profile().map(|r| r.send_ns).min()?;
    let hi = profile()
        .filter_map(|r| r.content_ns.last().copied())
        .max()?;
    if hi <= lo {
        return None;
    }
    let n = SLOWDOWN_WINDOWS as usize;
    let width = (hi - lo) / SLOWDOWN_WINDOWS + 1;
    let mut tokens = vec![vec![0u64; workers]; n];
    for r in profile() {
        let Some(&w) = r.worker.as_deref().and_then(|w| index.get(w)) else {
            continue;
        };
        for &t in &r.content_ns {
            let k = ((t.saturating_sub(lo) / width) as usize).min(n - 1);
            tokens[k][w] += 1;
        }
    }
    let (mut slowed, mut normal) = (0, 0);
    // The first and last windows hold the ramp-up and the drain, where rates say little.
    for per in &tokens[1..n - 1] {
        let mut others: Vec<f64> = per
            .iter()
            .enumerate()
            .filter(|(w, _)| *w != blamed)
            .map(|(_, &c)| c as f64)
            .collect();
        let median = median_of(&mut others);
        if median <= 0.0 {
            continue;
        }
        if per[blamed] as f64 * SLOWDOWN_RATIO <= median {
            slowed += 1;
        } else {
            normal += 1;
        }
    }
    (slowed + normal > 0).then_some((slowed, normal))
}

fn median_of(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// Shortest window of consecutive sorted times holding `share` of them.
fn shortest_window(sorted: &[Nanos], share: f64) -> Option<(Nanos, Nanos)> {
    if sorted.is_empty() {
        return None;
    }
    let k = ((sorted.len() as f64 * share).ceil() as usize).clamp(1, sorted.len());
    (0..=sorted.len() - k)
        .map(|i| (sorted[i], sorted[i + k - 1]))
        .min_by_key(|(a, b)| b - a)
}

fn worker_tails(reqs: &[Req], names: &[String], slow_ms: f64) -> Vec<WorkerTail> {
    let mut ttfts: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut slow = vec![0u64; names.len()];
    let mut gap = vec![0f64; names.len()];
    let mut events: Vec<Vec<(Nanos, i8)>> = vec![Vec::new(); names.len()];
    for r in reqs {
        let Some(w) = r.worker else { continue };
        ttfts[w].push(r.ttft_ms);
        slow[w] += u64::from(r.ttft_ms > slow_ms);
        gap[w] = gap[w].max(r.max_gap_ms);
        events[w].push((r.send, 1));
        events[w].push((r.end, -1));
    }
    names
        .iter()
        .enumerate()
        .map(|(w, name)| {
            ttfts[w].sort_unstable_by(f64::total_cmp);
            events[w].sort_unstable();
            let (mut now, mut peak) = (0i64, 0i64);
            for &(_, d) in &events[w] {
                now += i64::from(d);
                peak = peak.max(now);
            }
            WorkerTail {
                worker: name.clone(),
                requests: ttfts[w].len() as u64,
                slow: slow[w],
                ttft_p50_ms: percentile_sorted(&ttfts[w], 50.0).unwrap_or(0.0),
                ttft_p99_ms: percentile_sorted(&ttfts[w], 99.0).unwrap_or(0.0),
                peak_in_flight: peak.max(0) as u64,
                max_gap_ms: gap[w],
            }
        })
        .collect()
}

/// Requests in flight per worker as the client saw them, sampled at [`RECORD_SERIES_POINTS`]
/// evenly spaced instants over the run.
fn in_flight_series(reqs: &[Req], names: &[String]) -> Vec<MetricsSample> {
    let mut events: Vec<(Nanos, i8, usize)> = Vec::with_capacity(reqs.len() * 2);
    for r in reqs {
        if let Some(w) = r.worker {
            events.push((r.send, 1, w));
            events.push((r.end, -1, w));
        }
    }
    // Ends before starts at the same instant: half-open intervals.
    events.sort_unstable();
    let (Some(first), Some(last)) = (events.first().map(|e| e.0), events.last().map(|e| e.0))
    else {
        return Vec::new();
    };
    if last <= first {
        return Vec::new();
    }
    let step = ((last - first) / RECORD_SERIES_POINTS).max(1);
    let mut counts = vec![0i64; names.len()];
    let mut out = Vec::with_capacity((RECORD_SERIES_POINTS as usize + 1) * names.len());
    let mut e = 0;
    let mut t = first;
    while t <= last {
        while e < events.len() && events[e].0 <= t {
            counts[events[e].2] += i64::from(events[e].1);
            e += 1;
        }
        for (w, name) in names.iter().enumerate() {
            out.push(MetricsSample {
                t_ns: t,
                worker: name.clone(),
                running: counts[w].max(0) as f64,
                waiting: 0.0,
                kv_usage: None,
            });
        }
        t += step;
    }
    out
}

/// The longest period in which one worker held a backlog ([`BACKLOG_RATIO`],
/// [`BACKLOG_MIN_EXCESS`]) at consecutive sample instants.
fn find_backlog(samples: &[MetricsSample], source: BacklogSource) -> Option<Backlog> {
    let mut by_time: BTreeMap<Nanos, Vec<&MetricsSample>> = BTreeMap::new();
    for s in samples {
        by_time.entry(s.t_ns).or_default().push(s);
    }
    let times: Vec<Nanos> = by_time.keys().copied().collect();
    let span = times.last().zip(times.first()).map_or(0, |(b, a)| b - a);
    // At each instant: the backed-up worker, if any.
    let culprit: Vec<Option<&str>> = by_time
        .values()
        .map(|at| {
            if at.len() < 2 {
                return None;
            }
            let load = |s: &MetricsSample| s.running + s.waiting;
            let top = at.iter().max_by(|a, b| load(a).total_cmp(&load(b)))?;
            let second = at
                .iter()
                .filter(|s| s.worker != top.worker)
                .map(|s| load(s))
                .fold(0.0, f64::max);
            let l = load(top);
            (l >= BACKLOG_RATIO * second && l - second >= BACKLOG_MIN_EXCESS)
                .then_some(top.worker.as_str())
        })
        .collect();
    // Longest run of instants with the same culprit.
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < culprit.len() {
        let Some(w) = culprit[i] else {
            i += 1;
            continue;
        };
        let mut j = i;
        while j + 1 < culprit.len() && culprit[j + 1] == Some(w) {
            j += 1;
        }
        let len = times[j] - times[i];
        if best.is_none_or(|(a, b)| {
            len > times[b] - times[a] || (len == times[b] - times[a] && j - i > b - a)
        }) {
            best = Some((i, j));
        }
        i = j + 1;
    }
    let (a, b) = best?;
    let worker = culprit[a]?.to_string();
    let (mut peak_running, mut peak_waiting, mut others_max) = (0f64, 0f64, 0f64);
    let mut peak_kv: Option<f64> = None;
    for t in &times[a..=b] {
        for s in &by_time[t] {
            if s.worker == worker {
                peak_running = peak_running.max(s.running);
                peak_waiting = peak_waiting.max(s.waiting);
                if let Some(k) = s.kv_usage {
                    peak_kv = Some(peak_kv.map_or(k, |p| p.max(k)));
                }
            } else {
                others_max = others_max.max(s.running + s.waiting);
            }
        }
    }
    Some(Backlog {
        worker,
        from_ns: times[a],
        to_ns: times[b],
        peak_running,
        peak_waiting,
        others_max,
        peak_kv,
        source,
        span_share: if span > 0 {
            (times[b] - times[a]) as f64 / span as f64
        } else {
            1.0
        },
    })
}

impl StallFinding {
    /// What happened, in plain words, for the verdict message and the report.
    pub fn explanation(&self) -> String {
        let over = if self.from_ceiling {
            format!(
                "the {} requests over the TTFT ceiling ({})",
                self.slow,
                fmt::latency(self.slow_threshold_ms)
            )
        } else {
            format!(
                "the {} slowest requests (TTFT over {}, the run's tail)",
                self.slow,
                fmt::latency(self.slow_threshold_ms)
            )
        };
        let mut s = match self.shape {
            TailShape::Clean => {
                if self.requests == 0 {
                    "no stall: no successful request to analyse".to_string()
                } else if self.from_ceiling && self.slow == 0 {
                    format!(
                        "no stall: no request over the TTFT ceiling ({})",
                        fmt::latency(self.slow_threshold_ms)
                    )
                } else {
                    format!(
                        "no stall: only {} of {} requests had a TTFT over {}",
                        self.slow,
                        self.requests,
                        fmt::latency(self.slow_threshold_ms)
                    )
                }
            }
            TailShape::Stall | TailShape::SlowWorker => self.blame_text(&over),
            TailShape::Burst => {
                let (a, b) = self.slow_window.unwrap_or((0, 0));
                let at_start = self.run_window.is_some_and(|(ra, rb)| {
                    rb > ra && (a.saturating_sub(ra)) as f64 <= 0.05 * (rb - ra) as f64
                });
                let who = if self.workers_seen >= 2 {
                    format!(
                        "no single worker holds most of them (at most {} on one)",
                        fmt::pct(self.worker_share_of_slow.unwrap_or(0.0) * 100.0)
                    )
                } else {
                    "the server does not name workers, so none can be blamed".to_string()
                };
                format!(
                    "TTFT spike clustered in time: {} of {over} were sent from t={} to t={}{}; {who}",
                    fmt::pct(CLUSTER_SHARE * 100.0),
                    fmt::secs(a),
                    fmt::secs(b),
                    if at_start {
                        " (the start of the run, when every client sent at once)"
                    } else {
                        ""
                    }
                )
            }
            TailShape::KneeJitter => {
                let spread = if self.workers_seen >= 2 {
                    format!(
                        "spread over {} workers (at most {} on one) and over the run",
                        self.workers_seen,
                        fmt::pct(self.worker_share_of_slow.unwrap_or(0.0) * 100.0)
                    )
                } else {
                    "spread over the run (the server does not name workers)".to_string()
                };
                let mut t = format!("knee jitter, not a stall: {over} are {spread}");
                t.push_str(
                    "; the tail comes from the operating point, not from one worker: gate below \
                     the saturation knee or with a wider ceiling",
                );
                t
            }
        };
        if self.gapped > 0 {
            let top = self
                .workers
                .iter()
                .filter(|w| w.max_gap_ms > self.gap_threshold_ms)
                .max_by(|a, b| a.max_gap_ms.total_cmp(&b.max_gap_ms));
            s.push_str(&format!(
                "; {} requests had token-stream gaps over {}",
                self.gapped,
                fmt::latency(self.gap_threshold_ms)
            ));
            if let Some(w) = top {
                s.push_str(&format!(
                    " (the longest, {}, on worker {})",
                    fmt::latency(w.max_gap_ms),
                    w.worker
                ));
            }
        }
        s
    }

    fn blame_text(&self, over: &str) -> String {
        let w = self.worker.as_deref().unwrap_or("?");
        let kind = if self.shape == TailShape::Stall {
            "stall"
        } else {
            "one slow worker"
        };
        let severity = match (self.worker_ttft_p99_ms, self.others_ttft_p99_ms) {
            (Some(a), Some(b)) => format!(
                " (its TTFT p99 {}, the others' {})",
                fmt::latency(a),
                fmt::latency(b)
            ),
            _ => String::new(),
        };
        let traffic = self
            .worker_share_of_traffic
            .map(|t| format!(", though it served {} of all requests", fmt::pct(t * 100.0)))
            .unwrap_or_default();
        match &self.backlog {
            Some(b) => {
                let held = match b.source {
                    BacklogSource::Metrics => format!(
                        "held {:.0} running and {:.0} waiting requests",
                        b.peak_running, b.peak_waiting
                    ),
                    BacklogSource::Records => {
                        format!("held up to {:.0} requests in flight", b.peak_running)
                    }
                };
                let behind = self
                    .slow_behind_backlog
                    .map(|x| {
                        let verb = if self.workers_seen >= 2 {
                            "were served by it"
                        } else {
                            "were queued behind it"
                        };
                        format!("; {} of {over} {verb}{traffic}", fmt::pct(x * 100.0))
                    })
                    .unwrap_or_default();
                format!(
                    "{kind}: worker {w} {held} from t={} to t={} while the others held ≤ {:.0}{behind}{severity}",
                    fmt::secs(b.from_ns),
                    fmt::secs(b.to_ns),
                    b.others_max,
                )
            }
            None => {
                let share = self.worker_share_of_slow.unwrap_or(0.0);
                let when = match (self.shape, self.slow_window) {
                    (TailShape::Stall, Some((a, b))) => {
                        format!(", sent from t={} to t={}", fmt::secs(a), fmt::secs(b))
                    }
                    _ => ", throughout the run".to_string(),
                };
                format!(
                    "{kind}: worker {w} served {} of {over}{when}{traffic}{severity}",
                    fmt::pct(share * 100.0)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::tests::rec;

    #[test]
    fn parses_vllm_dynamo_and_odd_lines() {
        let text = r#"
# HELP vllm:num_requests_running Requests in the running batch.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="Qwen/Qwen3-8B",engine="0"} 1022
vllm:num_requests_waiting{model_name="Qwen/Qwen3-8B",engine="0"} 151.0 1712345678000
vllm:kv_cache_usage_perc{engine="0",model_name="a \"quoted\" \\ name",} 0.93
dynamo_component_kvstats_gpu_cache_usage_percent{dynamo_namespace="ns",worker_id="7f3a"} 0.5
weird{unterminated="x} 3
nan_metric NaN
inf_metric{a="b"} +Inf
   
bare_metric 42
"#;
        let s = parse_prometheus_text(text);
        assert_eq!(s.len(), 7, "{s:?}");
        assert_eq!(s[0].name, "vllm:num_requests_running");
        assert_eq!(s[0].value, 1022.0);
        assert_eq!(s[0].label("model_name"), Some("Qwen/Qwen3-8B"));
        assert_eq!(s[1].value, 151.0, "timestamp ignored");
        assert_eq!(s[2].label("model_name"), Some("a \"quoted\" \\ name"));
        assert!(s[4].value.is_nan());
        assert_eq!(s[5].value, f64::INFINITY);
        assert_eq!(s[6].name, "bare_metric");

        let per = samples_from_scrape(5, Some("decode-3"), &s);
        let w3 = per.iter().find(|m| m.worker == "decode-3").unwrap();
        assert_eq!(
            (w3.running, w3.waiting, w3.kv_usage),
            (1022.0, 151.0, Some(0.93))
        );
        assert!(
            per.iter().all(|m| m.worker != "7f3a"),
            "a worker with only KV usage is left out: {per:?}"
        );
    }

    #[test]
    fn sim_style_scrape_names_workers_by_label() {
        let text = "vllm:num_requests_running{model_name=\"m\",worker=\"0\"} 5\n\
                    vllm:num_requests_running{model_name=\"m\",worker=\"1\"} 7\n\
                    vllm:num_requests_waiting{model_name=\"m\",worker=\"1\"} 2\n\
                    vllm:gpu_cache_usage_perc{model_name=\"m\",worker=\"1\"} 0.2\n\
                    vllm:kv_cache_usage_perc{model_name=\"m\",worker=\"1\"} 0.3\n";
        let per = samples_from_scrape(9, None, &parse_prometheus_text(text));
        assert_eq!(per.len(), 2);
        assert_eq!(per[1].worker, "1");
        assert_eq!(per[1].kv_usage, Some(0.3), "the newer name is preferred");
        assert_eq!(per[1].waiting, 2.0);
    }

    /// 8 workers, round robin, 40 s of closed-loop-ish traffic; worker 3 stalls from 10 s to
    /// 25 s (its requests' TTFT grows to seconds), or never.
    fn run(stall: bool) -> Vec<RequestRecord> {
        (0..16_000u64)
            .map(|i| {
                let send = i as f64 * 2.5; // ms
                let w = i % 8;
                let jitter = ((i * 7919) % 100) as f64;
                let ttft = if stall && w == 3 && (10_000.0..25_000.0).contains(&send) {
                    3000.0 + (send - 10_000.0) / 2.0
                } else {
                    40.0 + jitter
                };
                let mut r = rec(i, send, ttft, 32, 10.0);
                r.worker = Some(w.to_string());
                r
            })
            .collect()
    }

    #[test]
    fn a_stall_is_attributed_to_its_worker_from_records() {
        let f = analyse(
            &run(true),
            &[],
            &StallOptions {
                ttft_ceiling_ms: Some(2200.0),
                gap_ms: None,
            },
        );
        assert_eq!(f.shape, TailShape::Stall, "{f:#?}");
        assert_eq!(f.worker.as_deref(), Some("3"));
        assert_eq!(f.worker_share_of_slow, Some(1.0));
        let b = f.backlog.as_ref().expect("backlog rebuilt from records");
        assert_eq!(b.source, BacklogSource::Records);
        let text = f.explanation();
        assert!(text.starts_with("stall: worker 3 held up to"), "{text}");
        assert!(
            text.contains(
                "100 % of the 750 requests over the TTFT ceiling (2.2 s) were served by it"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_stall_is_attributed_from_metrics_when_records_do_not_name_workers() {
        let mut records = run(true);
        records.iter_mut().for_each(|r| r.worker = None);
        let mut metrics = Vec::new();
        for k in 0..80u64 {
            let t = k * 500_000_000; // every 0.5 s
            let stalled = (10_000_000_000..26_000_000_000).contains(&t);
            for w in 0..8 {
                let (running, waiting) = if stalled && w == 3 {
                    (1022.0, 151.0)
                } else {
                    (200.0 + w as f64, 0.0)
                };
                metrics.push(MetricsSample {
                    t_ns: t,
                    worker: w.to_string(),
                    running,
                    waiting,
                    kv_usage: Some(0.4),
                });
            }
        }
        let f = analyse(
            &records,
            &metrics,
            &StallOptions {
                ttft_ceiling_ms: Some(2200.0),
                gap_ms: None,
            },
        );
        assert_eq!(f.shape, TailShape::Stall, "{f:#?}");
        assert_eq!(f.worker.as_deref(), Some("3"));
        let text = f.explanation();
        assert!(
            text.starts_with("stall: worker 3 held 1022 running and 151 waiting requests from t=10.0 s to t=25.5 s while the others held ≤ 207"),
            "{text}"
        );
        assert!(text.contains("were queued behind it"), "{text}");
    }

    #[test]
    fn jitter_is_not_a_stall() {
        // Heavy but diffuse tail, every worker alike.
        let records: Vec<RequestRecord> = (0..16_000u64)
            .map(|i| {
                let ttft = if (i * 2_654_435_761) % 97 == 0 {
                    2500.0
                } else {
                    300.0
                };
                let mut r = rec(i, i as f64 * 2.5, ttft, 16, 10.0);
                r.worker = Some((i % 8).to_string());
                r
            })
            .collect();
        let f = analyse(
            &records,
            &[],
            &StallOptions {
                ttft_ceiling_ms: Some(2200.0),
                gap_ms: None,
            },
        );
        assert_eq!(f.shape, TailShape::KneeJitter, "{f:#?}");
        assert!(f.worker.is_none());
        assert!(
            f.explanation().starts_with("knee jitter, not a stall"),
            "{}",
            f.explanation()
        );
        let clean = analyse(
            &run(false),
            &[],
            &StallOptions {
                ttft_ceiling_ms: Some(2200.0),
                gap_ms: None,
            },
        );
        assert_eq!(clean.shape, TailShape::Clean);
        assert_eq!(
            clean.explanation(),
            "no stall: no request over the TTFT ceiling (2.2 s)"
        );
    }

    #[test]
    fn a_spike_without_worker_names_is_a_burst_and_gaps_are_reported() {
        let records: Vec<RequestRecord> = (0..8000u64)
            .map(|i| {
                let send = i as f64 * 5.0;
                let ttft = if (20_000.0..22_000.0).contains(&send) {
                    4000.0
                } else {
                    100.0
                };
                let mut r = rec(i, send, ttft, 8, 10.0);
                if i == 100 {
                    // One 3 s gap mid-stream.
                    let n = r.content_ns.len();
                    for t in &mut r.content_ns[n / 2..] {
                        *t += 3_000_000_000;
                    }
                    r.end_ns += 3_000_000_000;
                }
                r
            })
            .collect();
        let f = analyse(
            &records,
            &[],
            &StallOptions {
                ttft_ceiling_ms: Some(2200.0),
                gap_ms: None,
            },
        );
        assert_eq!(f.shape, TailShape::Burst, "{f:#?}");
        assert_eq!(f.gapped, 1);
        let text = f.explanation();
        assert!(
            text.contains("clustered in time") && text.contains("does not name workers"),
            "{text}"
        );
        assert!(
            text.contains("1 requests had token-stream gaps over 1.0 s"),
            "{text}"
        );
    }

    #[test]
    fn a_permanently_slow_worker_is_named_as_such() {
        let records: Vec<RequestRecord> = (0..16_000u64)
            .map(|i| {
                let w = i % 8;
                let ttft = if w == 5 {
                    2500.0 + ((i * 31) % 1000) as f64
                } else {
                    200.0 + ((i * 17) % 100) as f64
                };
                let mut r = rec(i, i as f64 * 2.5, ttft, 16, 10.0);
                r.worker = Some(w.to_string());
                r
            })
            .collect();
        let f = analyse(
            &records,
            &[],
            &StallOptions {
                ttft_ceiling_ms: Some(2200.0),
                gap_ms: None,
            },
        );
        assert_eq!(f.shape, TailShape::SlowWorker, "{f:#?}");
        assert_eq!(f.worker.as_deref(), Some("5"));
        assert!(
            f.explanation().starts_with("one slow worker: worker 5"),
            "{}",
            f.explanation()
        );
    }
}
