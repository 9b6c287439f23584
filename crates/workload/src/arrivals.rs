//! Open-loop arrival times: absolute offsets from the run's start, so a scheduler that sleeps
//! until each deadline never accumulates drift.

use crate::rng::SplitMix64;
use crate::WorkloadError;
use infergate_model::Arrivals;

const PURPOSE_POISSON: &str = "arrivals.poisson";
const NANOS_PER_SECOND: f64 = 1e9;

/// Highest request rate accepted (requests per second). Above it the gaps round to 0 ns.
pub const MAX_REQUEST_RATE: f64 = 1e9;

/// Checks an open-loop request rate: finite and in (0, [`MAX_REQUEST_RATE`]].
pub fn validate_request_rate(rate_per_s: f64) -> Result<(), WorkloadError> {
    if rate_per_s.is_finite() && rate_per_s > 0.0 && rate_per_s <= MAX_REQUEST_RATE {
        Ok(())
    } else {
        Err(WorkloadError::InvalidSpec {
            field: "request_rate",
            flag: "--request-rate",
            expected: format!("a number of requests per second in (0, {MAX_REQUEST_RATE:e}]"),
            value: rate_per_s.to_string(),
        })
    }
}

/// Absolute send offsets in nanoseconds from t0, one per request, starting with 0.
///
/// * `Constant`: request `k` at `round(k · 1e9 / rate)` — computed from `k`, not summed, so the
///   spacing never drifts.
/// * `Poisson`: exponential gaps with mean `1/rate`, drawn from the child stream
///   `(seed, "arrivals.poisson", 0)`; the running time is kept in f64 seconds and rounded per
///   arrival, so rounding does not accumulate either.
///
/// The sequence is endless (take as many as there are requests). With a rate that
/// [`validate_request_rate`] rejects it is empty — validate first.
pub fn arrival_offsets(
    rate_per_s: f64,
    arrivals: Arrivals,
    seed: u64,
) -> impl Iterator<Item = u64> {
    let valid = validate_request_rate(rate_per_s).is_ok();
    let mut rng = SplitMix64::derive(seed, PURPOSE_POISSON, 0);
    let mut k: u64 = 0;
    let mut t_s: f64 = 0.0;
    std::iter::from_fn(move || {
        if !valid {
            return None;
        }
        let secs = match arrivals {
            Arrivals::Constant => k as f64 / rate_per_s,
            Arrivals::Poisson => {
                let now = t_s;
                t_s += rng.standard_exponential() / rate_per_s;
                now
            }
        };
        k = k.saturating_add(1);
        // `as` saturates: an offset past u64::MAX ns (585 years) stays at u64::MAX.
        Some((secs * NANOS_PER_SECOND).round() as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_arrivals_are_evenly_spaced() {
        let offs: Vec<u64> = arrival_offsets(4.0, Arrivals::Constant, 1)
            .take(5)
            .collect();
        assert_eq!(
            offs,
            [0, 250_000_000, 500_000_000, 750_000_000, 1_000_000_000]
        );
        // A rate that does not divide 1e9: each offset rounds on its own, no drift.
        let o: Vec<u64> = arrival_offsets(3.0, Arrivals::Constant, 1)
            .take(100_001)
            .collect();
        assert_eq!(o[1], 333_333_333);
        assert_eq!(o[2], 666_666_667);
        assert_eq!(o[100_000], 33_333_333_333_333);
    }

    #[test]
    fn poisson_gaps_have_mean_one_over_rate_and_depend_only_on_the_seed() {
        let rate = 250.0;
        let n = 100_000;
        let offs: Vec<u64> = arrival_offsets(rate, Arrivals::Poisson, 100)
            .take(n + 1)
            .collect();
        assert_eq!(offs[0], 0);
        assert!(offs.windows(2).all(|w| w[0] <= w[1]));
        let mean_gap_s = offs[n] as f64 / n as f64 / 1e9;
        // Standard error of the mean gap is (1/rate)/sqrt(n) ≈ 0.32% of it; allow 1.5%.
        assert!(
            (mean_gap_s * rate - 1.0).abs() < 0.015,
            "mean gap {mean_gap_s}"
        );
        // Exponential: the gaps' standard deviation equals their mean.
        let gaps: Vec<f64> = offs
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 1e9)
            .collect();
        let var = gaps.iter().map(|g| (g - mean_gap_s).powi(2)).sum::<f64>() / n as f64;
        assert!((var.sqrt() * rate - 1.0).abs() < 0.03, "sd {}", var.sqrt());

        let again: Vec<u64> = arrival_offsets(rate, Arrivals::Poisson, 100)
            .take(n + 1)
            .collect();
        assert_eq!(offs, again);
        let other: Vec<u64> = arrival_offsets(rate, Arrivals::Poisson, 101)
            .take(10)
            .collect();
        assert_ne!(offs[..10], other[..]);
    }

    #[test]
    fn invalid_rates_are_rejected_and_yield_nothing() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e9] {
            let err = validate_request_rate(bad).unwrap_err().to_string();
            assert!(err.contains("--request-rate"), "{err}");
            assert_eq!(arrival_offsets(bad, Arrivals::Constant, 0).count(), 0);
        }
    }
}
