//! Confidence intervals: distribution-free intervals for percentiles (order statistics and the
//! binomial distribution) and Student-t intervals for throughput from time-sliced batch means.
//!
//! Both are documented for users in docs/metrics.md ("Confidence intervals").

use serde::{Deserialize, Serialize};

/// Confidence level used when none is configured.
pub const DEFAULT_LEVEL: f64 = 0.95;

/// Number of equal time slices the profile window is cut into for batch means, by default.
pub const DEFAULT_SLICES: usize = 20;

/// A confidence interval for the `p`-th percentile of the population the sample came from.
///
/// The bounds are sample values (order statistics), so the interval holds for any continuous
/// distribution. A bound is `None` when the sample is too small to bound that side at the
/// requested level (for example the upper bound of p99 from 50 requests): the true percentile
/// may lie beyond the largest value observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileCi {
    /// Which percentile (0–100).
    pub p: f64,
    /// The point estimate (the percentile of the sample, see `percentile`).
    pub estimate: f64,
    /// Lower bound, or `None` for "below the smallest value".
    pub lower: Option<f64>,
    /// Upper bound, or `None` for "above the largest value".
    pub upper: Option<f64>,
    /// 1-based rank of the lower bound in the sorted sample (0 when unbounded).
    pub lower_rank: u64,
    /// 1-based rank of the upper bound in the sorted sample (`n + 1` when unbounded).
    pub upper_rank: u64,
    /// Probability that the interval covers the true percentile (exact, ≥ `level`).
    pub coverage: f64,
    /// The level asked for.
    pub level: f64,
    /// Sample size.
    pub n: u64,
}

/// A Student-t confidence interval for a mean computed from (approximately independent) batch
/// means, such as throughput per time slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeanCi {
    /// Mean of the batch values.
    pub mean: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Half the interval's width (`t · std_error`).
    pub half_width: f64,
    /// Standard error of the mean: sample std (ddof = 1) / √batches.
    pub std_error: f64,
    /// Number of batches (time slices).
    pub batches: u64,
    /// Confidence level.
    pub level: f64,
}

/// Largest share of `1 − level` one tail of a quantile interval may take. Equal tails
/// (`½`) are very conservative for high percentiles because the binomial is discrete (p99 of
/// 500 values: 98 % instead of 95 %); allowing a tail up to `¾` of the miss probability lets the
/// search find ranks whose exact coverage is close to the level while keeping both sides bounded
/// whenever the sample allows it.
const MAX_TAIL_SHARE: f64 = 0.75;

/// A distribution-free confidence interval for percentile `p` (0–100, exclusive) from `sorted`
/// (ascending, no NaN), at confidence `level` (0–1, exclusive).
///
/// Method: the number `B` of sample values below the true percentile is Binomial(n, p/100), and
/// `[x(l), x(u)]` (1-based order statistics) covers it with probability `P(l ≤ B ≤ u − 1)`,
/// whatever the distribution. Among rank pairs whose exact coverage is at least `level` and whose
/// two tail probabilities are each at most ¾·(1 − level), the pair with the smallest coverage
/// is chosen (ties: the most balanced tails). The binomial probabilities are exact (computed
/// in log space), for every `n`. Returns `None` for an empty sample or `p`/`level` out of range.
pub fn quantile_ci(sorted: &[f64], p: f64, level: f64) -> Option<QuantileCi> {
    let n = sorted.len();
    if n == 0 || !(p > 0.0 && p < 100.0) || !(level > 0.0 && level < 1.0) {
        return None;
    }
    let estimate = crate::percentile::percentile_sorted(sorted, p)?;
    let cdf = BinomialCdf::new(n as u64, p / 100.0);
    let max_tail = (1.0 - level) * MAX_TAIL_SHARE;
    // F(k) = P(B ≤ k), with F(−1) = 0 and F(n) = 1.
    let f = |k: i64| cdf.at(k);
    let n_i = n as i64;
    // Two pointers: as l grows, the smallest u with F(u−1) − F(l−1) ≥ level never shrinks.
    let mut best: Option<(f64, f64, i64, i64)> = None; // (coverage, imbalance, l, u)
                                                       // Below the stored part of the support F(l − 1) is 0 for every l, so start at its first
                                                       // rank: among equal candidates the larger l gives the narrower interval.
    let mut u: i64 = cdf.k0 + 1;
    for l in cdf.k0..=n_i {
        let lower_tail = f(l - 1);
        if lower_tail > max_tail {
            break;
        }
        if u < l + 1 {
            u = l + 1;
        }
        while u <= n_i + 1 && f(u - 1) - lower_tail < level {
            u += 1;
        }
        if u > n_i + 1 {
            break;
        }
        let coverage = f(u - 1) - lower_tail;
        let upper_tail = 1.0 - f(u - 1);
        if upper_tail > max_tail {
            continue;
        }
        let imbalance = (lower_tail - upper_tail).abs();
        let better = match best {
            None => true,
            Some((c, i, _, _)) => {
                coverage < c - 1e-12 || (coverage <= c + 1e-12 && imbalance < i - 1e-15)
            }
        };
        if better {
            best = Some((coverage, imbalance, l, u));
        }
    }
    // Some pair always qualifies in theory (l = 0, u = n + 1 covers with probability 1); keep a
    // safe fallback for rounding.
    let (coverage, _, l, u) = best.unwrap_or((1.0, 0.0, 0, n_i + 1));
    let value_at = |rank: i64| {
        if rank >= 1 && rank <= n_i {
            Some(sorted[(rank - 1) as usize])
        } else {
            None
        }
    };
    Some(QuantileCi {
        p,
        estimate,
        lower: value_at(l),
        upper: value_at(u),
        lower_rank: l as u64,
        upper_rank: u as u64,
        coverage: coverage.min(1.0),
        level,
        n: n as u64,
    })
}

/// A Student-t confidence interval for the mean of `batches` (at least 2 finite values).
///
/// With batch means (one value per time slice) the slices stand in for independent
/// observations; the interval is `mean ± t(1 − α/2, k − 1) · s / √k` with `s` the sample
/// standard deviation (ddof = 1) of the `k` batch values.
pub fn batch_means_ci(batches: &[f64], level: f64) -> Option<MeanCi> {
    let k = batches.len();
    if k < 2 || !(level > 0.0 && level < 1.0) || batches.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let kf = k as f64;
    let mean = batches.iter().sum::<f64>() / kf;
    let var = batches.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (kf - 1.0);
    let std_error = (var / kf).sqrt();
    let t = student_t_quantile(1.0 - (1.0 - level) / 2.0, kf - 1.0)?;
    let half_width = t * std_error;
    Some(MeanCi {
        mean,
        lower: mean - half_width,
        upper: mean + half_width,
        half_width,
        std_error,
        batches: k as u64,
        level,
    })
}

/// Exact binomial CDF over the part of the support that carries probability; values further than
/// ~40 standard deviations from the mean are below 1e-300 and taken as 0.
struct BinomialCdf {
    n: i64,
    /// First k stored.
    k0: i64,
    /// cumulative[i] = P(B ≤ k0 + i).
    cumulative: Vec<f64>,
}

impl BinomialCdf {
    fn new(n: u64, q: f64) -> BinomialCdf {
        let nf = n as f64;
        let sd = (nf * q * (1.0 - q)).sqrt();
        let mean = nf * q;
        let k0 = ((mean - 40.0 * sd - 10.0).floor() as i64).max(0);
        let k1 = ((mean + 40.0 * sd + 10.0).ceil() as i64).min(n as i64);
        let (lq, lp) = (q.ln(), (-q).ln_1p());
        let lchoose = ln_gamma(nf + 1.0);
        let mut cumulative = Vec::with_capacity((k1 - k0 + 1) as usize);
        let mut acc = 0.0;
        for k in k0..=k1 {
            let kf = k as f64;
            let lpmf =
                lchoose - ln_gamma(kf + 1.0) - ln_gamma(nf - kf + 1.0) + kf * lq + (nf - kf) * lp;
            acc += lpmf.exp();
            cumulative.push(acc);
        }
        // Normalise away the rounding of the log-gamma sums so that F(n) is exactly 1.
        let total = acc;
        if total > 0.0 {
            cumulative.iter_mut().for_each(|c| *c /= total);
        }
        BinomialCdf {
            n: n as i64,
            k0,
            cumulative,
        }
    }

    /// P(B ≤ k).
    fn at(&self, k: i64) -> f64 {
        if k < 0 {
            return 0.0;
        }
        if k >= self.n {
            return 1.0;
        }
        if k < self.k0 {
            return 0.0;
        }
        let i = (k - self.k0) as usize;
        self.cumulative.get(i).copied().unwrap_or(1.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, 9 terms; relative error ~1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised incomplete beta function I_x(a, b) (continued fraction, modified Lentz).
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(1.0 - x, b, a) / b
    }
}

fn beta_cf(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// CDF of Student's t distribution with `df` (> 0) degrees of freedom.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// Quantile of Student's t distribution: the `t` with `P(T ≤ t) = prob`, for `prob` in (0, 1)
/// and `df > 0`. Bisection on [`student_t_cdf`] to ~1e-12.
pub fn student_t_quantile(prob: f64, df: f64) -> Option<f64> {
    if !(prob > 0.0 && prob < 1.0 && df > 0.0 && df.is_finite()) {
        return None;
    }
    if prob < 0.5 {
        return student_t_quantile(1.0 - prob, df).map(|t| -t);
    }
    let mut hi = 1.0;
    let mut steps = 0;
    while student_t_cdf(hi, df) < prob {
        hi *= 2.0;
        steps += 1;
        if steps > 1100 {
            return None;
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, df) < prob {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi.max(1.0) {
            break;
        }
    }
    Some(0.5 * (lo + hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        // scipy.stats.t.ppf(0.975, df) for df = 1, 2, 9, 19, 29, 1000
        let want = [
            (1.0, 12.706204736174698),
            (2.0, 4.302652729749464),
            (9.0, 2.2621571628540993),
            (19.0, 2.093024054408263),
            (29.0, 2.045229642132703),
            (1000.0, 1.9623390808264074),
        ];
        for (df, w) in want {
            let got = student_t_quantile(0.975, df).unwrap();
            assert!((got - w).abs() < 1e-8, "df {df}: got {got}, want {w}");
        }
        // scipy.stats.t.ppf(0.95, 4) = 2.131846786326649, and symmetry
        assert!((student_t_quantile(0.95, 4.0).unwrap() - 2.131846786326649).abs() < 1e-8);
        assert!((student_t_quantile(0.05, 4.0).unwrap() + 2.131846786326649).abs() < 1e-8);
        assert!(student_t_quantile(1.0, 4.0).is_none());
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut fact = 1.0f64;
        for k in 1..30 {
            fact *= k as f64;
            let got = ln_gamma(k as f64 + 1.0);
            assert!((got - fact.ln()).abs() < 1e-10 * fact.ln().max(1.0), "{k}!");
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn median_interval_of_small_sample_uses_classic_ranks() {
        // n = 20, median, 95 %: the classic table gives ranks 6 and 15 (coverage 0.9586).
        let x: Vec<f64> = (1..=20).map(f64::from).collect();
        let ci = quantile_ci(&x, 50.0, 0.95).unwrap();
        assert_eq!((ci.lower_rank, ci.upper_rank), (6, 15));
        assert_eq!((ci.lower, ci.upper), (Some(6.0), Some(15.0)));
        assert!((ci.coverage - 0.958_610_534_667_970_7).abs() < 1e-9);
        assert_eq!(ci.estimate, 10.5);
    }

    #[test]
    fn high_percentile_of_tiny_sample_is_unbounded_above() {
        let x: Vec<f64> = (1..=20).map(f64::from).collect();
        let ci = quantile_ci(&x, 99.0, 0.95).unwrap();
        assert_eq!(ci.upper, None, "{ci:?}");
        assert!(ci.lower.is_some());
        assert!(ci.coverage >= 0.95);
        assert!(quantile_ci(&[], 50.0, 0.95).is_none());
        assert!(quantile_ci(&x, 100.0, 0.95).is_none());
    }

    #[test]
    fn large_sample_interval_matches_the_normal_approximation() {
        // n = 100 000, p99: sd of B = sqrt(n·q·(1 − q)) = 31.46, so the ranks are ≈ 99 000 ± 62.
        let x: Vec<f64> = (1..=100_000).map(f64::from).collect();
        let ci = quantile_ci(&x, 99.0, 0.95).unwrap();
        assert!(ci.coverage >= 0.95 && ci.coverage < 0.951, "{ci:?}");
        let width = (ci.upper_rank - ci.lower_rank) as f64;
        assert!((width - 2.0 * 1.96 * 31.46).abs() < 4.0, "{ci:?}");
        assert!(ci.lower_rank < 99_000 && ci.upper_rank > 99_000);
    }

    #[test]
    fn binomial_cdf_is_exact_for_large_n() {
        let c = BinomialCdf::new(100_000, 0.99);
        // Symmetric around the mean within the normal approximation: P(B ≤ mean) ≈ 0.5.
        let mid = c.at(99_000);
        assert!((mid - 0.5).abs() < 0.02, "{mid}");
        assert_eq!(c.at(100_000), 1.0);
        assert_eq!(c.at(-1), 0.0);
    }

    #[test]
    fn slices_split_the_window_evenly() {
        let s = 1_000_000_000u64;
        // 10 tokens at 0.5 s, 20 at 1.5 s, 30 at exactly the end (belongs to the last slice).
        let mut bins = crate::TimeBins::new();
        for (t, amount) in [(s / 2, 10.0), (3 * s / 2, 20.0), (2 * s, 30.0)] {
            bins.add(t, amount);
        }
        let rates = bins.slice_rates(0, 2 * s, 2);
        assert_eq!(rates, vec![10.0, 50.0]);
        let mean = rates.iter().sum::<f64>() / 2.0;
        assert_eq!(
            mean,
            60.0 / 2.0,
            "mean of slices is the window's throughput"
        );
        assert!(bins.slice_rates(5, 5, 3).is_empty());
    }

    #[test]
    fn batch_means_interval_by_hand() {
        // mean 3, s = sqrt(2.5), se = s/sqrt(5), t(0.975, 4) = 2.7764451051977987
        let ci = batch_means_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95).unwrap();
        let hw = 2.7764451051977987 * (2.5f64 / 5.0).sqrt();
        assert!((ci.half_width - hw).abs() < 1e-9);
        assert!((ci.lower - (3.0 - hw)).abs() < 1e-9);
        assert_eq!(ci.batches, 5);
        assert!(batch_means_ci(&[1.0], 0.95).is_none());
    }
}
