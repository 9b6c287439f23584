//! The run summary: AIPerf's metric definitions over the profile-phase records of one run.
//!
//! Which records count (AIPerf's rules, see docs/metrics.md): warmup records never; latency,
//! length and per-user distributions, totals and throughputs use successful profile records;
//! error counts and the error rate use failed profile records; concurrency uses all profile
//! records.

use crate::confidence::{self, MeanCi, QuantileCi};
use crate::goodput::GoodputSlo;
use crate::histogram::{LogHistogram, TimeBins};
use crate::percentile::Distribution;
use crate::record::RecordMetrics;
use crate::StatsError;
use infergate_model::{FailureKind, Nanos, Phase, RequestRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How to summarise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryOptions {
    /// Whether responses were streamed (TTFT, TTST, ITL, ICL and per-user throughput exist only
    /// for streamed responses).
    pub streaming: bool,
    /// Goodput SLOs; goodput is reported when at least one is given.
    pub goodput: Vec<GoodputSlo>,
    /// Window that throughputs divide by, `(start, end)` on the records' clock. `None` (the
    /// default) uses the benchmark duration. AIPerf 0.13's export divides by its profiling
    /// phase's window (phase start → last request finished), which a load generator can pass
    /// here to reproduce AIPerf's throughputs exactly.
    pub throughput_window_ns: Option<(Nanos, Nanos)>,
    /// Confidence intervals to compute; `None` for none.
    pub confidence: Option<ConfidenceOptions>,
    /// AIPerf's OSL mismatch rule: a request counts when |OSL − requested| exceeds
    /// min(requested · this / 100, `osl_mismatch_max_tokens`). Default 5 (%).
    pub osl_mismatch_pct_threshold: f64,
    /// See `osl_mismatch_pct_threshold`. Default 50 (tokens).
    pub osl_mismatch_max_tokens: u32,
    /// AIPerf's usage discrepancy rule: a request counts when server and client token counts
    /// (prompt or completion) differ by more than this many percent of the client's count.
    /// Default 10 (%).
    pub usage_pct_diff_threshold: f64,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            streaming: true,
            goodput: Vec::new(),
            throughput_window_ns: None,
            confidence: Some(ConfidenceOptions::default()),
            osl_mismatch_pct_threshold: 5.0,
            osl_mismatch_max_tokens: 50,
            usage_pct_diff_threshold: 10.0,
        }
    }
}

/// Which confidence intervals to compute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceOptions {
    /// Confidence level in (0, 1). Default 0.95.
    pub level: f64,
    /// Number of equal time slices for throughput batch means (≥ 2). Default 20.
    pub slices: usize,
    /// Percentiles (0–100, exclusive) that get an interval. Default 50, 90, 95, 99.
    pub percentiles: Vec<f64>,
}

impl Default for ConfidenceOptions {
    fn default() -> Self {
        ConfidenceOptions {
            level: confidence::DEFAULT_LEVEL,
            slices: confidence::DEFAULT_SLICES,
            percentiles: vec![50.0, 90.0, 95.0, 99.0],
        }
    }
}

impl ConfidenceOptions {
    /// Checks the ranges, naming the bad value and the valid range.
    pub fn validate(&self) -> Result<(), StatsError> {
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(StatsError::ConfidenceLevel { value: self.level });
        }
        if self.slices < 2 {
            return Err(StatsError::Slices { value: self.slices });
        }
        if let Some(&p) = self
            .percentiles
            .iter()
            .find(|p| !(**p > 0.0 && **p < 100.0))
        {
            return Err(StatsError::Percentile { value: p });
        }
        Ok(())
    }
}

/// Failed profile requests, counted three ways.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// Count per failure class.
    pub by_kind: BTreeMap<FailureKind, u64>,
    /// Count per HTTP status, for failures that carried one.
    pub by_status: BTreeMap<u16, u64>,
    /// One entry per (class, status), most frequent first, with the first detail seen.
    pub groups: Vec<ErrorGroup>,
}

/// Failures of one class and status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup {
    /// The class.
    pub kind: FailureKind,
    /// The HTTP status, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How many profile requests failed this way.
    pub count: u64,
    /// The detail of the first such failure counted (records are counted in completion order
    /// when a run streams them), already bounded and secret-free.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sample_detail: String,
}

/// Goodput under the configured SLOs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoodputSummary {
    /// The SLOs (a request is good when it meets all of them).
    pub slos: Vec<GoodputSlo>,
    /// Successful profile requests meeting every SLO.
    pub good_request_count: u64,
    /// Good requests per second over the throughput window, requests/sec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<f64>,
    /// good / (successful + failed), 0–1.
    pub good_request_fraction: f64,
}

/// Requests in flight over the profile phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConcurrencySummary {
    /// Time-weighted mean number of profile requests in flight between the first send and the
    /// last end (equal to Σ(end − send) / (last end − first send)).
    pub avg: f64,
    /// Most profile requests in flight at once.
    pub max: u64,
    /// Fewest profile requests in flight at any time in that window.
    pub min: u64,
    /// Time-weighted population standard deviation of the number in flight.
    pub std: f64,
    /// Time-weighted percentiles of the number in flight (AIPerf's `effective_concurrency`
    /// p50/p90/p95/p99): the smallest count `k` such that at least that share of the window had
    /// `k` or fewer requests in flight.
    #[serde(default)]
    pub p50: f64,
    /// See [`ConcurrencySummary::p50`].
    #[serde(default)]
    pub p90: f64,
    /// See [`ConcurrencySummary::p50`].
    #[serde(default)]
    pub p95: f64,
    /// See [`ConcurrencySummary::p50`].
    #[serde(default)]
    pub p99: f64,
}

/// Confidence intervals of the summary's main numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryConfidence {
    /// Confidence level.
    pub level: f64,
    /// Time slices used for the throughput intervals.
    pub slices: u64,
    /// Output token throughput, tokens/sec (batch means over time slices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_token_throughput: Option<MeanCi>,
    /// Request throughput, requests/sec (batch means over time slices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_throughput: Option<MeanCi>,
    /// Percentile intervals per metric tag (`time_to_first_token`, `inter_token_latency`, …).
    pub percentiles: BTreeMap<String, Vec<QuantileCi>>,
}

/// Everything infergate reports about one run. Latencies are in ms, lengths in tokens,
/// throughputs in tokens/sec or requests/sec, durations in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Whether responses were streamed.
    pub streaming: bool,
    /// Successful profile requests (AIPerf `request_count`).
    pub request_count: u64,
    /// Failed profile requests (`error_request_count`).
    pub error_request_count: u64,
    /// Successful + failed profile requests (`completed_request_count`).
    pub completed_request_count: u64,
    /// Warmup requests seen (excluded from every other number).
    pub warmup_request_count: u64,
    /// 100 · errors / (successes + errors), % (`request_error_rate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_error_rate: Option<f64>,
    /// Earliest send of a successful profile request (records' clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ns: Option<Nanos>,
    /// Latest last-content response of a successful profile request (records' clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_ns: Option<Nanos>,
    /// `end_ns − start_ns`, seconds (`benchmark_duration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub benchmark_duration_s: Option<f64>,
    /// The window throughputs divide by, seconds (the benchmark duration unless overridden).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_window_s: Option<f64>,
    /// TTFT, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_first_token: Option<Distribution>,
    /// TTST, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_second_token: Option<Distribution>,
    /// ITL per request, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inter_token_latency: Option<Distribution>,
    /// Every gap between consecutive content responses, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inter_chunk_latency: Option<Distribution>,
    /// Request latency, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_latency: Option<Distribution>,
    /// 1 / ITL per request, tokens/sec/user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_token_throughput_per_user: Option<Distribution>,
    /// OSL / request latency per request, tokens/sec/user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_output_token_throughput: Option<Distribution>,
    /// Prompt lengths, tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_sequence_length: Option<Distribution>,
    /// Output lengths, tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_sequence_length: Option<Distribution>,
    /// Sum of ISL over successful profile requests, tokens.
    pub total_isl: u64,
    /// Sum of OSL over successful profile requests, tokens.
    pub total_osl: u64,
    /// total OSL / window, tokens/sec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_token_throughput: Option<f64>,
    /// total ISL / window, tokens/sec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_token_throughput: Option<f64>,
    /// (total ISL + total OSL) / window, tokens/sec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_token_throughput: Option<f64>,
    /// Successful requests / window, requests/sec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_throughput: Option<f64>,
    /// Goodput, when SLOs were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodput: Option<GoodputSummary>,
    /// Failures.
    pub errors: ErrorSummary,
    /// Successful requests whose OSL is below the requested `max_tokens` (stopped short).
    pub osl_short_count: u64,
    /// Successful requests outside AIPerf's OSL tolerance (`osl_mismatch_count`).
    pub osl_mismatch_count: u64,
    /// Successful requests whose response carried `usage`.
    pub usage_reported_count: u64,
    /// Successful requests whose `usage.completion_tokens` differs from the client's count.
    pub usage_completion_mismatch_count: u64,
    /// Successful requests outside AIPerf's usage tolerance (`usage_discrepancy_count`).
    pub usage_discrepancy_count: u64,
    /// Requests in flight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencySummary>,
    /// Confidence intervals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<SummaryConfidence>,
}

/// Values collected per metric before sorting: one per successful profile request.
#[derive(Default, Clone)]
struct Columns {
    ttft: Vec<f64>,
    ttst: Vec<f64>,
    itl: Vec<f64>,
    latency: Vec<f64>,
    per_user: Vec<f64>,
    e2e: Vec<f64>,
    isl: Vec<f64>,
    osl: Vec<f64>,
}

/// Builds a [`Summary`] one record at a time, in any order, so a run can hand its records to a
/// writer as they finish instead of keeping them ([`Summary::from_records`] is this over a
/// slice: one implementation).
///
/// Memory: about 80 bytes per profile request (one `f64` per per-request metric, plus its send
/// and end times for the concurrency sweep), and a fixed amount for the per-chunk parts: the
/// inter-chunk gaps go into a [`LogHistogram`] and the token and request arrival times into
/// [`TimeBins`], so a run's summary does not grow with its output tokens.
#[derive(Clone)]
pub struct SummaryBuilder {
    opts: SummaryOptions,
    s: Summary,
    cols: Columns,
    icl: LogHistogram,
    /// Output tokens by arrival time (spread over each request's content responses).
    token_times: TimeBins,
    /// Successful requests by the time of their last content response.
    completion_times: TimeBins,
    /// `(send, end)` of every profile request (successful or not).
    intervals: Vec<(Nanos, Nanos)>,
    good: u64,
    group_index: BTreeMap<(FailureKind, Option<u16>), usize>,
}

impl SummaryBuilder {
    /// An empty summary with these options.
    pub fn new(opts: &SummaryOptions) -> SummaryBuilder {
        SummaryBuilder {
            s: Summary {
                streaming: opts.streaming,
                ..Summary::default()
            },
            opts: opts.clone(),
            cols: Columns::default(),
            icl: LogHistogram::new(),
            token_times: TimeBins::new(),
            completion_times: TimeBins::new(),
            intervals: Vec::new(),
            good: 0,
            group_index: BTreeMap::new(),
        }
    }

    /// Change which confidence intervals [`SummaryBuilder::finish`] computes (they are worked
    /// out at the end, so one set of records can be summarised at several levels).
    pub fn set_confidence(&mut self, confidence: Option<ConfidenceOptions>) {
        self.opts.confidence = confidence;
    }

    /// TTFT of every successful profile request pushed so far, ms, in push order.
    pub fn ttft_ms(&self) -> &[f64] {
        &self.cols.ttft
    }

    /// ITL of every successful profile request pushed so far, ms, in push order.
    pub fn itl_ms(&self) -> &[f64] {
        &self.cols.itl
    }

    /// Request latency of every successful profile request pushed so far, ms, in push order.
    pub fn latency_ms(&self) -> &[f64] {
        &self.cols.latency
    }

    /// Count one record (warmup records are only counted as such).
    pub fn push(&mut self, r: &RequestRecord) {
        let (s, opts) = (&mut self.s, &self.opts);
        if r.phase == Phase::Warmup {
            s.warmup_request_count += 1;
            return;
        }
        self.intervals.push((r.send_ns, r.end_ns.max(r.send_ns)));
        if let Some(f) = &r.failure {
            s.error_request_count += 1;
            *s.errors.by_kind.entry(f.kind).or_default() += 1;
            if let Some(code) = f.status {
                *s.errors.by_status.entry(code).or_default() += 1;
            }
            let groups = &mut s.errors.groups;
            let i = *self
                .group_index
                .entry((f.kind, f.status))
                .or_insert_with(|| {
                    groups.push(ErrorGroup {
                        kind: f.kind,
                        status: f.status,
                        count: 0,
                        sample_detail: f.detail.clone(),
                    });
                    groups.len() - 1
                });
            groups[i].count += 1;
            return;
        }
        s.request_count += 1;
        let m = RecordMetrics::of(r, opts.streaming);
        let cols = &mut self.cols;
        push(&mut cols.ttft, m.time_to_first_token);
        push(&mut cols.ttst, m.time_to_second_token);
        push(&mut cols.itl, m.inter_token_latency);
        push(&mut cols.latency, m.request_latency);
        push(&mut cols.per_user, m.output_token_throughput_per_user);
        push(&mut cols.e2e, m.e2e_output_token_throughput);
        cols.isl.push(f64::from(m.input_sequence_length));
        cols.osl.push(f64::from(m.output_sequence_length));
        if opts.streaming {
            for w in r.content_ns.windows(2) {
                self.icl.record(w[1].saturating_sub(w[0]));
            }
        }
        s.total_isl += u64::from(m.input_sequence_length);
        s.total_osl += u64::from(m.output_sequence_length);
        if let Some(&last) = r.content_ns.last() {
            s.start_ns = Some(s.start_ns.map_or(r.send_ns, |t| t.min(r.send_ns)));
            s.end_ns = Some(s.end_ns.map_or(last, |t| t.max(last)));
            for (t, tokens) in r.token_arrivals() {
                self.token_times.add(t, tokens);
            }
            self.completion_times.add(last, 1.0);
        }
        count_length_checks(s, r, m.output_sequence_length, opts);
        if !opts.goodput.is_empty() && opts.goodput.iter().all(|slo| slo.is_met(&m)) {
            self.good += 1;
        }
    }

    /// The summary of every record pushed.
    pub fn finish(self) -> Summary {
        let SummaryBuilder {
            opts,
            mut s,
            cols,
            icl,
            token_times,
            completion_times,
            intervals,
            good,
            ..
        } = self;
        s.errors
            .groups
            .sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
        s.completed_request_count = s.request_count + s.error_request_count;
        if s.completed_request_count > 0 {
            s.request_error_rate =
                Some(100.0 * s.error_request_count as f64 / s.completed_request_count as f64);
        }
        if let (Some(a), Some(b)) = (s.start_ns, s.end_ns) {
            if b > a {
                s.benchmark_duration_s = Some((b - a) as f64 / 1e9);
            }
        }
        let window = throughput_window(&s, &opts);
        s.throughput_window_s = window.map(|(a, b)| (b - a) as f64 / 1e9);
        if let Some(w) = s.throughput_window_s {
            s.output_token_throughput = Some(s.total_osl as f64 / w);
            s.input_token_throughput = Some(s.total_isl as f64 / w);
            s.total_token_throughput = Some((s.total_isl + s.total_osl) as f64 / w);
            s.request_throughput = Some(s.request_count as f64 / w);
        }
        if !opts.goodput.is_empty() {
            s.goodput = Some(GoodputSummary {
                slos: opts.goodput.clone(),
                good_request_count: good,
                goodput: s.throughput_window_s.map(|w| good as f64 / w),
                good_request_fraction: if s.completed_request_count > 0 {
                    good as f64 / s.completed_request_count as f64
                } else {
                    0.0
                },
            });
        }
        s.concurrency = concurrency(intervals);

        let conf = opts.confidence.as_ref().filter(|c| c.validate().is_ok());
        let mut pct_cis = BTreeMap::new();
        let mut dist = |tag: &str, values: Vec<f64>, with_ci: bool| {
            let (d, cis) = distribution_with_ci(values, conf.filter(|_| with_ci));
            if !cis.is_empty() {
                pct_cis.insert(tag.to_string(), cis);
            }
            d
        };
        s.time_to_first_token = dist("time_to_first_token", cols.ttft, true);
        s.time_to_second_token = dist("time_to_second_token", cols.ttst, true);
        s.inter_token_latency = dist("inter_token_latency", cols.itl, true);
        s.request_latency = dist("request_latency", cols.latency, true);
        s.output_token_throughput_per_user =
            dist("output_token_throughput_per_user", cols.per_user, true);
        s.e2e_output_token_throughput = dist("e2e_output_token_throughput", cols.e2e, false);
        s.input_sequence_length = dist("input_sequence_length", cols.isl, false);
        s.output_sequence_length = dist("output_sequence_length", cols.osl, false);
        // One value per content chunk: from the histogram (within 0.05 %), and no
        // order-statistic interval because gaps within one stream are correlated.
        s.inter_chunk_latency = icl.distribution_ms();

        if let Some(c) = conf {
            let rates = |bins: &TimeBins| {
                let (start, end) = window?;
                // A rate is never negative: clipping the interval at 0 keeps its coverage.
                confidence::batch_means_ci(&bins.slice_rates(start, end, c.slices), c.level).map(
                    |mut ci| {
                        ci.lower = ci.lower.max(0.0);
                        ci
                    },
                )
            };
            s.confidence = Some(SummaryConfidence {
                level: c.level,
                slices: c.slices as u64,
                output_token_throughput: rates(&token_times),
                request_throughput: rates(&completion_times),
                percentiles: pct_cis,
            });
        }
        s
    }
}

impl Summary {
    /// Summarises the profile-phase records of one run (warmup records are only counted).
    pub fn from_records(records: &[RequestRecord], opts: &SummaryOptions) -> Summary {
        let mut builder = SummaryBuilder::new(opts);
        for r in records {
            builder.push(r);
        }
        builder.finish()
    }
}

fn push(v: &mut Vec<f64>, x: Option<f64>) {
    if let Some(x) = x {
        v.push(x);
    }
}

fn count_length_checks(s: &mut Summary, r: &RequestRecord, osl: u32, opts: &SummaryOptions) {
    let requested = r.requested_output_tokens;
    if requested > 0 {
        if osl < requested {
            s.osl_short_count += 1;
        }
        let tolerance = (f64::from(requested) * opts.osl_mismatch_pct_threshold / 100.0)
            .min(f64::from(opts.osl_mismatch_max_tokens));
        if f64::from(osl.abs_diff(requested)) > tolerance {
            s.osl_mismatch_count += 1;
        }
    }
    if let Some(u) = r.usage {
        s.usage_reported_count += 1;
        if u.completion_tokens != r.client_output_tokens {
            s.usage_completion_mismatch_count += 1;
        }
        let beyond = |server: u32, client: u32| {
            client > 0
                && f64::from(server.abs_diff(client)) / f64::from(client) * 100.0
                    > opts.usage_pct_diff_threshold
        };
        if beyond(u.prompt_tokens, r.input_tokens)
            || beyond(u.completion_tokens, r.client_output_tokens)
        {
            s.usage_discrepancy_count += 1;
        }
    }
}

fn throughput_window(s: &Summary, opts: &SummaryOptions) -> Option<(Nanos, Nanos)> {
    match opts.throughput_window_ns {
        Some((a, b)) if b > a => Some((a, b)),
        _ => match (s.start_ns, s.end_ns) {
            (Some(a), Some(b)) if b > a => Some((a, b)),
            _ => None,
        },
    }
}

fn distribution_with_ci(
    mut values: Vec<f64>,
    conf: Option<&ConfidenceOptions>,
) -> (Option<Distribution>, Vec<QuantileCi>) {
    values.retain(|x| !x.is_nan());
    values.sort_unstable_by(f64::total_cmp);
    let cis = conf
        .map(|c| {
            c.percentiles
                .iter()
                .filter_map(|&p| confidence::quantile_ci(&values, p, c.level))
                .collect()
        })
        .unwrap_or_default();
    (Distribution::from_sorted(&values), cis)
}

/// Requests in flight over `[first send, last end]`, from each profile request's `(send, end)`.
fn concurrency(intervals: Vec<(Nanos, Nanos)>) -> Option<ConcurrencySummary> {
    let first = intervals.iter().map(|i| i.0).min()?;
    let last = intervals.iter().map(|i| i.1).max()?;
    if last <= first {
        return None;
    }
    // Sweep line over half-open intervals [send, end): ends sort before starts at equal times.
    let mut events: Vec<(Nanos, i8)> = intervals
        .into_iter()
        .flat_map(|(send, end)| [(send, 1i8), (end, -1i8)])
        .collect();
    events.sort_unstable();
    // Time-weighted first and second moments of the in-flight count over [first, last].
    let (mut now, mut max, mut min) = (0i64, 0i64, i64::MAX);
    let (mut m1, mut m2) = (0f64, 0f64);
    // Time spent at each in-flight count, for the time-weighted percentiles.
    let mut time_at: std::collections::BTreeMap<i64, f64> = std::collections::BTreeMap::new();
    let mut prev = first;
    for (t, d) in events {
        if t > prev {
            let dt = (t - prev) as f64;
            m1 += now as f64 * dt;
            m2 += (now * now) as f64 * dt;
            *time_at.entry(now).or_insert(0.0) += dt;
            min = min.min(now);
            prev = t;
        }
        now += i64::from(d);
        max = max.max(now);
    }
    let span = (last - first) as f64;
    let avg = m1 / span;
    let weighted = |p: f64| {
        let want = span * p / 100.0;
        let mut acc = 0.0;
        for (&k, &dt) in &time_at {
            acc += dt;
            if acc >= want {
                return k as f64;
            }
        }
        max as f64
    };
    Some(ConcurrencySummary {
        avg,
        max: max as u64,
        min: if min == i64::MAX { 0 } else { min as u64 },
        std: (m2 / span - avg * avg).max(0.0).sqrt(),
        p50: weighted(50.0),
        p90: weighted(90.0),
        p95: weighted(95.0),
        p99: weighted(99.0),
    })
}
