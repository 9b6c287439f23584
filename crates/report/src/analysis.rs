//! What the report derives from the per-request records: the benchmark window, the latency
//! samples, time series, error classes, stalled requests and the per-request timeline sample.
//!
//! Pure functions over `&[RequestRecord]`. Metric definitions are AIPerf's (docs/metrics.md);
//! percentiles and intervals come only from [`crate::stats_bridge`].

use infergate_model::{FailureKind, Nanos, Phase, RequestRecord};
use std::collections::BTreeMap;

const NS_PER_S: f64 = 1e9;
const NS_PER_MS: f64 = 1e6;

/// Most requests drawn on the per-request timeline (keeps a 16,384-request page small).
pub const TIMELINE_MAX_LINES: usize = 2000;

/// Number of equal time slices the benchmark window is cut into for the batch-means throughput
/// interval.
pub const THROUGHPUT_SLICES: usize = 20;

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

/// Failed requests of one class (and HTTP status, for `http_status`).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorClass {
    /// The failure class.
    pub kind: FailureKind,
    /// HTTP status, when the class carries one.
    pub status: Option<u16>,
    /// Profile requests that failed this way.
    pub count: u64,
    /// The detail of the first such failure.
    pub sample: String,
}

/// Everything the page and `compare` read from the records, computed once.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Warmup requests (never counted).
    pub warmup: usize,
    /// Profile requests.
    pub profile: usize,
    /// Successful profile requests.
    pub ok: usize,
    /// Benchmark window (AIPerf's duration): first profile send to the last content response of a
    /// successful profile request. `None` when no profile request succeeded.
    pub window: Option<(Nanos, Nanos)>,
    /// Output tokens of successful profile requests.
    pub output_tokens: u64,
    /// TTFT of successful profile requests, ms, ascending.
    pub ttft_ms: Vec<f64>,
    /// Per-request ITL of successful profile requests with more than one output token, ms,
    /// ascending.
    pub itl_ms: Vec<f64>,
    /// Request latency of successful profile requests, ms, ascending.
    pub latency_ms: Vec<f64>,
    /// Failed profile requests by class, most frequent first.
    pub errors: Vec<ErrorClass>,
    /// The stall thresholds used.
    pub stall_rule: StallRule,
    /// Stall of each record (same index as the input records; warmup and failures are `None`).
    pub stalls: Vec<Option<StallKind>>,
}

impl Analysis {
    /// Analyse `records`. `ttft_ceiling_ms` is the TTFT constraint's effective threshold, if any.
    pub fn new(records: &[RequestRecord], ttft_ceiling_ms: Option<f64>) -> Analysis {
        let mut warmup = 0;
        let mut profile = 0;
        let mut ok = 0;
        let mut first_send: Option<Nanos> = None;
        let mut last_response: Option<Nanos> = None;
        let mut output_tokens = 0u64;
        let mut ttft_ms = Vec::new();
        let mut itl_ms = Vec::new();
        let mut latency_ms = Vec::new();
        let mut errors: BTreeMap<(FailureKind, Option<u16>), (u64, String)> = BTreeMap::new();

        for r in records {
            if r.phase == Phase::Warmup {
                warmup += 1;
                continue;
            }
            profile += 1;
            first_send = Some(first_send.map_or(r.send_ns, |t| t.min(r.send_ns)));
            if let Some(f) = &r.failure {
                let e = errors
                    .entry((f.kind, f.status))
                    .or_insert_with(|| (0, f.detail.clone()));
                e.0 += 1;
                continue;
            }
            let (Some(ttft), Some(lat), Some(&last)) =
                (r.ttft_ns(), r.latency_ns(), r.content_ns.last())
            else {
                continue;
            };
            ok += 1;
            last_response = Some(last_response.map_or(last, |t| t.max(last)));
            let osl = r.output_tokens();
            output_tokens += u64::from(osl);
            ttft_ms.push(ttft as f64 / NS_PER_MS);
            latency_ms.push(lat as f64 / NS_PER_MS);
            if osl > 1 {
                itl_ms.push((lat - ttft) as f64 / NS_PER_MS / f64::from(osl - 1));
            }
        }
        for v in [&mut ttft_ms, &mut itl_ms, &mut latency_ms] {
            v.sort_by(f64::total_cmp);
        }
        let mut errors: Vec<ErrorClass> = errors
            .into_iter()
            .map(|((kind, status), (count, sample))| ErrorClass {
                kind,
                status,
                count,
                sample,
            })
            .collect();
        errors.sort_by_key(|e| std::cmp::Reverse(e.count));

        let ttft_p50 = crate::stats_bridge::percentile(&ttft_ms, 50.0).unwrap_or(0.0);
        let itl_p50 = crate::stats_bridge::percentile(&itl_ms, 50.0).unwrap_or(0.0);
        let stall_rule = StallRule {
            ttft_ceiling_ms: ttft_ceiling_ms.unwrap_or((10.0 * ttft_p50).max(1000.0)),
            ceiling_from_constraint: ttft_ceiling_ms.is_some(),
            gap_ms: (20.0 * itl_p50).max(500.0),
        };
        let stalls = records.iter().map(|r| stall_of(r, &stall_rule)).collect();
        let window = match (first_send, last_response) {
            (Some(a), Some(b)) if b > a => Some((a, b)),
            _ => None,
        };
        Analysis {
            warmup,
            profile,
            ok,
            window,
            output_tokens,
            ttft_ms,
            itl_ms,
            latency_ms,
            errors,
            stall_rule,
            stalls,
        }
    }

    /// Benchmark duration in seconds (0 when there is no window).
    pub fn duration_s(&self) -> f64 {
        self.window.map_or(0.0, |(a, b)| (b - a) as f64 / NS_PER_S)
    }

    /// Failed profile requests.
    pub fn failed(&self) -> usize {
        self.profile - self.ok
    }

    /// Output token throughput, tokens/sec: output tokens / duration.
    pub fn output_token_throughput(&self) -> Option<f64> {
        let d = self.duration_s();
        (d > 0.0).then(|| self.output_tokens as f64 / d)
    }

    /// Request throughput, requests/sec: successful requests / duration.
    pub fn request_throughput(&self) -> Option<f64> {
        let d = self.duration_s();
        (d > 0.0).then(|| self.ok as f64 / d)
    }

    /// Output-token rate (tokens/sec) in each of `k` equal slices of the benchmark window. Each
    /// successful request's output tokens are spread evenly over its content events, so the mean
    /// of the slices equals [`Analysis::output_token_throughput`].
    pub fn token_rate_slices(&self, records: &[RequestRecord], k: usize) -> Vec<f64> {
        self.slices(records, k, |r, add| {
            let n = r.content_ns.len();
            if n > 0 {
                let per_event = f64::from(r.output_tokens()) / n as f64;
                for &t in &r.content_ns {
                    add(t, per_event);
                }
            }
        })
    }

    /// Completed-request rate (requests/sec) in each of `k` equal slices of the benchmark window.
    pub fn request_rate_slices(&self, records: &[RequestRecord], k: usize) -> Vec<f64> {
        self.slices(records, k, |r, add| {
            if let Some(&t) = r.content_ns.last() {
                add(t, 1.0);
            }
        })
    }

    fn slices(
        &self,
        records: &[RequestRecord],
        k: usize,
        each: impl Fn(&RequestRecord, &mut dyn FnMut(Nanos, f64)),
    ) -> Vec<f64> {
        let Some((t0, t1)) = self.window else {
            return Vec::new();
        };
        if k == 0 {
            return Vec::new();
        }
        let span = (t1 - t0) as f64;
        let mut sums = vec![0.0; k];
        for r in records
            .iter()
            .filter(|r| r.phase == Phase::Profile && r.is_success())
        {
            each(r, &mut |t, w| {
                let pos = ((t.saturating_sub(t0)) as f64 / span * k as f64) as usize;
                sums[pos.min(k - 1)] += w;
            });
        }
        let slice_s = span / NS_PER_S / k as f64;
        sums.into_iter().map(|s| s / slice_s).collect()
    }
}

fn stall_of(r: &RequestRecord, rule: &StallRule) -> Option<StallKind> {
    if r.phase != Phase::Profile || !r.is_success() {
        return None;
    }
    if r.ttft_ns()? as f64 / NS_PER_MS > rule.ttft_ceiling_ms {
        return Some(StallKind::Ttft);
    }
    let max_gap = r
        .content_ns
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or(0);
    (max_gap as f64 / NS_PER_MS > rule.gap_ms).then_some(StallKind::TokenGap)
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
pub fn time_series(records: &[RequestRecord]) -> TimeSeries {
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
    for r in records {
        if r.is_success() && !r.content_ns.is_empty() {
            let per_event = f64::from(r.output_tokens()) / r.content_ns.len() as f64;
            for &t in &r.content_ns {
                tokens[index(t)] += per_event;
            }
        }
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
    TimeSeries {
        bucket_s,
        t_s: (0..n).map(|i| i as f64 * bucket_s).collect(),
        tokens_per_s: tokens.into_iter().map(|t| t / bucket_s).collect(),
        in_flight: busy_ns.into_iter().map(|b| b / bucket_ns).collect(),
        warmup_end_s,
    }
}

/// The requests drawn on the per-request timeline, and how they were chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineSample {
    /// Indices into the records, in send order.
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
    records: &[RequestRecord],
    analysis: &Analysis,
    max_lines: usize,
) -> TimelineSample {
    let mut flagged = Vec::new();
    let mut rest = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if r.phase != Phase::Profile {
            continue;
        }
        if !r.is_success() || analysis.stalls[i].is_some() {
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
    use infergate_model::Failure;

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
        let a = Analysis::new(&recs, None);
        assert_eq!(a.ttft_ms, vec![100.0, 200.0]);
        assert_eq!(a.itl_ms, vec![10.0, 10.0]);
        // Window: 0 .. 300 ms; 22 tokens / 0.3 s.
        assert!((a.output_token_throughput().unwrap() - 22.0 / 0.3).abs() < 1e-9);
        let slices = a.token_rate_slices(&recs, 5);
        let mean = slices.iter().sum::<f64>() / 5.0;
        assert!((mean - a.output_token_throughput().unwrap()).abs() < 1e-9);
    }

    #[test]
    fn stalls_and_failures_are_always_on_the_timeline() {
        let ms = 1_000_000;
        let mut recs: Vec<_> = (0..5000)
            .map(|i| rec(i, i * ms, 50 * ms, 5 * ms, 4))
            .collect();
        recs[77] = rec(77, 77 * ms, 5000 * ms, 5 * ms, 4);
        recs[4000].failure = Some(Failure::new(FailureKind::Timeout, None, "t"));
        let a = Analysis::new(&recs, None);
        assert_eq!(a.stalls[77], Some(StallKind::Ttft));
        let s = timeline_sample(&recs, &a, 100);
        assert_eq!(s.indices.len(), 100);
        assert!(s.indices.contains(&77) && s.indices.contains(&4000));
        assert_eq!((s.flagged, s.flagged_drawn, s.total), (2, 2, 5000));
    }

    #[test]
    fn in_flight_is_time_weighted() {
        let s = 1_000_000_000;
        // One request in flight for the whole of [0, 2 s): 1.0 in each 1 s bucket.
        let recs = vec![rec(0, 0, s, s, 2)];
        let ts = time_series(&recs);
        assert_eq!(ts.bucket_s, 1.0);
        assert!((ts.in_flight[0] - 1.0).abs() < 1e-9);
    }
}
