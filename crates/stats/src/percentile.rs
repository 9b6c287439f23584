//! THE percentile definition of infergate, and the [`Distribution`] every metric is reported as.
//!
//! # Definition
//!
//! Percentile `p` (0–100) of `n` values is linear interpolation between the closest ranks of the
//! sorted values `x[0] ≤ … ≤ x[n−1]` — numpy's default (`method="linear"`), which AIPerf uses:
//!
//! ```text
//! h     = (n − 1) · p / 100
//! value = x[⌊h⌋] + (h − ⌊h⌋) · (x[⌈h⌉] − x[⌊h⌋])
//! ```
//!
//! So p0 is the minimum, p100 the maximum, and p50 of an even count is the mean of the two middle
//! values. Percentiles are exact: every value is kept and sorted, nothing is sketched. Every
//! percentile infergate prints, exports or gates on comes from [`percentile_sorted`].

use serde::{Deserialize, Serialize};

/// The percentiles every [`Distribution`] carries, as (export key, p).
pub const PERCENTILES: [(&str, f64); 10] = [
    ("p1", 1.0),
    ("p5", 5.0),
    ("p10", 10.0),
    ("p25", 25.0),
    ("p50", 50.0),
    ("p75", 75.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p999", 99.9),
];

/// Percentile `p` (0–100, clamped) of `sorted`, which must be sorted ascending (see the module
/// doc for the definition). `None` when `sorted` is empty or `p` is NaN.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || p.is_nan() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let h = (sorted.len() - 1) as f64 * p / 100.0;
    let lo = h.floor();
    let lo_i = lo as usize;
    let hi_i = (h.ceil() as usize).min(sorted.len() - 1);
    let (a, b) = (sorted[lo_i], sorted[hi_i]);
    Some(a + (h - lo) * (b - a))
}

/// Percentile `p` of unsorted `values` (sorts a copy; NaNs are dropped).
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_unstable_by(f64::total_cmp);
    percentile_sorted(&v, p)
}

/// Summary statistics of one metric over the requests it applies to, in the metric's unit.
///
/// `std` is the population standard deviation (numpy's default `ddof=0`, as AIPerf's
/// `metric_dicts.py` computes it): `sqrt(Σ(x − avg)² / count)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Number of values.
    pub count: u64,
    /// Sum of the values.
    pub sum: f64,
    /// Arithmetic mean.
    pub avg: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Population standard deviation (ddof = 0).
    pub std: f64,
    /// 1st percentile.
    pub p1: f64,
    /// 5th percentile.
    pub p5: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

impl Distribution {
    /// The distribution of `values` (NaNs dropped). `None` when no value is left.
    pub fn from_values(mut values: Vec<f64>) -> Option<Distribution> {
        values.retain(|x| !x.is_nan());
        values.sort_unstable_by(f64::total_cmp);
        Distribution::from_sorted(&values)
    }

    /// The distribution of `sorted` (ascending, no NaN). `None` when empty.
    pub fn from_sorted(sorted: &[f64]) -> Option<Distribution> {
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        let n = sorted.len() as f64;
        let sum: f64 = sorted.iter().sum();
        let avg = sum / n;
        // Two passes: the mean first, then squared deviations (no cancellation on large values).
        let var = sorted.iter().map(|x| (x - avg) * (x - avg)).sum::<f64>() / n;
        let p = |q: f64| percentile_sorted(sorted, q).unwrap_or(f64::NAN);
        Some(Distribution {
            count: sorted.len() as u64,
            sum,
            avg,
            min,
            max,
            std: var.sqrt(),
            p1: p(1.0),
            p5: p(5.0),
            p10: p(10.0),
            p25: p(25.0),
            p50: p(50.0),
            p75: p(75.0),
            p90: p(90.0),
            p95: p(95.0),
            p99: p(99.0),
            p999: p(99.9),
        })
    }

    /// The stored percentile for `p` when it is one of [`PERCENTILES`] (or 0 / 100 for min / max).
    pub fn get(&self, p: f64) -> Option<f64> {
        if p == 0.0 {
            return Some(self.min);
        }
        if p == 100.0 {
            return Some(self.max);
        }
        PERCENTILES
            .iter()
            .zip(self.percentiles())
            .find(|((_, q), _)| *q == p)
            .map(|(_, (_, v))| v)
    }

    /// The stored percentiles in [`PERCENTILES`] order, as (export key, value).
    pub fn percentiles(&self) -> [(&'static str, f64); 10] {
        [
            ("p1", self.p1),
            ("p5", self.p5),
            ("p10", self.p10),
            ("p25", self.p25),
            ("p50", self.p50),
            ("p75", self.p75),
            ("p90", self.p90),
            ("p95", self.p95),
            ("p99", self.p99),
            ("p999", self.p999),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn matches_numpy_linear_on_small_samples() {
        // numpy.percentile([15, 20, 35, 40, 50], [0, 1, 25, 40, 50, 99, 99.9, 100])
        //   -> [15.0, 15.2, 20.0, 29.0, 35.0, 49.6, 49.96, 50.0]
        let v = [15.0, 20.0, 35.0, 40.0, 50.0];
        let want = [
            (0.0, 15.0),
            (1.0, 15.2),
            (25.0, 20.0),
            (40.0, 29.0),
            (50.0, 35.0),
            (99.0, 49.6),
            (99.9, 49.96),
            (100.0, 50.0),
        ];
        for (p, w) in want {
            let got = percentile_sorted(&v, p).unwrap();
            assert!(close(got, w), "p{p}: got {got}, numpy {w}");
        }
        // numpy.percentile([3, 1, 4, 1, 5, 9, 2, 6], 50) -> 3.5 (even count: mean of middles)
        assert_eq!(
            percentile(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0], 50.0),
            Some(3.5)
        );
    }

    #[test]
    fn single_value_and_empty() {
        assert_eq!(percentile_sorted(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile_sorted(&[], 50.0), None);
        assert!(Distribution::from_values(vec![]).is_none());
        assert!(Distribution::from_values(vec![f64::NAN]).is_none());
    }

    #[test]
    fn distribution_matches_numpy() {
        // x = numpy.arange(1, 101) ** 1.5
        // numpy.percentile(x, [1,5,10,25,50,75,90,95,99,99.9]), x.std() (ddof=0), x.mean()
        let x: Vec<f64> = (1..=100).map(|i| (i as f64).powf(1.5)).collect();
        let d = Distribution::from_values(x.into_iter().rev().collect()).unwrap();
        let want = [
            ("p1", 2.8101428534987285),
            ("p5", 14.521108528239063),
            ("p10", 35.996863084686844),
            ("p25", 130.6808805150593),
            ("p50", 358.88312022447957),
            ("p75", 652.7774494832923),
            ("p90", 855.2419387498584),
            ("p95", 926.678392680446),
            ("p99", 985.1871871081983),
            ("p999", 998.5187187108199),
        ];
        for ((key, got), (wkey, w)) in d.percentiles().into_iter().zip(want) {
            assert_eq!(key, wkey);
            assert!(close(got, w), "{key}: got {got}, numpy {w}");
        }
        assert_eq!(d.count, 100);
        assert_eq!(d.min, 1.0);
        assert_eq!(d.max, 1000.0);
        assert!(close(d.avg, 405.01224515318927), "avg {}", d.avg);
        assert!(close(d.std, 301.6456220069717), "std {}", d.std);
        assert_eq!(d.get(99.9), Some(d.p999));
        assert_eq!(d.get(42.0), None);
    }
}
