//! The statistics the report needs, in one place: the percentile definition and the confidence
//! intervals used by the page and by `compare`.
//!
//! TEMPORARY: these belong to `infergate-stats`, which owns THE percentile definition. Its API
//! had not landed when this crate was written, so this module holds the same definition (linear
//! interpolation between closest ranks, numpy's default) behind the names the rest of this crate
//! calls. When the stats crate exports them, every function here becomes a one-line forward to it
//! and this module must not keep a definition of its own. Nothing outside this module computes a
//! percentile or an interval.

/// The `p`-th percentile (0..=100) of ascending `sorted` values: linear interpolation between the
/// closest ranks (numpy's default). `None` for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Distribution-free confidence interval of the `p`-th percentile from order statistics: the
/// ranks `n·q ± z·√(n·q·(1−q))` of the sorted sample (normal approximation of the binomial
/// count below the true quantile), clamped to the sample. `None` for no values.
pub fn percentile_ci(sorted: &[f64], p: f64, confidence: f64) -> Option<(f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let q = p.clamp(0.0, 100.0) / 100.0;
    let z = normal_quantile(0.5 + confidence / 2.0);
    let centre = n as f64 * q;
    let spread = z * (n as f64 * q * (1.0 - q)).sqrt();
    let lo = (centre - spread).floor().max(0.0) as usize;
    let hi = ((centre + spread).ceil() as usize).min(n - 1);
    Some((sorted[lo.min(n - 1)], sorted[hi]))
}

/// Confidence interval of a mean from batch means (for throughput: the rate in each of several
/// equal time slices): `mean ± t(k−1)·s/√k`. `None` for fewer than two batches.
pub fn batch_means_ci(batches: &[f64], confidence: f64) -> Option<(f64, f64)> {
    let k = batches.len();
    if k < 2 {
        return None;
    }
    let mean = batches.iter().sum::<f64>() / k as f64;
    let var = batches.iter().map(|b| (b - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
    let half = t_quantile(0.5 + confidence / 2.0, (k - 1) as f64) * (var / k as f64).sqrt();
    Some((mean - half, mean + half))
}

/// Wilson score interval of a proportion `hits / n`, as fractions. `None` when `n` is 0.
pub fn proportion_ci(hits: u64, n: u64, confidence: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let p = hits as f64 / n_f;
    let z = normal_quantile(0.5 + confidence / 2.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let p_low = 0.02425;
    if p < p_low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - p_low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// Inverse of Student's t CDF with `df` degrees of freedom (Cornish–Fisher expansion around the
/// normal quantile; within 0.5 % of the exact value for df ≥ 5 at the levels used here).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    let z = normal_quantile(p);
    let z3 = z.powi(3);
    let z5 = z.powi(5);
    let z7 = z.powi(7);
    let z9 = z.powi(9);
    z + (z3 + z) / (4.0 * df)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df.powi(2))
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * df.powi(3))
        + (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / (92160.0 * df.powi(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_numpys_linear_interpolation() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(2.5));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        // numpy.percentile([1,2,3,4], 99) == 3.97
        assert!((percentile(&v, 99.0).unwrap() - 3.97).abs() < 1e-12);
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn quantile_functions_match_tables() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
        assert!((t_quantile(0.975, 9.0) - 2.262157).abs() < 0.01);
        assert!((t_quantile(0.975, 19.0) - 2.093024).abs() < 0.005);
    }

    #[test]
    fn percentile_ci_brackets_the_estimate() {
        let v: Vec<f64> = (0..1000).map(f64::from).collect();
        let (lo, hi) = percentile_ci(&v, 99.0, 0.95).unwrap();
        let p = percentile(&v, 99.0).unwrap();
        assert!(lo < p && p < hi, "{lo} {p} {hi}");
    }
}
