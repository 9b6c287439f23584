//! A tiny seedable PRNG (SplitMix64) and a stateless mixer, so every random choice in the
//! simulation is a pure function of the seed and never depends on the `rand` crate's versioning.

/// Mix a 64-bit value into a well-distributed one (SplitMix64's finaliser).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stateless draw for `(seed, stream, index)`: the same triple always gives the same value.
/// `stream` separates independent uses of one seed (faults, routing, speeds).
pub fn draw(seed: u64, stream: u64, index: u64) -> u64 {
    mix64(mix64(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_add(index))
}

/// A uniform `f64` in `[0, 1)` from 64 random bits.
pub fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Streams of [`draw`], named so two uses of one seed never collide.
pub mod stream {
    /// Per-worker step-time jitter.
    pub const JITTER: u64 = 1;
    /// Per-worker speed factor drawn once per run.
    pub const SPEED: u64 = 2;
    /// Random routing.
    pub const ROUTE: u64 = 3;
    /// Fault decisions per request.
    pub const FAULT: u64 = 4;
    /// Open-loop Poisson gaps.
    pub const ARRIVAL: u64 = 5;
    /// Output words per request.
    pub const WORDS: u64 = 6;
}

/// SplitMix64: small, fast, statistically fine for simulation noise.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `(seed, stream, index)`.
    pub fn new(seed: u64, stream: u64, index: u64) -> Self {
        Rng(draw(seed, stream, index))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// A uniform `f64` in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        unit(self.next_u64())
    }

    /// A standard normal draw (Box–Muller; one value per call, simplicity over speed).
    pub fn next_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1], so ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// An exponential draw with the given mean.
    pub fn next_exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.next_f64()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let mut a = Rng::new(7, stream::JITTER, 0);
        let mut b = Rng::new(7, stream::JITTER, 0);
        let mut c = Rng::new(7, stream::SPEED, 0);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut r = Rng::new(1, 0, 0);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| r.next_normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }
}
