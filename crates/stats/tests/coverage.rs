//! Interval coverage checked by simulation: nominal 95 % must cover the truth 93–97 % of the
//! time over ≥ 1000 seeded draws (issue 6 acceptance).

use infergate_stats::confidence::{batch_means_ci, quantile_ci};
use infergate_stats::TimeBins;

/// SplitMix64: small, seeded, good enough for Monte Carlo here.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform().ln()
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

const DRAWS: usize = 2000;

fn assert_nominal(covered: usize, what: &str) {
    let rate = covered as f64 / DRAWS as f64;
    eprintln!("{what}: coverage {:.2} %", rate * 100.0);
    assert!(
        (0.93..=0.97).contains(&rate),
        "{what}: nominal 95 % interval covered the truth {:.1} % of {DRAWS} draws",
        rate * 100.0
    );
}

#[test]
fn percentile_intervals_cover_exponential_quantiles() {
    let n = 500;
    let mut rng = Rng(0x5eed_0001);
    for p in [50.0, 90.0, 99.0] {
        let truth = -(1.0 - p / 100.0f64).ln(); // quantile of Exp(1)
        let mut covered = 0;
        let mut exact = 0.0;
        for _ in 0..DRAWS {
            let mut x: Vec<f64> = (0..n).map(|_| rng.exponential(1.0)).collect();
            x.sort_unstable_by(f64::total_cmp);
            let ci = quantile_ci(&x, p, 0.95).unwrap();
            assert!(ci.coverage >= 0.95 && ci.coverage < 0.97, "p{p}: {ci:?}");
            exact = ci.coverage;
            let lo_ok = ci.lower.is_none_or(|l| l <= truth);
            let hi_ok = ci.upper.is_none_or(|u| truth <= u);
            if lo_ok && hi_ok {
                covered += 1;
            }
        }
        let what = format!("p{p} of Exp(1), n = {n} (exact coverage of the ranks {exact:.4})");
        assert_nominal(covered, &what);
    }
}

#[test]
fn batch_means_interval_covers_a_poisson_token_rate() {
    // Tokens arrive as a Poisson process at 50/s for 10 s; 20 slices.
    let (rate, window_ns) = (50.0, 10_000_000_000u64);
    let mut rng = Rng(0x5eed_0002);
    let mut covered = 0;
    for _ in 0..DRAWS {
        let mut t = 0.0f64;
        let mut bins = TimeBins::new();
        loop {
            t += rng.exponential(1e9 / rate);
            if t >= window_ns as f64 {
                break;
            }
            bins.add(t as u64, 1.0);
        }
        let slices = bins.slice_rates(0, window_ns, 20);
        let ci = batch_means_ci(&slices, 0.95).unwrap();
        if ci.lower <= rate && rate <= ci.upper {
            covered += 1;
        }
    }
    assert_nominal(covered, "Poisson token rate, 20 slices");
}

#[test]
fn batch_means_interval_covers_the_mean_of_a_correlated_stationary_series() {
    // Throughput per 10 ms tick as AR(1) around 1000 tok/s (φ = 0.5, stationary start);
    // 20 batches of 100 ticks (1 s slices).
    let (mu, phi, sigma) = (1000.0, 0.5, 100.0);
    let stationary_sd = sigma / (1.0f64 - phi * phi).sqrt();
    let mut rng = Rng(0x5eed_0003);
    let mut covered = 0;
    for _ in 0..DRAWS {
        let mut x = mu + stationary_sd * rng.normal();
        let mut batches = Vec::with_capacity(20);
        for _ in 0..20 {
            let mut sum = 0.0;
            for _ in 0..100 {
                x = mu + phi * (x - mu) + sigma * rng.normal();
                sum += x;
            }
            batches.push(sum / 100.0);
        }
        let ci = batch_means_ci(&batches, 0.95).unwrap();
        if ci.lower <= mu && mu <= ci.upper {
            covered += 1;
        }
    }
    assert_nominal(covered, "AR(1) throughput series, 20 batches");
}
