//! What the report derives from the per-request records: the benchmark window, the latency
//! samples, time series, error classes, stalled requests and the per-request timeline sample.
//!
//! Pure functions over a [`RecordDigest`], which reads the records one at a time. Metric
//! definitions are AIPerf's (docs/metrics.md); metrics, percentiles and intervals come only from
//! `infergate-stats`.

use infergate_model::{FailureKind, Nanos, Phase, RequestRecord};
use infergate_stats::confidence::QuantileCi;
use infergate_stats::summary::ErrorGroup;
use infergate_stats::{
    percentile_sorted, quantile_ci, ConfidenceOptions, MeanCi, Summary, SummaryBuilder,
    SummaryOptions,
};

const NS_PER_S: f64 = 1e9;
const NS_PER_MS: f64 = 1e6;

/// Most requests drawn on the per-request timeline (keeps a 16,384-request page small).
pub const TIMELINE_MAX_LINES: usize = 2000;

/// Why a request counts as stalled on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallKind {
    /// Its TTFT was above the ceiling.
    Ttft,
    /// A gap between two consecutive content events was above the gap threshold.
    TokenGap,
}

/// The thresholds that make a request "stalled" (see docs/report.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StallRule {
    /// TTFT ceiling in ms: the TTFT constraint's effective threshold when there is one, else
    /// max(1000 ms, 10 × TTFT p50).
    pub ttft_ceiling_ms: f64,
    /// Where the ceiling came from: true when it is the TTFT constraint's.
    pub ceiling_from_constraint: bool,
    /// Token-gap threshold in ms: max(500 ms, 20 × ITL p50).
    pub gap_ms: f64,
}

/// What the report keeps of one request: when it was sent, its first and last content response,
/// when it ended, how it failed, and its longest gap between content responses; not its
/// per-token timeline (the parts of the report that need every token are summed as the records
/// are read: see [`RecordDigest`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRow {
    /// Position in the request stream.
    pub index: u64,
    /// Warmup or profile.
    pub phase: Phase,
    /// When it was sent (records' clock).
    pub send_ns: Nanos,
    /// When it ended.
    pub end_ns: Nanos,
    /// First content response, if any.
    pub first_ns: Option<Nanos>,
    /// Last content response, if any.
    pub last_ns: Option<Nanos>,
    /// TTFT ([`RequestRecord::ttft_ns`]).
    pub ttft_ns: Option<Nanos>,
    /// Longest gap between two consecutive content responses, ns (0 with fewer than two).
    pub max_gap_ns: Nanos,
    /// Position of its worker in [`RecordDigest::workers`], when the server named one.
    pub worker: Option<u32>,
    /// How it failed, if it did.
    pub failure: Option<FailureKind>,
}

/// Output tokens are summed per second of the run for the over-time charts (every bucket width
/// the page uses is a whole number of seconds).
const TOKEN_BIN_NS: Nanos = 1_000_000_000;

/// Everything the report derives from a run's records, built one record at a time
/// ([`RecordDigest::push`], any order) so that reading `records.jsonl` keeps about 150 bytes per
/// request (a [`RequestRow`] and the summary's per-request values) and none of the per-token
/// timelines.
#[derive(Clone)]
pub struct RecordDigest {
    streaming: bool,
    summary: SummaryBuilder,
    rows: Vec<RequestRow>,
    /// Output tokens received in each second of the run (warmup included).
    tokens_per_second: Vec<f64>,
    workers: Vec<String>,
}

impl std::fmt::Debug for RecordDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordDigest")
            .field("streaming", &self.streaming)
            .field("rows", &self.rows.len())
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl RecordDigest {
    /// An empty digest; `streaming` says whether responses were streamed (TTFT and the
    /// per-token metrics exist only then).
    pub fn new(streaming: bool) -> RecordDigest {
        RecordDigest {
            streaming,
            summary: SummaryBuilder::new(&SummaryOptions {
                streaming,
                ..SummaryOptions::default()
            }),
            rows: Vec::new(),
            tokens_per_second: Vec::new(),
            workers: Vec::new(),
        }
    }

    /// The digest of `records`.
    pub fn of(records: &[RequestRecord], streaming: bool) -> RecordDigest {
        let mut d = RecordDigest::new(streaming);
        for r in records {
            d.push(r);
        }
        d.finish()
    }

    /// Take one record into account.
    pub fn push(&mut self, r: &RequestRecord) {
        self.summary.push(r);
        if r.is_success() {
            for (t, tokens) in r.token_arrivals() {
                let i = (t / TOKEN_BIN_NS) as usize;
                if i >= self.tokens_per_second.len() {
                    self.tokens_per_second.resize(i + 1, 0.0);
                }
                self.tokens_per_second[i] += tokens;
            }
        }
        let worker = r
            .worker
            .as_deref()
            .map(|w| match self.workers.iter().position(|x| x == w) {
                Some(k) => k as u32,
                None => {
                    self.workers.push(w.to_owned());
                    (self.workers.len() - 1) as u32
                }
            });
        self.rows.push(RequestRow {
            index: r.index,
            phase: r.phase,
            send_ns: r.send_ns,
            end_ns: r.end_ns,
            first_ns: r.content_ns.first().copied(),
            last_ns: r.content_ns.last().copied(),
            ttft_ns: r.ttft_ns(),
            max_gap_ns: r
                .content_ns
                .windows(2)
                .map(|w| w[1].saturating_sub(w[0]))
                .max()
                .unwrap_or(0),
            worker,
            failure: r.failure.as_ref().map(|f| f.kind),
        });
    }

    /// Put the rows in request order (a pass when they already are) and the workers in name
    /// order (their position picks the colour).
    pub fn finish(mut self) -> RecordDigest {
        self.rows.sort_by_key(|r| r.index);
        let mut order: Vec<usize> = (0..self.workers.len()).collect();
        order.sort_by(|&a, &b| self.workers[a].cmp(&self.workers[b]));
        let mut rank = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            rank[old] = new as u32;
        }
        for row in &mut self.rows {
            row.worker = row.worker.map(|w| rank[w as usize]);
        }
        self.workers.sort();
        self
    }

    /// Whether responses were streamed, as given to [`RecordDigest::new`].
    pub fn streaming(&self) -> bool {
        self.streaming
    }

    /// One row per record, in request order (after [`RecordDigest::finish`]).
    pub fn rows(&self) -> &[RequestRow] {
        &self.rows
    }

    /// The workers named in the records, sorted.
    pub fn workers(&self) -> &[String] {
        &self.workers
    }
}

/// Everything the page and `compare` read from the records, computed once. The metrics and
/// their intervals are the stats crate's ([`Summary`]); this adds what only the report needs.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The run's summary (AIPerf's metric definitions), with intervals at the level asked for.
    pub summary: Summary,
    /// TTFT of successful profile requests, ms, ascending (for the CDF).
    pub ttft_ms: Vec<f64>,
    /// Per-request ITL of successful profile requests, ms, ascending.
    pub itl_ms: Vec<f64>,
    /// Request latency of successful profile requests, ms, ascending.
    pub latency_ms: Vec<f64>,
    /// The stall thresholds used.
    pub stall_rule: StallRule,
    /// Stall of each row (same index as [`RecordDigest::rows`]; warmup and failures are `None`).
    pub stalls: Vec<Option<StallKind>>,
}

impl Analysis {
    /// Analyse a finished digest with intervals at `level` (0.95 on the page);
    /// `ttft_ceiling_ms` is the TTFT constraint's effective threshold.
    pub fn new(digest: &RecordDigest, ttft_ceiling_ms: Option<f64>, level: f64) -> Analysis {
        let mut summary = digest.summary.clone();
        summary.set_confidence(Some(ConfidenceOptions {
            level,
            ..ConfidenceOptions::default()
        }));
        let sorted = |values: &[f64]| {
            let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let ttft_ms = sorted(summary.ttft_ms());
        let itl_ms = sorted(summary.itl_ms());
        let latency_ms = sorted(summary.latency_ms());
        let summary = summary.finish();
        let ttft_p50 = percentile_sorted(&ttft_ms, 50.0).unwrap_or(0.0);
        let itl_p50 = percentile_sorted(&itl_ms, 50.0).unwrap_or(0.0);
        let stall_rule = StallRule {
            ttft_ceiling_ms: ttft_ceiling_ms.unwrap_or((10.0 * ttft_p50).max(1000.0)),
            ceiling_from_constraint: ttft_ceiling_ms.is_some(),
            gap_ms: (20.0 * itl_p50).max(500.0),
        };
        let stalls = digest
            .rows
            .iter()
            .map(|r| stall_of(r, digest.streaming, &stall_rule))
            .collect();
        Analysis {
            summary,
            ttft_ms,
            itl_ms,
            latency_ms,
            stall_rule,
            stalls,
        }
    }

    /// Warmup requests (never counted).
    pub fn warmup(&self) -> u64 {
        self.summary.warmup_request_count
    }

    /// Profile requests (successful + failed).
    pub fn profile(&self) -> u64 {
        self.summary.completed_request_count
    }

    /// Successful profile requests.
    pub fn ok(&self) -> u64 {
        self.summary.request_count
    }

    /// Failed profile requests.
    pub fn failed(&self) -> u64 {
        self.summary.error_request_count
    }

    /// Failed profile requests by class and status, most frequent first.
    pub fn errors(&self) -> &[ErrorGroup] {
        &self.summary.errors.groups
    }

    /// Benchmark duration in seconds (0 when there is none).
    pub fn duration_s(&self) -> f64 {
        self.summary.benchmark_duration_s.unwrap_or(0.0)
    }

    /// Output token throughput's interval, tokens/sec.
    pub fn output_token_throughput_ci(&self) -> Option<&MeanCi> {
        self.summary
            .confidence
            .as_ref()?
            .output_token_throughput
            .as_ref()
    }

    /// Request throughput's interval, requests/sec.
    pub fn request_throughput_ci(&self) -> Option<&MeanCi> {
        self.summary
            .confidence
            .as_ref()?
            .request_throughput
            .as_ref()
    }

    /// The interval of percentile `p` of metric `tag` (`time_to_first_token`,
    /// `inter_token_latency`, `request_latency`) at the analysis' level.
    pub fn percentile_ci(&self, tag: &str, p: f64) -> Option<QuantileCi> {
        let sorted = match tag {
            "time_to_first_token" => &self.ttft_ms,
            "inter_token_latency" => &self.itl_ms,
            "request_latency" => &self.latency_ms,
            _ => return None,
        };
        let level = self.summary.confidence.as_ref()?.level;
        quantile_ci(sorted, p, level)
    }
}

fn stall_of(r: &RequestRow, streaming: bool, rule: &StallRule) -> Option<StallKind> {
    if !streaming || r.phase != Phase::Profile || r.failure.is_some() {
        return None;
    }
    if r.ttft_ns? as f64 / NS_PER_MS > rule.ttft_ceiling_ms {
        return Some(StallKind::Ttft);
    }
    (r.max_gap_ns as f64 / NS_PER_MS > rule.gap_ms).then_some(StallKind::TokenGap)
}

/// Throughput and in-flight requests over the whole run (warmup included), in fixed buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    /// Bucket width, seconds.
    pub bucket_s: f64,
    /// Start of each bucket, seconds since the run's epoch.
    pub t_s: Vec<f64>,
    /// Output tokens per second received in each bucket (tokens spread over content events).
    pub tokens_per_s: Vec<f64>,
    /// Time-averaged requests in flight (sent, not yet ended) in each bucket.
    pub in_flight: Vec<f64>,
    /// End of the warmup phase (last warmup request's end), seconds, when there was one.
    pub warmup_end_s: Option<f64>,
}

/// Candidate bucket widths, seconds: at least 1 s, at most ~400 buckets.
const BUCKET_STEPS_S: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Bucket the run: width is the smallest of 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 30, 60 min
/// giving at most 400 buckets.
pub fn time_series(digest: &RecordDigest) -> TimeSeries {
    let records = digest.rows();
    let end_ns = records.iter().map(|r| r.end_ns).max().unwrap_or(0);
    let span_s = end_ns as f64 / NS_PER_S;
    let bucket_s = BUCKET_STEPS_S
        .iter()
        .copied()
        .find(|w| span_s / w <= 400.0)
        .unwrap_or(3600.0);
    let n = ((span_s / bucket_s).ceil() as usize).max(1);
    let bucket_ns = bucket_s * NS_PER_S;
    let mut tokens = vec![0.0; n];
    let mut busy_ns = vec![0.0; n];
    let index = |t: Nanos| ((t as f64 / bucket_ns) as usize).min(n - 1);
    for (second, &amount) in digest.tokens_per_second.iter().enumerate() {
        tokens[index(second as Nanos * TOKEN_BIN_NS)] += amount;
    }
    for r in records {
        // Spread the request's in-flight interval over the buckets it overlaps.
        let (a, b) = (r.send_ns as f64, r.end_ns.max(r.send_ns) as f64);
        let (first, last) = (index(r.send_ns), index(r.end_ns.max(r.send_ns)));
        for (i, busy) in busy_ns.iter_mut().enumerate().take(last + 1).skip(first) {
            let lo = a.max(i as f64 * bucket_ns);
            let hi = b.min((i + 1) as f64 * bucket_ns);
            if hi > lo {
                *busy += hi - lo;
            }
        }
    }
    let warmup_end_s = records
        .iter()
        .filter(|r| r.phase == Phase::Warmup)
        .map(|r| r.end_ns)
        .max()
        .map(|t| t as f64 / NS_PER_S);
    // The last bucket usually ends with the run, part-way through: rate over the part it covers.
    let width_s = |i: usize| {
        (span_s - i as f64 * bucket_s)
            .min(bucket_s)
            .max(bucket_s * 0.01)
    };
    TimeSeries {
        bucket_s,
        t_s: (0..n).map(|i| i as f64 * bucket_s).collect(),
        tokens_per_s: tokens
            .into_iter()
            .enumerate()
            .map(|(i, t)| t / width_s(i))
            .collect(),
        in_flight: busy_ns
            .into_iter()
            .enumerate()
            .map(|(i, b)| b / (width_s(i) * NS_PER_S))
            .collect(),
        warmup_end_s,
    }
}

/// The requests drawn on the per-request timeline, and how they were chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineSample {
    /// Indices into the rows, in send order.
    pub indices: Vec<usize>,
    /// Profile requests in the run.
    pub total: usize,
    /// Failed or stalled profile requests in the run.
    pub flagged: usize,
    /// Of which drawn.
    pub flagged_drawn: usize,
}

/// Choose at most `max_lines` profile requests: every failed or stalled request (an even sample
/// of them if they alone exceed the limit), then an even sample of the rest to fill the limit.
pub fn timeline_sample(
    records: &[RequestRow],
    analysis: &Analysis,
    max_lines: usize,
) -> TimelineSample {
    let mut flagged = Vec::new();
    let mut rest = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if r.phase != Phase::Profile {
            continue;
        }
        if r.failure.is_some() || analysis.stalls[i].is_some() {
            flagged.push(i);
        } else {
            rest.push(i);
        }
    }
    let total = flagged.len() + rest.len();
    let flagged_count = flagged.len();
    let flagged = even_sample(flagged, max_lines);
    let flagged_drawn = flagged.len();
    let mut indices = flagged;
    indices.extend(even_sample(rest, max_lines - flagged_drawn));
    indices.sort_by_key(|&i| (records[i].send_ns, records[i].index));
    TimelineSample {
        indices,
        total,
        flagged: flagged_count,
        flagged_drawn,
    }
}

/// `k` items spread evenly over `items` (all of them when there are no more than `k`).
fn even_sample(items: Vec<usize>, k: usize) -> Vec<usize> {
    if items.len() <= k {
        return items;
    }
    (0..k).map(|j| items[j * items.len() / k]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use infergate_model::{Failure, FailureKind};

    fn rec(index: u64, send: Nanos, ttft: Nanos, gap: Nanos, tokens: u32) -> RequestRecord {
        let content_ns = (0..u64::from(tokens))
            .map(|i| send + ttft + i * gap)
            .collect::<Vec<_>>();
        RequestRecord {
            index,
            phase: Phase::Profile,
            entry: 0,
            scheduled_ns: None,
            send_ns: send,
            headers_ns: None,
            end_ns: *content_ns.last().unwrap_or(&send),
            content_ns,
            input_tokens: 10,
            requested_output_tokens: tokens,
            client_output_tokens: tokens,
            usage: None,
            worker: None,
            failure: None,
        }
    }

    #[test]
    fn aiperf_metrics_from_records() {
        let ms = 1_000_000;
        let recs = vec![
            rec(0, 0, 100 * ms, 10 * ms, 11),
            rec(1, 0, 200 * ms, 10 * ms, 11),
        ];
        let a = Analysis::new(&RecordDigest::of(&recs, true), None, 0.95);
        assert_eq!(a.ttft_ms, vec![100.0, 200.0]);
        assert_eq!(a.itl_ms, vec![10.0, 10.0]);
        // Window: 0 .. 300 ms; 22 tokens / 0.3 s.
        let tput = a.summary.output_token_throughput.unwrap();
        assert!((tput - 22.0 / 0.3).abs() < 1e-9);
    }

    #[test]
    fn stalls_and_failures_are_always_on_the_timeline() {
        let ms = 1_000_000;
        let mut recs: Vec<_> = (0..5000)
            .map(|i| rec(i, i * ms, 50 * ms, 5 * ms, 4))
            .collect();
        recs[77] = rec(77, 77 * ms, 5000 * ms, 5 * ms, 4);
        recs[4000].failure = Some(Failure::new(FailureKind::Timeout, None, "t"));
        let d = RecordDigest::of(&recs, true);
        let a = Analysis::new(&d, None, 0.95);
        assert_eq!(a.stalls[77], Some(StallKind::Ttft));
        let s = timeline_sample(d.rows(), &a, 100);
        assert_eq!(s.indices.len(), 100);
        assert!(s.indices.contains(&77) && s.indices.contains(&4000));
        assert_eq!((s.flagged, s.flagged_drawn, s.total), (2, 2, 5000));
    }

    #[test]
    fn in_flight_is_time_weighted() {
        let s = 1_000_000_000;
        // One request in flight for the whole of [0, 2 s): 1.0 in each 1 s bucket.
        let recs = vec![rec(0, 0, s, s, 2)];
        let ts = time_series(&RecordDigest::of(&recs, true));
        assert_eq!(ts.bucket_s, 1.0);
        assert!((ts.in_flight[0] - 1.0).abs() < 1e-9);
    }
}
