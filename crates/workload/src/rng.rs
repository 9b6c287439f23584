//! The crate's own pseudo-random numbers: SplitMix64 plus a stable way to derive independent
//! child streams. Owned here (not `rand`) so that a dependency bump can never change a prompt,
//! a length, an arrival time or a request-stream digest.

/// SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, one add and a bijective mix per draw.
/// Statistically strong enough for lengths, offsets and arrival gaps, and trivially seekable by
/// deriving a fresh stream per (seed, purpose, index).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function: a bijective avalanche mix of one word.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, 64-bit: a stable hash of a purpose label (std's hasher is randomised per process).
fn fnv1a64(label: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

impl SplitMix64 {
    /// A stream seeded with exactly `state`.
    pub(crate) fn from_state(state: u64) -> Self {
        SplitMix64 { state }
    }

    /// The child stream for `(seed, purpose, index)`. Children are independent of each other and
    /// of the order in which they are created, so request `i` can be planned without planning
    /// `0..i` first (like AIPerf's per-purpose child generators, but random-access):
    /// `state = mix64(mix64(seed + fnv1a64(purpose)) + index)`.
    pub(crate) fn derive(seed: u64, purpose: &str, index: u64) -> Self {
        let base = mix64(seed.wrapping_add(fnv1a64(purpose)));
        SplitMix64::from_state(mix64(base.wrapping_add(index)))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [0, n) by multiply-high (bias below 2^-64 · n; `n == 0` gives 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Standard normal by Box–Muller (one of the pair; the other is discarded so every draw uses
    /// exactly two uniforms).
    pub(crate) fn standard_normal(&mut self) -> f64 {
        let u1 = self.next_f64();
        let u2 = self.next_f64();
        // 1 - u1 is in (0, 1], so the logarithm is finite.
        let r = (-2.0 * (1.0 - u1).ln()).sqrt();
        r * (std::f64::consts::TAU * u2).cos()
    }

    /// Exponential with mean 1 (inverse CDF; finite because 1 - u is in (0, 1]).
    pub(crate) fn standard_exponential(&mut self) -> f64 {
        -(1.0 - self.next_f64()).ln()
    }
}

/// `round(Normal(mean, stddev))` clipped to `1..=max` — AIPerf's
/// `sample_positive_normal_integer`, with an upper clip so a huge stddev cannot ask for an
/// absurd length. `stddev == 0` returns `mean` without drawing.
pub(crate) fn positive_normal_integer(
    rng: &mut SplitMix64,
    mean: u32,
    stddev: f64,
    max: u32,
) -> u32 {
    if stddev == 0.0 {
        return mean.clamp(1, max);
    }
    let x = (f64::from(mean) + stddev * rng.standard_normal()).round();
    if x.is_nan() || x < 1.0 {
        1
    } else if x >= f64::from(max) {
        max
    } else {
        x as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // First outputs of the reference SplitMix64 seeded with 1234567 (Vigna's splitmix64.c).
        let mut r = SplitMix64::from_state(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
    }

    #[test]
    fn derived_streams_differ_by_purpose_and_index() {
        let a = SplitMix64::derive(100, "x", 0).next_u64();
        let b = SplitMix64::derive(100, "y", 0).next_u64();
        let c = SplitMix64::derive(100, "x", 1).next_u64();
        let a2 = SplitMix64::derive(100, "x", 0).next_u64();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, a2);
    }

    #[test]
    fn normal_integers_have_the_requested_moments() {
        let n = 50_000u64;
        let (mut sum, mut sq) = (0.0, 0.0);
        for i in 0..n {
            let mut r = SplitMix64::derive(7, "t", i);
            let v = f64::from(positive_normal_integer(&mut r, 1000, 50.0, u32::MAX));
            sum += v;
            sq += v * v;
        }
        let mean = sum / n as f64;
        let sd = (sq / n as f64 - mean * mean).sqrt();
        assert!((mean - 1000.0).abs() < 1.5, "mean {mean}");
        assert!((sd - 50.0).abs() < 1.5, "sd {sd}");
    }

    #[test]
    fn normal_integers_are_clipped_to_at_least_one() {
        for i in 0..1000 {
            let mut r = SplitMix64::derive(1, "t", i);
            assert!(positive_normal_integer(&mut r, 1, 100.0, 10) >= 1);
        }
    }
}
