//! A run's evidence for the gate: the two gated quantities (output-token throughput and TTFT
//! p99) as point estimates with confidence intervals, plus what is needed to pool trials.
//!
//! The point estimates are exactly the ones `infergate-stats` reports (and the gate prints):
//! throughput = output tokens of successful profile requests / the window from their first send
//! to their last content response (or the window the caller passes); TTFT p99 = the 99th
//! percentile (numpy's linear definition) of their TTFTs. The intervals are the ones
//! docs/metrics.md defines: batch means over 20 time slices for throughput, order statistics for
//! the percentile.

use crate::rule::Interval;
use infergate_model::{Nanos, Phase, RequestRecord};
use infergate_stats::{batch_means_ci, percentile_sorted, quantile_ci, TimeBins};
use serde::{Deserialize, Serialize};

/// Time slices per run for the throughput interval (as `infergate-stats`' default).
pub const SLICES: usize = 20;

/// The percentile the TTFT constraint gates on.
pub const TTFT_PERCENTILE: f64 = 99.0;

/// A point estimate and its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The point estimate (what upstream compares with its threshold).
    pub estimate: f64,
    /// Its confidence interval.
    pub interval: Interval,
}

/// What one run (or several pooled runs) measured of the gated quantities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvidence {
    /// Confidence level of the intervals.
    pub level: f64,
    /// Runs pooled into this evidence (1 for a single run).
    pub trials: u32,
    /// Successful profile requests.
    pub requests: u64,
    /// Failed profile requests.
    pub failed: u64,
    /// Throughput window(s), seconds (summed over trials).
    pub window_s: f64,
    /// Wall time of the run(s) from the first request sent (warmup included) to the last
    /// response, seconds (summed over trials): what the measurement cost.
    pub run_s: f64,
    /// Output-token throughput, tokens/sec.
    pub throughput: Option<Estimate>,
    /// TTFT p99, ms.
    pub ttft_p99: Option<Estimate>,
    /// Output tokens/sec in each time slice (for pooling).
    pub slice_rates: Vec<f64>,
    /// Every TTFT, ms, ascending (for pooling).
    pub ttft_ms: Vec<f64>,
}

impl RunEvidence {
    /// The evidence of one run's records at confidence `level` (in (0, 1)), with the throughput
    /// window from the first successful profile send to the last content response.
    pub fn from_records(records: &[RequestRecord], level: f64) -> RunEvidence {
        RunEvidence::from_records_in_window(records, level, None)
    }

    /// As [`RunEvidence::from_records`], dividing throughput by `window` (on the records' clock)
    /// when given, as `SummaryOptions::throughput_window_ns` does.
    pub fn from_records_in_window(
        records: &[RequestRecord],
        level: f64,
        window: Option<(Nanos, Nanos)>,
    ) -> RunEvidence {
        let mut requests = 0u64;
        let mut failed = 0u64;
        let mut total_osl = 0u64;
        let mut span: Option<(Nanos, Nanos)> = None;
        let mut ttft_ms = Vec::with_capacity(records.len());
        let mut first_any: Option<Nanos> = None;
        let mut last_any: Option<Nanos> = None;
        for r in records {
            first_any = Some(first_any.map_or(r.send_ns, |t| t.min(r.send_ns)));
            last_any = Some(last_any.map_or(r.end_ns, |t| t.max(r.end_ns)));
            if r.phase != Phase::Profile {
                continue;
            }
            if !r.is_success() {
                failed += 1;
                continue;
            }
            requests += 1;
            total_osl += u64::from(r.output_tokens());
            if let Some(&last) = r.content_ns.last() {
                span = Some(match span {
                    None => (r.send_ns, last),
                    Some((a, b)) => (a.min(r.send_ns), b.max(last)),
                });
            }
            if let Some(t) = r.ttft_ns() {
                ttft_ms.push(t as f64 / 1e6);
            }
        }
        ttft_ms.sort_unstable_by(f64::total_cmp);
        let window = match window {
            Some((a, b)) if b > a => Some((a, b)),
            _ => span.filter(|(a, b)| b > a),
        };
        let window_s = window.map_or(0.0, |(a, b)| (b - a) as f64 / 1e9);
        // Token arrivals binned exactly as the summary bins them, so both intervals agree.
        let slice_rates = window
            .map(|(a, b)| {
                let mut bins = TimeBins::new();
                let ok = records
                    .iter()
                    .filter(|r| r.phase == Phase::Profile && r.is_success());
                for (t, tokens) in ok.flat_map(RequestRecord::token_arrivals) {
                    bins.add(t, tokens);
                }
                bins.slice_rates(a, b, SLICES)
            })
            .unwrap_or_default();
        let throughput = (window_s > 0.0).then(|| Estimate {
            estimate: total_osl as f64 / window_s,
            interval: rate_interval(&slice_rates, level),
        });
        let run_s = match (first_any, last_any) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
            _ => 0.0,
        };
        RunEvidence {
            level,
            trials: 1,
            requests,
            failed,
            window_s,
            run_s,
            throughput,
            ttft_p99: p99_estimate(&ttft_ms, level),
            slice_rates,
            ttft_ms,
        }
    }

    /// Pools trials into one sample (the rule in [`crate::rule::judge_trials`]): throughput is
    /// the mean of the trials' throughputs, with a Student-t interval over all their time
    /// slices; TTFT p99 is the p99 of every TTFT, with the order-statistic interval of the
    /// pooled sample. `None` for no trials. The level is the first trial's.
    pub fn pool(trials: &[RunEvidence]) -> Option<RunEvidence> {
        let first = trials.first()?;
        if trials.len() == 1 {
            return Some(first.clone());
        }
        let level = first.level;
        let mut ttft_ms: Vec<f64> = trials
            .iter()
            .flat_map(|t| t.ttft_ms.iter().copied())
            .collect();
        ttft_ms.sort_unstable_by(f64::total_cmp);
        let slice_rates: Vec<f64> = trials
            .iter()
            .flat_map(|t| t.slice_rates.iter().copied())
            .collect();
        let measured: Vec<f64> = trials
            .iter()
            .filter_map(|t| t.throughput.map(|e| e.estimate))
            .collect();
        let throughput = (!measured.is_empty()).then(|| Estimate {
            estimate: measured.iter().sum::<f64>() / measured.len() as f64,
            interval: rate_interval(&slice_rates, level),
        });
        Some(RunEvidence {
            level,
            trials: trials.iter().map(|t| t.trials).sum(),
            requests: trials.iter().map(|t| t.requests).sum(),
            failed: trials.iter().map(|t| t.failed).sum(),
            window_s: trials.iter().map(|t| t.window_s).sum(),
            run_s: trials.iter().map(|t| t.run_s).sum(),
            throughput,
            ttft_p99: p99_estimate(&ttft_ms, level),
            slice_rates,
            ttft_ms,
        })
    }

    /// Requests whose TTFT exceeds `ceiling_ms`.
    pub fn ttft_over(&self, ceiling_ms: f64) -> u64 {
        let under = self.ttft_ms.partition_point(|&x| x <= ceiling_ms);
        (self.ttft_ms.len() - under) as u64
    }
}

fn rate_interval(slice_rates: &[f64], level: f64) -> Interval {
    match batch_means_ci(slice_rates, level) {
        // A rate is never negative: clipping at 0 keeps the coverage (as infergate-stats does).
        Some(ci) => Interval::closed(ci.lower.max(0.0), ci.upper, level),
        None => Interval::unknown(level),
    }
}

fn p99_estimate(sorted: &[f64], level: f64) -> Option<Estimate> {
    let estimate = percentile_sorted(sorted, TTFT_PERCENTILE)?;
    let interval = match quantile_ci(sorted, TTFT_PERCENTILE, level) {
        Some(ci) => Interval {
            lower: ci.lower,
            upper: ci.upper,
            level,
        },
        None => Interval::unknown(level),
    };
    Some(Estimate { estimate, interval })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use infergate_model::{Phase, RequestRecord};
    use infergate_stats::{ConfidenceOptions, Summary, SummaryOptions};

    /// A streamed record: sent at `send_ms`, first token after `ttft_ms`, then `tokens − 1`
    /// more tokens `itl_ms` apart.
    pub(crate) fn rec(
        i: u64,
        send_ms: f64,
        ttft_ms: f64,
        tokens: u32,
        itl_ms: f64,
    ) -> RequestRecord {
        let ns = |ms: f64| (ms * 1e6) as u64;
        let send = ns(send_ms);
        let first = send + ns(ttft_ms);
        let content: Vec<u64> = (0..u64::from(tokens))
            .map(|k| first + k * ns(itl_ms))
            .collect();
        RequestRecord {
            index: i,
            phase: Phase::Profile,
            entry: 0,
            scheduled_ns: None,
            send_ns: send,
            headers_ns: Some(first),
            end_ns: *content.last().unwrap_or(&first),
            content_ns: content,
            input_tokens: 128,
            requested_output_tokens: tokens,
            client_output_tokens: tokens,
            usage: None,
            worker: None,
            failure: None,
        }
    }

    #[test]
    fn point_estimates_are_the_summarys_and_intervals_too() {
        let records: Vec<RequestRecord> = (0..3000)
            .map(|i| {
                let t = 20.0 + ((i * 7919) % 1000) as f64 / 10.0;
                rec(i, i as f64 * 3.0, t, 16, 5.0)
            })
            .collect();
        let e = RunEvidence::from_records(&records, 0.95);
        let opts = SummaryOptions {
            confidence: Some(ConfidenceOptions {
                level: 0.95,
                slices: SLICES,
                percentiles: vec![99.0],
            }),
            ..SummaryOptions::default()
        };
        let s = Summary::from_records(&records, &opts);
        let tp = e.throughput.unwrap();
        assert_eq!(Some(tp.estimate), s.output_token_throughput);
        let sci = s.confidence.as_ref().unwrap();
        let tci = sci.output_token_throughput.as_ref().unwrap();
        assert_eq!(tp.interval.lower, Some(tci.lower));
        assert_eq!(tp.interval.upper, Some(tci.upper));
        let p = e.ttft_p99.unwrap();
        assert_eq!(
            Some(p.estimate),
            s.time_to_first_token.as_ref().map(|d| d.p99)
        );
        let q = &sci.percentiles["time_to_first_token"][0];
        assert_eq!((p.interval.lower, p.interval.upper), (q.lower, q.upper));
        assert_eq!(e.requests, 3000);
        assert_eq!(
            e.ttft_over(119.0),
            e.ttft_ms.iter().filter(|&&x| x > 119.0).count() as u64
        );
    }

    #[test]
    fn pooling_one_trial_is_the_trial_and_more_trials_narrow_the_interval() {
        let run = |offset: u64| -> RunEvidence {
            let records: Vec<RequestRecord> = (0..2000)
                .map(|i| {
                    let t = 20.0 + (((i + offset) * 7919) % 1000) as f64 / 10.0;
                    rec(i, i as f64 * 3.0, t, 16, 5.0)
                })
                .collect();
            RunEvidence::from_records(&records, 0.95)
        };
        let a = run(0);
        assert_eq!(RunEvidence::pool(std::slice::from_ref(&a)).unwrap(), a);
        let pooled = RunEvidence::pool(&[a.clone(), run(13), run(29)]).unwrap();
        assert_eq!(pooled.trials, 3);
        assert_eq!(pooled.requests, 6000);
        let w = |e: &RunEvidence| {
            let i = e.ttft_p99.unwrap().interval;
            i.upper.unwrap() - i.lower.unwrap()
        };
        assert!(w(&pooled) <= w(&a), "{} vs {}", w(&pooled), w(&a));
        assert!(RunEvidence::pool(&[]).is_none());
    }
}
