//! Bounded-memory aggregates for values that come once per token rather than once per request:
//! a log-linear histogram (inter-chunk latency) and time bins (tokens and requests per time slice
//! for the throughput intervals).
//!
//! Why: a run keeps one value per request for each per-request metric (exact percentiles), but a
//! value per content chunk would grow by ~1 KB per request (128 gaps of 8 bytes). These two
//! structures keep that part of the summary's memory fixed however many requests a run has.

use crate::percentile::Distribution;
use infergate_model::Nanos;

/// log2 of the sub-buckets per power of two: 1,024, so a bucket spans at most 2⁻¹⁰ (0.098 %) of
/// its lower bound.
const SUB_BITS: u32 = 10;
const SUB: u64 = 1 << SUB_BITS;

/// A histogram of nanosecond values, exact below 1,024 ns and log-linear above: each bucket
/// spans at most 0.098 % of its values. A value is taken as the mean of the values in its bucket,
/// which is off by less than 0.098 % and exact when they are all equal (a server that paces
/// tokens on a clock). Count, sum, mean, standard deviation, minimum and maximum are exact.
///
/// Memory: a count and a sum per bucket up to the largest value seen (about 21,000 buckets,
/// 340 KB, for values up to one second), whatever the number of values.
#[derive(Debug, Clone, Default)]
pub struct LogHistogram {
    counts: Vec<u64>,
    /// Sum of the values in each bucket, ns (saturating: 2⁶⁴ ns is 584 years).
    sums: Vec<u64>,
    count: u64,
    sum_ns: u128,
    min_ns: Nanos,
    max_ns: Nanos,
    /// Welford's running mean and sum of squared deviations, in ms.
    mean_ms: f64,
    m2_ms: f64,
}

fn bucket_of(v: Nanos) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exponent = 63 - v.leading_zeros();
    let shift = exponent - SUB_BITS;
    let mantissa = (v >> shift) - SUB;
    ((u64::from(shift) + 1) * SUB + mantissa) as usize
}

/// `[low, high]` (inclusive) of the values that fall into bucket `b`.
fn bucket_bounds(b: usize) -> (Nanos, Nanos) {
    let b = b as u64;
    if b < SUB {
        return (b, b);
    }
    let shift = b / SUB - 1;
    let low = (SUB + b % SUB) << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl LogHistogram {
    /// An empty histogram.
    pub fn new() -> LogHistogram {
        LogHistogram::default()
    }

    /// Add one value.
    pub fn record(&mut self, v: Nanos) {
        let b = bucket_of(v);
        if b >= self.counts.len() {
            self.counts.resize(b + 1, 0);
            self.sums.resize(b + 1, 0);
        }
        self.counts[b] += 1;
        self.sums[b] = self.sums[b].saturating_add(v);
        if self.count == 0 {
            self.min_ns = v;
            self.max_ns = v;
        } else {
            self.min_ns = self.min_ns.min(v);
            self.max_ns = self.max_ns.max(v);
        }
        self.count += 1;
        self.sum_ns += u128::from(v);
        let x = v as f64 / 1e6;
        let delta = x - self.mean_ms;
        self.mean_ms += delta / self.count as f64;
        self.m2_ms += delta * (x - self.mean_ms);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `k`-th smallest value (0-based), as the mean of the values in its bucket; `None` when
    /// `k` is out of range.
    pub fn order_statistic_ns(&self, k: u64) -> Option<f64> {
        if k >= self.count {
            return None;
        }
        let mut seen = 0u64;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen > k {
                let (low, high) = bucket_bounds(b);
                let mean = self.sums[b] as f64 / c as f64;
                return Some(mean.clamp(low as f64, high as f64));
            }
        }
        None
    }

    /// The distribution in milliseconds, with the crate's one percentile definition (linear
    /// interpolation between closest ranks) applied to the order statistics above; `None` when
    /// empty.
    pub fn distribution_ms(&self) -> Option<Distribution> {
        if self.count == 0 {
            return None;
        }
        let percentile = |p: f64| {
            let h = (self.count - 1) as f64 * p / 100.0;
            let lo = h.floor();
            let a = self.order_statistic_ns(lo as u64).unwrap_or(f64::NAN);
            let b = self.order_statistic_ns(h.ceil() as u64).unwrap_or(a);
            (a + (h - lo) * (b - a)) / 1e6
        };
        Some(Distribution {
            count: self.count,
            sum: self.sum_ns as f64 / 1e6,
            avg: self.sum_ns as f64 / 1e6 / self.count as f64,
            min: self.min_ns as f64 / 1e6,
            max: self.max_ns as f64 / 1e6,
            std: (self.m2_ms / self.count as f64).max(0.0).sqrt(),
            p1: percentile(1.0),
            p5: percentile(5.0),
            p10: percentile(10.0),
            p25: percentile(25.0),
            p50: percentile(50.0),
            p75: percentile(75.0),
            p90: percentile(90.0),
            p95: percentile(95.0),
            p99: percentile(99.0),
            p999: percentile(99.9),
        })
    }
}

/// Most bins kept; past it, neighbouring bins are merged and the width doubles.
const MAX_BINS: usize = 1 << 16;
/// Width of a bin until a run outgrows [`MAX_BINS`] of them: 1 ms.
const FIRST_BIN_NS: Nanos = 1_000_000;

/// Amounts (tokens, requests) that arrived at points in time, summed in equal bins from time 0.
/// Bins are 1 ms wide until the run is longer than 65.5 s, then 2 ms, 4 ms, …: at most 65,536
/// bins (512 KB) for any run, and the rate over a time slice is exact up to the one partial bin
/// at each end of the slice (for 20 slices, at most 1/1,638 of a slice each).
#[derive(Debug, Clone)]
pub struct TimeBins {
    width_ns: Nanos,
    bins: Vec<f64>,
}

impl Default for TimeBins {
    fn default() -> Self {
        TimeBins {
            width_ns: FIRST_BIN_NS,
            bins: Vec::new(),
        }
    }
}

impl TimeBins {
    /// No amounts yet.
    pub fn new() -> TimeBins {
        TimeBins::default()
    }

    /// Add `amount` at time `t`.
    pub fn add(&mut self, t: Nanos, amount: f64) {
        let mut i = (t / self.width_ns) as usize;
        while i >= MAX_BINS {
            self.halve();
            i = (t / self.width_ns) as usize;
        }
        if i >= self.bins.len() {
            self.bins.resize(i + 1, 0.0);
        }
        self.bins[i] += amount;
    }

    fn halve(&mut self) {
        let merged: Vec<f64> = self.bins.chunks(2).map(|c| c.iter().sum()).collect();
        self.bins = merged;
        self.width_ns *= 2;
    }

    /// Amount per second in each of `slices` equal slices of `[start, end]`. A bin's amount is
    /// spread evenly over the part of the bin inside the window, so nothing inside the window is
    /// lost at its edges; bins wholly outside it are ignored. Empty when the window is empty or
    /// `slices` is 0.
    pub fn slice_rates(&self, start: Nanos, end: Nanos, slices: usize) -> Vec<f64> {
        if end <= start || slices == 0 {
            return Vec::new();
        }
        let (start_f, end_f) = (start as f64, end as f64);
        let slice_ns = (end_f - start_f) / slices as f64;
        let mut totals = vec![0.0f64; slices];
        let w = self.width_ns as f64;
        for (i, &amount) in self.bins.iter().enumerate() {
            if amount == 0.0 {
                continue;
            }
            // The bin's extent inside the window. A bin that only touches it: one that starts
            // exactly at `end` holds events at `end` (the last slice's); one that ends at `start`
            // holds none of the window's.
            let bin_start = i as f64 * w;
            let lo = bin_start.max(start_f);
            let hi = (bin_start + w).min(end_f);
            if hi < lo {
                continue;
            }
            if hi == lo {
                if bin_start == end_f {
                    totals[slices - 1] += amount;
                }
                continue;
            }
            let first = (((lo - start_f) / slice_ns) as usize).min(slices - 1);
            let last = (((hi - start_f) / slice_ns) as usize).min(slices - 1);
            if first == last {
                totals[first] += amount;
                continue;
            }
            for (s, total) in totals.iter_mut().enumerate().take(last + 1).skip(first) {
                let s_lo = (start_f + s as f64 * slice_ns).max(lo);
                let s_hi = (start_f + (s + 1) as f64 * slice_ns).min(hi);
                if s_hi > s_lo {
                    *total += amount * (s_hi - s_lo) / (hi - lo);
                }
            }
        }
        let slice_s = slice_ns / 1e9;
        totals.iter_mut().for_each(|x| *x /= slice_s);
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::percentile::Distribution;

    /// The exact rates the bins approximate: per second in each of `slices` equal slices of
    /// `[start, end]`, each event `(t, amount)` counted in the slice containing `t` (the last
    /// instant in the last slice; events outside the window ignored). Empty when the window is
    /// empty or `slices` is 0.
    fn exact_slice_rates(
        events: impl IntoIterator<Item = (Nanos, f64)>,
        start: Nanos,
        end: Nanos,
        slices: usize,
    ) -> Vec<f64> {
        if end <= start || slices == 0 {
            return Vec::new();
        }
        let span = (end - start) as u128;
        let mut totals = vec![0.0f64; slices];
        for (t, amount) in events {
            if t < start || t > end {
                continue;
            }
            // The last instant belongs to the last slice (the window's end is the last response).
            let idx =
                (((t - start) as u128 * slices as u128) / span).min(slices as u128 - 1) as usize;
            totals[idx] += amount;
        }
        let slice_s = (end - start) as f64 / 1e9 / slices as f64;
        totals.iter_mut().for_each(|x| *x /= slice_s);
        totals
    }

    #[test]
    fn buckets_cover_every_value_once_and_in_order() {
        let mut prev_high = None;
        for b in 0..(SUB as usize * 30) {
            let (low, high) = bucket_bounds(b);
            assert!(low <= high);
            assert_eq!(bucket_of(low), b, "low of bucket {b}");
            assert_eq!(bucket_of(high), b, "high of bucket {b}");
            if let Some(p) = prev_high {
                assert_eq!(low, p + 1, "bucket {b} starts right after the previous one");
            }
            prev_high = Some(high);
        }
        assert_eq!(bucket_of(u64::MAX), bucket_of(u64::MAX - 1));
        let (low, high) = bucket_bounds(bucket_of(u64::MAX));
        assert!(low < high && high == u64::MAX);
    }

    #[test]
    fn histogram_percentiles_are_within_a_tenth_of_a_percent_of_exact() {
        // A skewed mix: microsecond gaps, 5 ms decode steps with jitter, rare multi-second stalls.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut values = Vec::new();
        let mut h = LogHistogram::new();
        for i in 0..200_000u64 {
            let v = match i % 100 {
                0..=9 => next() % 50_000,
                10..=98 => 5_000_000 + next() % 400_000,
                _ => 1_000_000_000 + next() % 9_000_000_000,
            };
            values.push(v as f64 / 1e6);
            h.record(v);
        }
        values.sort_by(f64::total_cmp);
        let exact = Distribution::from_sorted(&values).unwrap();
        let approx = h.distribution_ms().unwrap();
        assert_eq!(approx.count, exact.count);
        for ((name, e), (_, a)) in exact.percentiles().into_iter().zip(approx.percentiles()) {
            let tolerance = e.abs() * 1e-3 + 1e-6;
            assert!((a - e).abs() <= tolerance, "{name}: {a} vs exact {e}");
        }
        assert_eq!(approx.min, exact.min);
        assert_eq!(approx.max, exact.max);
        assert!((approx.avg - exact.avg).abs() <= exact.avg * 1e-12);
        assert!((approx.std - exact.std).abs() <= exact.std * 1e-9);
    }

    #[test]
    fn repeated_values_are_exact() {
        let mut h = LogHistogram::new();
        for v in [5_000_000u64, 7_000_000, 7_000_000, 7_000_000, 9_000_000] {
            h.record(v);
        }
        let d = h.distribution_ms().unwrap();
        assert_eq!((d.p25, d.p50, d.p75), (7.0, 7.0, 7.0));
        // numpy: percentile([5, 7, 7, 7, 9], 10) = 5.8
        assert!((d.p10 - 5.8).abs() < 1e-12, "{}", d.p10);
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = LogHistogram::new();
        for v in [3u64, 1, 2, 1000] {
            h.record(v);
        }
        let d = h.distribution_ms().unwrap();
        assert_eq!(d.min, 1e-6);
        assert_eq!(d.max, 1e-3);
        // numpy: percentile([1, 2, 3, 1000], 50) = 2.5
        assert!((d.p50 - 2.5e-6).abs() < 1e-15);
        assert!(LogHistogram::new().distribution_ms().is_none());
    }

    #[test]
    fn time_bins_rates_match_exact_slicing_up_to_one_bin() {
        let mut bins = TimeBins::new();
        let mut events = Vec::new();
        // 10 tokens every 0.7 ms for 10 s, starting at 2 s.
        let mut t = 2_000_000_000u64;
        while t < 12_000_000_000 {
            bins.add(t, 10.0);
            events.push((t, 10.0));
            t += 700_000;
        }
        let (start, end) = (2_000_000_000, events.last().unwrap().0);
        let exact = exact_slice_rates(events.iter().copied(), start, end, 20);
        let binned = bins.slice_rates(start, end, 20);
        let total_exact: f64 = exact.iter().sum();
        let total_binned: f64 = binned.iter().sum();
        assert!((total_exact - total_binned).abs() < 1e-6 * total_exact);
        for (e, b) in exact.iter().zip(&binned) {
            // One 1 ms bin at each slice edge: 2 × 10 tokens / 0.7 ms ≈ 28.6 tokens, per 0.5 s.
            assert!((e - b).abs() <= 2.0 * 10.0 / 0.7 / 0.5 + 1e-6, "{e} vs {b}");
        }
    }

    #[test]
    fn time_bins_stay_bounded_over_long_runs() {
        let mut bins = TimeBins::new();
        // One event per simulated second for 10 hours.
        for s in 0..36_000u64 {
            bins.add(s * 1_000_000_000, 1.0);
        }
        assert!(bins.bins.len() <= MAX_BINS);
        let all = bins.slice_rates(0, 35_999 * 1_000_000_000, 10);
        let total: f64 = all.iter().map(|r| r * 3_599.9).sum();
        assert!((total - 36_000.0).abs() < 1e-6, "{total}");
    }
}
